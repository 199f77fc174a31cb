"""An MNIST MLP epoch of the toolkit against a minimal scanned epoch, and a run's peak memory.

A: the toolkit's epoch (``experiments.training.train``): the dual-process loss with its
   entropy/divergence decomposition, per-step metrics and the finiteness
   check, one jitted ``lax.scan`` over a seeded shuffle of device-resident data.
B: the minimal epoch written the same way: one jitted ``lax.scan`` of a plain
   cross-entropy Flax + optax step (the same model, optimizer and batches), no
   metrics.
Both are MLP [256, 128] on 60,000 examples, 468 steps of 128. Target:
A / B <= 1.2 (the toolkit's metrics and decomposition cost at most 20 %).
Then a whole 10-epoch ``experiments.run`` of ``configs/mnist_mlp.yaml`` in a
subprocess, whose ``summary.json`` records its peak RSS; target < 2 GiB.

The data is the real MNIST from ``--data`` (default: the toolkit's data folder,
``$DUALPROCESS_DATA/mnist``, where present); without it, 60,000 random 28x28 images
stand in (the timing does not depend on pixel values).
Run: python -m benchmarks.epoch_overhead --json
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import dualprocess
from benchmarks import timing
from experiments import config as config_lib
from experiments import data, models
from experiments.data import download
from experiments.training import train as train_lib

# The real MNIST where the toolkit's data folder holds it ($DUALPROCESS_DATA/mnist); None:
# absent (a benchmark never downloads).
DEFAULT_MNIST = download.cached("mnist")


def mnist_or_stand_in(path, num_train: int):
  """(x, y, source): the real MNIST when its files are there, else random images."""
  if path is not None and pathlib.Path(path).is_dir():
    dataset = data.load(config_lib.DatasetConfig(name="mnist", path=str(path)))
    return dataset.train_x[:num_train], dataset.train_y[:num_train], f"mnist ({path})"
  rng = np.random.default_rng(0)
  x = rng.random((num_train, 28, 28, 1), dtype=np.float32)
  return x, rng.integers(0, 10, num_train).astype(np.int32), "random stand-in"


def toolkit_epoch(config, x, y):
  tx = dualprocess.dual_process()
  model = models.create(config.model, x.shape[1:], 10, 0)
  graphdef, state = train_lib.init_state(model, tx)
  epoch = train_lib.make_epoch(train_lib.make_train_step(graphdef, tx, "dual_process"),
                               len(y), config.train.batch_size)
  return jax.jit(epoch), state


def minimal_epoch(config, x, y):
  tx = dualprocess.dual_process()
  model = models.create(config.model, x.shape[1:], 10, 0)
  graphdef, params = nnx.split(model, nnx.Param)
  batch = config.train.batch_size
  steps = len(y) // batch

  def epoch(carry, train_x, train_y, key):
    order = jax.random.permutation(key, len(train_y))[:steps * batch].reshape(steps, batch)

    def step(carry, indices):
      params, opt_state = carry

      def loss_fn(params):
        logits = nnx.merge(graphdef, params)(train_x[indices])
        return optax.softmax_cross_entropy_with_integer_labels(logits,
                                                               train_y[indices]).mean()
      grads = jax.grad(loss_fn)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), None

    return jax.lax.scan(step, carry, order)[0]

  return jax.jit(epoch), (params, tx.init(params))


def mnist_overrides(mnist_path) -> list[str]:
  """configs/mnist_mlp.yaml on the MNIST files when they are there, else on the
  same model's shipped 5,000-digit subset (machines without MNIST)."""
  if mnist_path is not None and pathlib.Path(mnist_path).is_dir():
    return [f"dataset.path={mnist_path}"]
  return ["dataset.name=mnist5k", "dataset.path=null"]


def run_peak_rss(mnist_path, epochs: int) -> dict:
  """A whole experiments.run in its own process; its summary's peak RSS and times."""
  return timing.timed_run("configs/mnist_mlp.yaml",
                          [f"train.epochs={epochs}", *mnist_overrides(mnist_path)])


def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  parser.add_argument("--data", default=DEFAULT_MNIST and str(DEFAULT_MNIST),
                      help="MNIST folder (default: $DUALPROCESS_DATA/mnist where present)")
  parser.add_argument("--skip-run", action="store_true",
                      help="time the epochs only (benchmarks.all times the runs itself)")
  args = parser.parse_args(argv)
  num_train, run_epochs = (1280, 1) if args.smoke else (60_000, 10)
  if args.smoke:
    args.data = None  # the stand-in and the shipped subset: seconds, not minutes
  config = config_lib.load("configs/mnist_mlp.yaml", ["dataset.path=/unused"])
  x, y, source = mnist_or_stand_in(args.data, num_train)
  train_x, train_y = jnp.asarray(x), jnp.asarray(y)
  key = jax.random.key(0)
  ours, ours_state = toolkit_epoch(config, x, y)
  minimal, minimal_state = minimal_epoch(config, x, y)
  indices, dropout_key = jnp.arange(len(y)), train_lib.dropout_key(0)
  result = timing.paired(lambda: ours(ours_state, train_x, train_y, key, indices, dropout_key),
                         (),
                         lambda: minimal(minimal_state, train_x, train_y, key), (),
                         repeats=timing.repeats(args, full=9, quick=5))
  result.update(steps_per_epoch=len(y) // config.train.batch_size, data=source,
                target="ratio <= 1.2; run peak RSS < 2048 MiB")
  if not args.skip_run:
    result["run"] = run_peak_rss(args.data, run_epochs)
  timing.report("epoch_overhead", result, args.json)
  return result


if __name__ == "__main__":
  main()
