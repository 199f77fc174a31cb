"""Data parallel over 4 host devices equals the 1-device run (same global batch)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r"""
import dataclasses, json
import jax, numpy as np
from experiments import config as config_lib, data, models, run, sweep
from experiments.training import lanes, train as train_lib
from experiments.workflows import sweep as sweep_engine
from experiments.workflows import run as run_engine
import optax

assert len(jax.devices()) == 4, jax.devices()
config = config_lib.load(None, ["dataset.limit_train=512", "model.hidden_sizes=[32]",
                                "train.epochs=3", "train.batch_size=64", "train.progress=false"])
dataset = data.load(config.dataset)
results = {}
for devices in (1, 4):
  c = dataclasses.replace(config, train=dataclasses.replace(config.train, devices=devices))
  results[devices] = run_engine.train_and_evaluate(c, dataset, progress=False)

# One step, sharded against unsharded, on the same batch.
tx = optax.sgd(0.1, 0.9)
model = models.create(config.model, dataset.input_shape, 10, 0)
graphdef, state = train_lib.init_state(model, tx)
x, y = dataset.train_x[:64], dataset.train_y[:64]
key = train_lib.dropout_key(0)
plain, plain_metrics = jax.jit(train_lib.make_train_step(graphdef, tx, "dual_process"))(
    state, x, y, key)
mesh = train_lib.data_mesh(np.array(jax.devices()))
sharded_step = jax.jit(train_lib.make_train_step(graphdef, tx, "dual_process",
                                                 train_lib.batch_sharded(mesh)))
replicated = jax.device_put(state, train_lib.replicated(mesh))
sharded, sharded_metrics = sharded_step(replicated, x, y, key)
step_diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(sharded.params)))

# The sweep splits cells, not batches, over the devices.
overrides = ["dataset.limit_train=256", "model.hidden_sizes=[16]", "train.epochs=2",
             "train.batch_size=32", "sweep.learning_rates.num=3", "sweep.momenta=[0.0,0.9]",
             "sweep.seeds=[0]"]
sweeps = {}
for devices in (1, 4):
  c = config_lib.load("configs/sweep_digits.yaml", overrides + [f"train.devices={devices}"])
  sweeps[devices] = [dict(r, cell=list(r["cell"]))
                     for r in lanes.train_cells(c, data.load(c.dataset), sweep_engine.all_cells(c))]
print(json.dumps({"one": results[1], "four": results[4], "step_diff": step_diff,
                  "loss_diff": abs(float(plain_metrics["loss"]) - float(sharded_metrics["loss"])),
                  "sweep_one": sweeps[1], "sweep_four": sweeps[4]}))
"""


@pytest.fixture(scope="module")
def result():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu")
  completed = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
  assert completed.returncode == 0, completed.stderr[-3000:]
  return json.loads(completed.stdout.strip().splitlines()[-1])


def test_four_host_devices_match_one(result):
  one, four = result["one"], result["four"]
  assert one["num_devices"] == 1 and four["num_devices"] == 4
  assert one["steps"] == four["steps"]  # the global batch means the same thing
  assert one["learning_rate"] == four["learning_rate"]
  assert result["step_diff"] < 1e-5 and result["loss_diff"] < 1e-5
  # Reductions split over devices round differently; three epochs stay within noise.
  assert abs(one["test_accuracy"] - four["test_accuracy"]) <= 0.02
  assert abs(one["test_loss"] - four["test_loss"]) <= 0.02



def test_sweep_cells_split_over_four_host_devices_match_one(result):
  one, four = result["sweep_one"], result["sweep_four"]
  assert len(one) == len(four) == 11  # 3 x 2 grid + 5 named pairs, one seed
  assert {r["device"] for r in one} == {0}
  # 11 cells padded to 12 lanes, 3 per device: device 3 holds two real cells.
  assert sorted(r["device"] for r in four) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
  for a, b in zip(one, four, strict=True):
    assert a["cell"] == b["cell"] and a["diverged"] == b["diverged"]
    if not a["diverged"]:
      assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 1e-6
      assert abs(a["final_loss"] - b["final_loss"]) <= 1e-4 * (1 + abs(a["final_loss"]))
