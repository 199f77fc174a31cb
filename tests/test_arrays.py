"""The user's own arrays (``dataset.name: arrays`` or ``module:function``): every format,
shape and option, every bad input as one ConfigError line, and the real command."""

import json
import pathlib
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import data, models, run
from experiments.config import ConfigError, DatasetConfig, ModelConfig, build
from experiments.data import arrays, splits

ROOT = pathlib.Path(__file__).resolve().parent.parent


def make(shape=(8, 8, 3), dtype=np.uint8, n_train=60, n_test=20, classes=3, seed=0,
         validation=False) -> dict:
  """Arrays of every class in turn (so each split holds all of them)."""
  rng = np.random.default_rng(seed)

  def x(n):
    if dtype == np.uint8:
      return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    return rng.normal(size=(n, *shape)).astype(dtype)

  out = {"x_train": x(n_train), "y_train": np.arange(n_train) % classes,
         "x_test": x(n_test), "y_test": np.arange(n_test) % classes}
  if validation:
    out.update(x_val=x(10), y_val=np.arange(10) % classes)
  return out


def write_npz(tmp_path, content, name="data.npz") -> str:
  path = tmp_path / name
  np.savez(path, **content)
  return str(path)


def write_folder(tmp_path, content, name="folder") -> str:
  folder = tmp_path / name
  folder.mkdir()
  for key, value in content.items():
    np.save(folder / f"{key}.npy", value)
  return str(folder)


def load(path=None, name="arrays", **options) -> data.Dataset:
  return data.load(DatasetConfig(name=name, path=path, **options))


def callable_module(tmp_path, monkeypatch, body: str, module="user_arrays_mod") -> str:
  """A module ``module`` on sys.path whose source is ``body``."""
  (tmp_path / f"{module}.py").write_text("import numpy as np\n" + body)
  monkeypatch.syspath_prepend(str(tmp_path))
  monkeypatch.delitem(sys.modules, module, raising=False)
  return module


# Formats ------------------------------------------------------------------------------------

def test_npz_uint8_images_with_3_channels_are_scaled_to_unit(tmp_path):
  content = make(shape=(8, 8, 3))
  d = load(write_npz(tmp_path, content))
  assert d.train_x.dtype == np.float32 and d.input_shape == (8, 8, 3)
  assert d.train_y.dtype == np.int32 and d.num_classes == 3 and d.validation is None
  np.testing.assert_array_equal(d.train_x, content["x_train"].astype(np.float32) / 255.0)
  np.testing.assert_array_equal(d.test_y, content["y_test"])
  assert d.name == "arrays (data.npz)"


def test_symmetric_scale_maps_uint8_to_minus_one_one(tmp_path):
  content = make()
  content["x_train"][0, 0, 0] = [0, 255, 128]
  d = load(write_npz(tmp_path, content), scale="symmetric")
  np.testing.assert_allclose(d.train_x, content["x_train"] / 127.5 - 1.0, atol=1e-6)
  assert d.train_x[0, 0, 0, 0] == -1.0 and d.train_x[0, 0, 0, 1] == 1.0
  assert d.train_x.min() >= -1.0 and d.test_x.max() <= 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_float_features_are_kept_as_they_are(tmp_path, dtype):
  content = make(shape=(5,), dtype=dtype)
  content["x_train"][0] = [300.0, -7.5, 0.0, 1e3, 2.0]  # not scaled, not clipped
  d = load(write_npz(tmp_path, content))
  assert d.train_x.dtype == np.float32
  np.testing.assert_array_equal(d.train_x, content["x_train"].astype(np.float32))
  np.testing.assert_array_equal(d.test_x, content["x_test"].astype(np.float32))


def test_npy_folder_is_memory_mapped(tmp_path, monkeypatch):
  monkeypatch.setattr(arrays, "CHUNK_BYTES", 64)  # many chunks in the checks and conversion
  content = make(shape=(6, 2), dtype=np.uint8, validation=True)
  folder = write_folder(tmp_path, content)
  raw, _ = arrays.read_path(pathlib.Path(folder))
  assert all(isinstance(raw[k], np.memmap) for k in raw)
  d = load(folder)
  np.testing.assert_array_equal(d.train_x, content["x_train"].astype(np.float32) / 255.0)
  np.testing.assert_array_equal(d.validation[0], content["x_val"].astype(np.float32) / 255.0)
  assert d.name == "arrays (folder)"


def test_float32_npy_folder_is_not_copied(tmp_path):
  content = make(shape=(4,), dtype=np.float32)
  d = load(write_folder(tmp_path, content), limit_train=30)
  assert isinstance(d.train_x, np.memmap) and isinstance(d.test_x, np.memmap)
  np.testing.assert_array_equal(d.train_x, content["x_train"][:30])


def test_callable_returns_the_arrays(tmp_path, monkeypatch):
  module = callable_module(tmp_path, monkeypatch, (
      "def build():\n"
      "  y = np.arange(40) % 4\n"
      "  return {'x_train': np.ones((40, 3, 2), np.float32), 'y_train': y,\n"
      "          'x_test': np.zeros((8, 3, 2), np.float32), 'y_test': y[:8],\n"
      "          'x_val': np.ones((4, 3, 2), np.float32), 'y_val': [0, 1, 2, 3]}\n"))
  d = load(name=f"{module}:build")
  assert d.input_shape == (3, 2) and d.num_classes == 4 and d.name == f"{module}:build"
  assert d.validation[0].shape == (4, 3, 2) and list(d.validation[1]) == [0, 1, 2, 3]
  assert d.validation[1].dtype == np.int32


@pytest.mark.parametrize("shape", [(8, 8, 3), (16, 2), (7,)], ids=["image", "sequence",
                                                                   "tabular"])
def test_any_example_shape(tmp_path, shape):
  d = load(write_npz(tmp_path, make(shape=shape)))
  assert d.input_shape == shape and d.test_x.shape == (20, *shape)


def test_validation_split_is_scaled_but_never_subset_or_noised(tmp_path):
  content = make(validation=True)
  d = load(write_npz(tmp_path, content), limit_train=30, train_fraction=0.5, label_noise=0.5,
           scale="symmetric")
  np.testing.assert_allclose(d.validation[0], content["x_val"] / 127.5 - 1.0, atol=1e-6)
  np.testing.assert_array_equal(d.validation[1], content["y_val"])
  assert len(d.train_y) == 15


# Classes --------------------------------------------------------------------------------------

def test_num_classes_is_inferred_over_all_splits(tmp_path):
  content = make(classes=5)
  content["y_test"][:] = 0
  assert load(write_npz(tmp_path, content)).num_classes == 5


def test_num_classes_can_be_set(tmp_path):
  path = write_npz(tmp_path, make(classes=4))
  assert load(path, num_classes=4).num_classes == 4
  with pytest.raises(ConfigError, match=r"has no example of class 4 \(classes 0..5\)"):
    load(path, num_classes=6)


# Options --------------------------------------------------------------------------------------

def test_limit_train_keeps_the_first_examples(tmp_path):
  content = make()
  d = load(write_npz(tmp_path, content), limit_train=12)
  np.testing.assert_array_equal(d.train_y, content["y_train"][:12])
  np.testing.assert_array_equal(d.train_x, content["x_train"][:12] / np.float32(255.0))
  assert len(d.test_y) == 20


def test_limit_train_that_drops_a_class_is_an_error(tmp_path):
  with pytest.raises(ConfigError, match="config key 'dataset.limit_train': the first 2 of "
                     "y_train has no example of class 2"):
    load(write_npz(tmp_path, make()), limit_train=2)


def test_train_fraction_is_stratified_and_seeded(tmp_path):
  path = write_npz(tmp_path, make(n_train=90))
  d = load(path, train_fraction=0.5)
  assert np.bincount(d.train_y).tolist() == [15, 15, 15]
  again, other = load(path, train_fraction=0.5), load(path, train_fraction=0.5, split_seed=1)
  np.testing.assert_array_equal(d.train_x, again.train_x)
  assert not np.array_equal(d.train_x, other.train_x)


def test_folds_split_the_training_arrays(tmp_path):
  config = build(DatasetConfig, {"name": "arrays", "path": write_npz(tmp_path, make()),
                                 "folds": 3, "fold": 1}, "dataset")
  d = data.load(config)
  split = splits.for_run(d.train_y, config)
  assert len(split.validation) == 20 and len(split.train) == 40
  assert sorted(np.bincount(d.train_y[split.validation])) == [6, 7, 7]


def test_label_noise_flips_training_labels_only(tmp_path):
  content = make(n_train=100)
  d = load(write_npz(tmp_path, content), label_noise=0.2)
  assert (d.train_y != content["y_train"]).sum() == 20
  np.testing.assert_array_equal(d.test_y, content["y_test"])
  assert d.train_y.min() >= 0 and d.train_y.max() < 3


# Bad input: one ConfigError line naming the file or key ---------------------------------------

def edit(**changes):
  def apply(content):
    content.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
      del content[key]
    return content
  return apply


def nan_at(key, index, value=np.nan):
  def apply(content):
    content[key][index] = value
    return content
  return apply


BAD = [
    ("missing key", edit(y_test=None), "missing {what} 'y_test"),
    ("x_val alone", edit(x_val=np.zeros((4, 5), np.float32)), "'x_val{suffix}' without "
     "'y_val{suffix}'"),
    ("length mismatch", edit(y_train=np.arange(59) % 3), "has 59 labels for the 60 examples "
     "of x_train; the counts must agree"),
    ("negative label", edit(y_test=np.r_[-1, np.arange(19) % 3]), "y_test has label -1; "
     "labels must be integers 0..C-1"),
    ("float labels", edit(y_train=(np.arange(60) % 3).astype(np.float32)),
     "y_train has dtype float32; labels must be integers"),
    ("bool labels", edit(y_test=np.arange(20) % 2 == 0), "y_test has dtype bool"),
    ("2-d labels", edit(y_test=(np.arange(20) % 3)[:, None]), "y_test has shape (20, 1); "
     "expected one integer label per example"),
    ("nan", nan_at("x_train", (41, 2)), "x_train holds NaN or infinite values (as float32), "
     "first in example 41; features must be finite"),
    ("inf", nan_at("x_test", (3, 0), np.inf), "x_test holds NaN or infinite values"),
    ("float64 beyond float32", nan_at("x_test", (5, 0), 1e300), "first in example 5"),
    ("empty split", edit(x_test=np.zeros((0, 5), np.float32), y_test=np.zeros(0, np.int64)),
     "x_test has no examples; every split needs some"),
    ("class absent from training", edit(y_train=np.arange(60) % 3 * (np.arange(60) % 3 != 1)),
     "y_train has no example of class 1 (classes 0..2); every class needs training examples"),
    ("test class unseen in training", edit(y_test=np.arange(20) % 4),
     "y_train has no example of class 3"),
    ("shapes differ", edit(x_test=np.zeros((20, 6), np.float32)), "x_test has examples of "
     "shape (6,), x_train of (5,); every split needs the training examples' shape"),
    ("1-d features", edit(x_train=np.zeros(60, np.float32)), "x_train has shape (60,); "
     "expected [N, *example_shape]"),
    ("integer features", edit(x_train=np.zeros((60, 5), np.int64)), "x_train has dtype int64; "
     "features must be uint8 (scaled by dataset.scale) or floating point"),
    ("uint8 and float mixed", edit(x_test=np.zeros((20, 5), np.uint8)), "x_test has dtype "
     "uint8, x_train float64; all splits need uint8 or all floating point"),
    ("one class", edit(y_train=np.zeros(60, int), y_test=np.zeros(20, int)), "y_train has one "
     "class only"),
]


@pytest.mark.parametrize("fmt", ["npz", "folder", "callable"])
@pytest.mark.parametrize("name, change, message", BAD, ids=[b[0] for b in BAD])
def test_bad_arrays_are_one_line_config_errors(tmp_path, monkeypatch, fmt, name, change,
                                               message):
  monkeypatch.setattr(arrays, "CHUNK_BYTES", 200)  # the finite check reads in chunks
  content = change(make(shape=(5,), dtype=np.float64))
  what, suffix = {"npz": ("array", ""), "folder": ("file", ".npy"),
                  "callable": ("key", "")}[fmt]
  message = message.format(what=what, suffix=suffix)
  if fmt == "npz":
    config = dict(path=write_npz(tmp_path, content))
    where = f"dataset file '{config['path']}'"
  elif fmt == "folder":
    config = dict(path=write_folder(tmp_path, content))
    where = f"dataset file '{config['path']}"
  else:
    np.save(tmp_path / "content.npy", np.array([content], dtype=object), allow_pickle=True)
    module = callable_module(tmp_path, monkeypatch, (
        f"def build():\n  return np.load({str(tmp_path / 'content.npy')!r}, "
        "allow_pickle=True)[0]\n"), module=f"bad_{fmt}_{abs(hash(name))}")
    config = dict(name=f"{module}:build")
    where = f"config key 'dataset.name': '{module}:build'"
  with pytest.raises(ConfigError) as error:
    load(**config)
  text = str(error.value)
  assert len(text.splitlines()) == 1
  assert text.startswith(where), text
  assert message in text, text


def test_label_beyond_num_classes(tmp_path):
  path = write_npz(tmp_path, make(classes=4))
  with pytest.raises(ConfigError, match=r"y_train has label 3, outside 0\.\.2 \(config key "
                     r"'dataset.num_classes' = 3\)"):
    load(path, num_classes=3)


def test_symmetric_scale_on_floats_is_an_error(tmp_path):
  with pytest.raises(ConfigError, match=r"^config key 'dataset.scale': 'symmetric' scales "
                     r"uint8 pixels, but the features of '.*data.npz' are float32"):
    load(write_npz(tmp_path, make(shape=(4,), dtype=np.float32)), scale="symmetric")


def test_files_that_are_not_arrays(tmp_path, monkeypatch):
  text = tmp_path / "data.npz"
  text.write_text("x_train,y_train\n1,2\n")
  with pytest.raises(ConfigError, match=r"dataset file '.*data.npz': not an .npz \(a zip of "
                     r".npy arrays\); expected an .npz with x_train"):
    load(str(text))
  single = tmp_path / "x.npy"
  np.save(single, np.zeros(3))
  with pytest.raises(ConfigError, match="dataset file '.*x.npy': a single .npy holds one array"):
    load(str(single))
  empty = tmp_path / "empty"
  empty.mkdir()
  with pytest.raises(ConfigError, match="dataset file '.*empty': a folder without x_train.npy"):
    load(str(empty))
  with pytest.raises(ConfigError, match="dataset file '.*absent': not found; expected an .npz"):
    load(str(tmp_path / "absent"))
  monkeypatch.chdir(tmp_path)  # a relative path: the message says where it was looked for
  with pytest.raises(ConfigError) as error:
    load("data/absent.npz")
  assert str(error.value) == (
      f"dataset file 'data/absent.npz': not found (a relative dataset.path is read from the "
      f"working directory, {tmp_path}); expected {arrays.EXPECTED}")
  folder = write_folder(tmp_path, make(shape=(3,), dtype=np.float32))
  (pathlib.Path(folder) / "y_test.npy").write_text("not numpy")
  with pytest.raises(ConfigError, match=r"dataset file '.*y_test.npy': not a readable .npy"):
    load(folder)


@pytest.mark.parametrize("body, target, message", [
    ("", "nowhere_such_module:build", "cannot import module 'nowhere_such_module'"),
    ("import nowhere_such_dependency\n", "{module}:build", "cannot import module '{module}' "
     "(ModuleNotFoundError: No module named 'nowhere_such_dependency')"),
    ("", "{module}:absent", "'{module}' has no attribute 'absent'"),
    ("build = 3\n", "{module}:build", "'build' is not callable"),
    ("def build():\n  return [1, 2]\n", "{module}:build", "returned list; expected a dict of "
     "x_train, y_train, x_test, y_test"),
    ("def build():\n  return {'x_train': 1}\n", "{module}:build", "missing key 'y_train'"),
], ids=["no module", "import fails inside", "no attribute", "not callable", "not a dict",
        "missing key"])
def test_bad_callables(tmp_path, monkeypatch, body, target, message):
  module = callable_module(tmp_path, monkeypatch, body, module=f"cb_{abs(hash(message))}")
  target, message = target.format(module=module), message.format(module=module)
  with pytest.raises(ConfigError) as error:
    load(name=target)
  assert str(error.value).startswith(f"config key 'dataset.name': '{target}': ")
  assert message in str(error.value) and len(str(error.value).splitlines()) == 1


# Config -------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    ({"name": "cifar100"}, "config key 'dataset.name': unknown value 'cifar100'; allowed: digits, "
     "mnist1d, mnist, fashion_mnist, mnist5k, cifar10, arrays, text, or "
     "'package.module:function'"),
    ({"name": "arrays"}, "config key 'dataset.path': required for dataset 'arrays'"),
    ({"name": "my-pkg:build"}, "config key 'dataset.name': 'my-pkg:build' is not "
     "'package.module:function'"),
    ({"name": "pkg.mod:"}, "config key 'dataset.name': 'pkg.mod:' is not"),
    ({"name": "pkg:build", "path": "/x"}, "config key 'dataset.path': only allowed for datasets "
     "'mnist', 'fashion_mnist', 'cifar10', 'arrays' and 'text', not 'pkg:build'"),
    ({"name": "digits", "num_classes": 10}, "config key 'dataset.num_classes': only for dataset "
     "'arrays'"),
    ({"name": "arrays", "path": "/x", "num_classes": 1}, "config key 'dataset.num_classes': "
     "must be an integer >= 2"),
    ({"name": 3}, "config key 'dataset.name': expected a string"),
])
def test_config_refuses(values, message):
  with pytest.raises(ConfigError) as error:
    build(DatasetConfig, values, "dataset")
  assert str(error.value).startswith(message) and len(str(error.value).splitlines()) == 1


def test_config_accepts_arrays_and_callables():
  assert build(DatasetConfig, {"name": "arrays", "path": "/d.npz", "num_classes": 3},
               "dataset").num_classes == 3
  assert build(DatasetConfig, {"name": "pkg.sub:make.data"}, "dataset").is_own_arrays()
  assert not build(DatasetConfig, {"name": "mnist5k"}, "dataset").is_own_arrays()


# Models on any shape ------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", [("mlp", (7,)), ("logistic", (7,)), ("cnn", (8, 8, 3)),
                                         ("cnn", (12, 2)), ("mlp", (6, 6, 5))])
def test_models_take_any_channel_count_and_tabular_rows(name, shape):
  model = models.create(ModelConfig(name=name, hidden_sizes=(8,), channels=(4, 4)), shape, 3, 0)
  assert model(jnp.zeros((2, *shape))).shape == (2, 3)


def test_cnn_on_tabular_rows_is_a_config_error():
  with pytest.raises(ConfigError, match=r"config key 'model.name': 'cnn' convolves \[L, C\] or "
                     r"\[H, W, C\] examples; these have shape \(7,\)"):
    models.create(ModelConfig(name="cnn"), (7,), 3, 0)


# The real command ---------------------------------------------------------------------------

def command(path, tmp_path, *extra):
  argv = [sys.executable, "-m", "experiments.run", "--set", "dataset.name=arrays",
          "--set", f"dataset.path={path}", "--set", "train.epochs=1", *extra,
          "--out", str(tmp_path / "out")]
  return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                        check=False)


@pytest.mark.parametrize("change, key, message", [
    (edit(y_test=None), "data.npz", "missing array 'y_test'"),
    (edit(y_train=np.arange(59) % 3), "data.npz", "has 59 labels for the 60 examples"),
    (nan_at("x_train", (4, 1)), "data.npz", "x_train holds NaN or infinite values"),
    (edit(y_test=np.r_[7, np.arange(19) % 3]), "data.npz", "y_test has label 7, outside 0..2"),
], ids=["missing key", "length mismatch", "nan", "label beyond num_classes"])
def test_bad_arrays_exit_2_with_one_line(tmp_path, change, key, message):
  path = write_npz(tmp_path, change(make(shape=(5,), dtype=np.float32)))
  extra = ["--set", "dataset.num_classes=3"] if "outside" in message else []
  result = command(path, tmp_path, *extra)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr
  assert lines[0].startswith(f"error: dataset file '{path}'") and message in lines[0]
  assert key in lines[0] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, change, message", BAD, ids=[b[0] for b in BAD])
def test_every_bad_array_is_one_line_and_exit_2_from_the_run_command(tmp_path, capsys, name,
                                                                     change, message):
  """Every bad input of BAD through the command's own entry point (argv to exit code)."""
  path = write_npz(tmp_path, change(make(shape=(5,), dtype=np.float64)))
  out = tmp_path / "out"
  with pytest.raises(SystemExit) as exit_info:
    run.main(["--set", "dataset.name=arrays", "--set", f"dataset.path={path}",
              "--out", str(out)])
  lines = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == 2 and len(lines) == 1, lines
  assert lines[0].startswith(f"error: dataset file '{path}'"), lines[0]
  assert message.format(what="array", suffix="") in lines[0] and not out.exists()


@pytest.mark.parametrize("write, message", [
    (lambda path: path.write_text("x_train,y_train\n1,0\n"), "not an .npz"),
    (lambda path: np.save(path, np.zeros(3)), "a single .npy holds one array"),
], ids=["a csv file", "one .npy"])
def test_a_file_that_is_not_an_npz_is_one_line_and_exit_2_from_the_run_command(
    tmp_path, capsys, write, message):
  path = tmp_path / "data.npy"
  write(path)
  with pytest.raises(SystemExit) as exit_info:
    run.main(["--set", "dataset.name=arrays", "--set", f"dataset.path={path}",
              "--out", str(tmp_path / "out")])
  lines = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == 2 and len(lines) == 1, lines
  assert lines[0].startswith(f"error: dataset file '{path}': {message}"), lines[0]
  assert not (tmp_path / "out").exists()


def test_a_tabular_npz_trains_an_mlp_from_the_command_line(tmp_path):
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(3, 6)) * 3.0
  y_train, y_test = np.arange(96) % 3, np.arange(30) % 3
  content = {"x_train": (centers[y_train] + rng.normal(size=(96, 6))).astype(np.float32),
             "y_train": y_train,
             "x_test": (centers[y_test] + rng.normal(size=(30, 6))).astype(np.float32),
             "y_test": y_test}
  path = write_npz(tmp_path, content)
  result = command(path, tmp_path, "--set", "model.name=mlp", "--set", "model.hidden_sizes=[8]",
                   "--set", "train.batch_size=16")
  assert result.returncode == 0, result.stderr[-2000:]
  summary = json.loads((tmp_path / "out" / "summary.json").read_text())
  assert summary["steps"] == 6 and 0.0 <= summary["test_accuracy"] <= 1.0
  assert summary["dataset"] == "arrays (data.npz)"
