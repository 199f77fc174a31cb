"""The user's own model (``model.name: package.module:factory``): a small CNN with
BatchNorm and Dropout, written as a Flax NNX tutorial writes it, trains, resumes bit
for bit, sweeps and runs seeds side by side with its own batch statistics per lane, and
splits its batch over devices; every bad model is one line and exit 2 from the command."""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from experiments import config as config_lib
from experiments import data, loading, models, run
from experiments.config import ConfigError
from experiments.models import variables
from experiments.training import lanes, multiseed, optimizers
from experiments.training import train as train_lib
from experiments.workflows import run as run_engine

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULE = "own_models_under_test"

USER_MODULE = '''
import jax
import jax.numpy as jnp
from flax import nnx


class SmallCNN(nnx.Module):
  """As a Flax NNX tutorial writes it: layers take rngs, Dropout and BatchNorm are
  switched by model.train() / model.eval()."""

  def __init__(self, input_shape, num_classes, width, dropout, *, rngs):
    self.conv = nnx.Conv(input_shape[-1], width, kernel_size=(3, 3), rngs=rngs)
    self.bn = nnx.BatchNorm(width, momentum=0.9, rngs=rngs)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    features = width * (input_shape[0] // 2) * (input_shape[1] // 2)
    self.out = nnx.Linear(features, num_classes, rngs=rngs)

  def __call__(self, x):
    x = nnx.relu(self.bn(self.conv(x)))
    x = nnx.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
    return self.out(self.dropout(x.reshape(x.shape[0], -1)))


def small_cnn(input_shape, num_classes, rngs, width=8, dropout=0.25):
  return SmallCNN(input_shape, num_classes, width, dropout, rngs=rngs)


def no_rngs(input_shape, num_classes):
  return None


def not_a_module(input_shape, num_classes, rngs):
  return {"kernel": jnp.zeros((3, 3))}


class Flat(nnx.Module):
  def __init__(self, features, outputs, rngs):
    self.out = nnx.Linear(features, outputs, rngs=rngs)

  def __call__(self, x):
    return self.out(x.reshape(x.shape[0], -1))


def wrong_logits(input_shape, num_classes, rngs):
  return Flat(int(jnp.prod(jnp.array(input_shape))), num_classes + 1, rngs)
'''

# 320 digits, batches of 32: 10 steps per epoch.
TINY = ["dataset.limit_train=320", "train.batch_size=32", "train.progress=false",
        f"model.name={MODULE}:small_cnn", "model.kwargs={width: 4}",
        "optimizer.name=sgd", "optimizer.learning_rate=0.05", "optimizer.momentum=0.9"]


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory):
  """The user's module in a folder of its own, on sys.path while this module's tests run."""
  folder = tmp_path_factory.mktemp("user_code")
  (folder / f"{MODULE}.py").write_text(USER_MODULE)
  (folder / "broken_user_module.py").write_text("import a_package_that_is_not_there\n")
  sys.path.insert(0, str(folder))
  yield folder
  sys.path.remove(str(folder))
  sys.modules.pop(MODULE, None)


def load(*overrides):
  return loading.load_config(None, [*TINY, *overrides])


@pytest.fixture(scope="module")
def tiny(user_folder):
  config = load("train.epochs=2", "sweep.learning_rates=[0.05]", "sweep.momenta=[0.9]",
                "sweep.seeds=[0]")
  return config, data.load(config.dataset)


def test_its_batch_statistics_train_and_evaluation_uses_them_in_eval_mode(tiny):
  config, dataset = tiny
  model = models.create(config.model, dataset.input_shape, dataset.num_classes, 0)
  tx = optimizers.create(config.optimizer, 100)
  graph, state = train_lib.init_state(model, tx)
  means = lambda s: np.asarray(s["bn"]["mean"][...])
  assert not graph.takes_dropout_key and np.all(means(state.model_state) == 0.0)
  assert set(jax.tree.leaves(jax.tree.map(lambda a: str(a.dtype), state.params))) == \
      {"float32"}
  epoch = jax.jit(train_lib.make_epoch(train_lib.make_train_step(graph, tx, "dual_process"),
                                       320, 32))
  key = train_lib.dropout_key(0)
  trained, metrics = epoch(state, dataset.train_x, dataset.train_y, train_lib.epoch_key(0, 0),
                           jnp.arange(320), key)
  assert np.all(np.isfinite(metrics["loss"])) and int(trained.step) == 10
  assert np.abs(means(trained.model_state)).max() > 1e-3  # running averages moved
  # Evaluation is eval mode with the trained running averages, as the user's own
  # model.eval() gives it, and not the initial ones.
  evaluate = jax.jit(train_lib.make_evaluate(graph, "dual_process", chunk_size=64))
  x, y = dataset.test_x[:200], dataset.test_y[:200]
  got = evaluate(trained.params, x, y, model_state=trained.model_state)
  user = nnx.merge(graph.graphdef, trained.params, graph.rng_state, graph.intermediates,
                   trained.model_state)
  user.eval()
  logits = user(x)
  assert float(got["test_accuracy"]) == pytest.approx(float((logits.argmax(-1) == y).mean()))
  initial = evaluate(trained.params, x, y, model_state=state.model_state)
  assert float(initial["test_loss"]) != pytest.approx(float(got["test_loss"]), abs=1e-4)
  # Train mode: batch statistics and dropout, its masks from the key, distinct per key.
  call = lambda k: variables.apply(graph, trained.params, trained.model_state, x, k)[0]
  a, b = call(jax.random.key(1)), call(jax.random.key(2))
  np.testing.assert_array_equal(a, call(jax.random.key(1)))
  assert not np.allclose(a, b) and not np.allclose(a, call(None))


def test_the_run_learns_and_a_resume_mid_epoch_is_bit_exact(user_folder, tmp_path):
  argv = [a for o in TINY + ["train.epochs=3", "train.checkpoint_every=4",
                             "train.keep_checkpoints=20"] for a in ("--set", o)]
  out = tmp_path / "run"
  assert run.main(argv + ["--out", str(out)]) == 0
  expected = json.loads((out / "summary.json").read_text())
  metrics = (out / "metrics.jsonl").read_text()
  assert expected["model"] == f"{MODULE}:small_cnn" and expected["steps"] == 30
  assert expected["test_accuracy"] > 0.3  # ten classes: chance is 0.1
  for entry in (out / "checkpoints").iterdir():  # killed just after step 16
    if entry.name.isdigit() and int(entry.name) > 16:
      shutil.rmtree(entry)
  (out / "summary.json").unlink()
  assert run.main(argv + ["--out", str(out)]) == 0
  resumed = json.loads((out / "summary.json").read_text())
  assert resumed["resumed_from_step"] == 16
  assert (out / "metrics.jsonl").read_text() == metrics
  for key in ("test_accuracy", "test_loss", "test_entropy"):
    assert resumed[key] == expected[key], key


def test_sweep_cells_and_seeds_each_carry_their_own_statistics(tiny):
  config, dataset = tiny
  cells = [lanes.Cell(0.05, 0.9, 0), lanes.Cell(0.01, 0.5, 1)]
  results = lanes.train_cells(config, dataset, cells)
  seeds = multiseed.train_seeds(config, dataset, [0, 1], eval_every=2)
  plain = {}
  for cell in cells:
    c = dataclasses.replace(
        config, optimizer=dataclasses.replace(config.optimizer, learning_rate=cell.learning_rate,
                                              momentum=cell.momentum),
        train=dataclasses.replace(config.train, seed=cell.seed))
    plain[cell] = run_engine.train_and_evaluate(c, dataset, progress=False)
  for cell, result in zip(cells, results, strict=True):
    assert result["test_accuracy"] == pytest.approx(plain[cell]["test_accuracy"], abs=1e-6)
    assert result["test_loss"] == pytest.approx(plain[cell]["test_loss"], rel=1e-5)
  # The first seed's run is the first cell's (seed 0 at the config's 0.05, 0.9).
  assert seeds[0]["test_accuracy"] == pytest.approx(plain[cells[0]]["test_accuracy"], abs=1e-6)
  assert seeds[0]["test_loss"] == pytest.approx(plain[cells[0]]["test_loss"], rel=1e-5)
  assert seeds[0]["test_loss"] != seeds[1]["test_loss"]


PARALLEL = r"""
import dataclasses, json, sys
import jax, numpy as np
from experiments import config as config_lib, data, models, run
from experiments.training import optimizers, train as train_lib
from experiments.workflows import run as run_engine

assert len(jax.devices()) == 2, jax.devices()
config = config_lib.load(None, sys.argv[1:])
dataset = data.load(config.dataset)
summaries = {}
for devices in (1, 2):
  c = dataclasses.replace(config, train=dataclasses.replace(config.train, devices=devices))
  summaries[devices] = run_engine.train_and_evaluate(c, dataset, progress=False)
# One step, the batch split over both devices against one device: BatchNorm's statistics
# are those of the whole batch either way.
tx = optimizers.create(config.optimizer, 10)
graph, state = train_lib.init_state(
    models.create(config.model, dataset.input_shape, 10, 0), tx)
x, y, key = dataset.train_x[:32], dataset.train_y[:32], train_lib.dropout_key(0)
plain, _ = jax.jit(train_lib.make_train_step(graph, tx, "dual_process"))(state, x, y, key)
mesh = train_lib.data_mesh(np.array(jax.devices()))
step = jax.jit(train_lib.make_train_step(graph, tx, "dual_process", train_lib.batch_sharded(mesh)))
split, _ = step(jax.device_put(state, train_lib.replicated(mesh)), x, y, key)
diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
           for a, b in zip(jax.tree.leaves((plain.params, plain.model_state)),
                           jax.tree.leaves((split.params, split.model_state))))
print(json.dumps({"one": summaries[1], "two": summaries[2], "diff": diff}))
"""


def test_data_parallel_over_two_devices_matches_one(user_folder):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
             JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([str(user_folder), str(ROOT)]))
  completed = subprocess.run([sys.executable, "-c", PARALLEL, *TINY, "train.epochs=1"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert completed.returncode == 0, completed.stderr[-3000:]
  result = json.loads(completed.stdout.strip().splitlines()[-1])
  one, two = result["one"], result["two"]
  assert (one["num_devices"], two["num_devices"]) == (1, 2) and one["steps"] == two["steps"]
  assert result["diff"] < 1e-5
  assert abs(one["test_accuracy"] - two["test_accuracy"]) <= 0.02


def test_config_mistakes_name_the_key(user_folder):
  with pytest.raises(ConfigError, match=r"'model.kwargs': only for a 'package.module:factory'"):
    config_lib.load(None, ["model.kwargs={width: 4}"])
  with pytest.raises(ConfigError, match=r"'model.name': unknown value 'resnet'"):
    config_lib.load(None, ["model.name=resnet"])
  with pytest.raises(ConfigError, match=r"'model.name': 'a-b:c' is not 'package.module"):
    config_lib.load(None, ["model.name=a-b:c"])
  with pytest.raises(ConfigError, match=r"'model.kwargs': 'rngs' is set by the toolkit"):
    load("model.kwargs={rngs: 1}")
  with pytest.raises(ConfigError, match=r"'train.compute_dtype': 'bfloat16' is for the built-in"):
    config = load("train.compute_dtype=bfloat16")
    models.create(config.model, (8, 8, 1), 10, 0, config.train.compute_dtype)


def command(user_folder, tmp_path, *overrides):
  argv = [sys.executable, "-m", "experiments.run", "--set", "train.epochs=1",
          "--set", "dataset.limit_train=64", *[a for o in overrides for a in ("--set", o)],
          "--out", str(tmp_path / "out")]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(user_folder), str(ROOT)]))
  return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                        check=False)


@pytest.mark.parametrize("overrides, message", [
    (["model.name=broken_user_module:anything"],
     "'model.name': 'broken_user_module:anything': cannot import module 'broken_user_module' "
     "(ModuleNotFoundError: No module named 'a_package_that_is_not_there')"),
    ([f"model.name={MODULE}:no_such_factory"],
     "has no attribute 'no_such_factory'"),
    ([f"model.name={MODULE}:no_rngs"],
     "'model.name': 'own_models_under_test:no_rngs': the factory must take the keyword "
     "arguments input_shape, num_classes, rngs"),
    ([f"model.name={MODULE}:small_cnn", "model.kwargs={depth: 3}"],
     "'model.kwargs': small_cnn takes no argument 'depth'"),
    ([f"model.name={MODULE}:not_a_module"],
     "'model.name': 'own_models_under_test:not_a_module' returned dict; expected an "
     "nnx.Module"),
    ([f"model.name={MODULE}:wrong_logits"],
     "gives logits of shape (2, 11) in train mode for a batch of shape (2, 8, 8, 1); "
     "expected [batch, num_classes] = (2, 10)"),
], ids=["does not import", "no such factory", "wrong signature", "unknown kwarg",
        "not a module", "wrong logits"])
def test_a_bad_model_exits_2_with_one_line(user_folder, tmp_path, overrides, message):
  result = command(user_folder, tmp_path, *overrides)
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr[-3000:]
  assert lines[0].startswith("error: config key 'model.") and message in lines[0], lines[0]
  assert not (tmp_path / "out").exists()  # refused before any output folder is made


def test_the_factory_is_called_with_keywords_and_its_kwargs(user_folder):
  source = textwrap.dedent('''
      calls = []
      def factory(*, input_shape, num_classes, rngs, **kwargs):
        from flax import nnx
        calls.append((input_shape, num_classes, kwargs))
        return nnx.Linear(input_shape[0], num_classes, rngs=rngs)
  ''')
  (user_folder / "keyword_factory.py").write_text(source)
  config = config_lib.build(config_lib.ModelConfig, {
      "name": "keyword_factory:factory", "kwargs": {"scale": 2.0, "sizes": [1, 2]}}, "model")
  model = models.create(config, (5,), 3, seed=4)
  module = sys.modules["keyword_factory"]
  assert module.calls == [((5,), 3, {"scale": 2.0, "sizes": [1, 2]})]
  assert model(jnp.ones((7, 5))).shape == (7, 3)
  again = models.create(config, (5,), 3, seed=4)  # the seed makes the parameters
  np.testing.assert_array_equal(model.kernel[...], again.kernel[...])
