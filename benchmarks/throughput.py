"""Training examples per second: experiments.run against a minimal Flax + optax loop.

Same model (the default digits MLP), batch, optimizer and data; the minimal
loop is the textbook one: a pure jitted train step called once per batch from
Python (the runner instead scans an epoch of steps inside one jitted call).
Runs alternate; we report the median of paired ratios. Target: >= 0.95.
Run: python -m benchmarks.throughput --json
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import dualprocess
from benchmarks import timing
from experiments import config as config_lib
from experiments import data, models
from experiments.workflows import run as run_engine


def minimal_loop_examples_per_s(config, dataset) -> float:
  """The textbook loop: a pure jitted step on (params, opt_state), called per batch."""
  model = models.create(config.model, dataset.input_shape, dataset.num_classes, 0)
  graphdef, params = nnx.split(model, nnx.Param)
  tx = dualprocess.dual_process()
  opt_state = tx.init(params)

  @jax.jit
  def train_step(params, opt_state, x, y):
    def loss_fn(params):
      return dualprocess.dual_process_loss(nnx.merge(graphdef, params)(x), y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  x_all, y_all = jnp.asarray(dataset.train_x), jnp.asarray(dataset.train_y)
  batch = config.train.batch_size
  steps = len(y_all) // batch
  rng = np.random.default_rng(0)
  jax.block_until_ready(train_step(params, opt_state, x_all[:batch], y_all[:batch]))  # compile
  tic = time.perf_counter()
  for _ in range(config.train.epochs):
    order = rng.permutation(len(y_all))[:steps * batch].reshape(steps, batch)
    for indices in order:
      params, opt_state, loss = train_step(params, opt_state, x_all[indices], y_all[indices])
  jax.block_until_ready(loss)
  return config.train.epochs * steps * batch / (time.perf_counter() - tic)


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  epochs, repeats = (1, 1) if args.smoke else (10, timing.repeats(args, full=7, quick=3))
  config = config_lib.load(None, [f"train.epochs={epochs}", "train.progress=false"])
  dataset = data.load(config.dataset)
  ratios, ours, minimal = [], [], []
  for i in range(repeats):
    if i % 2:
      b = minimal_loop_examples_per_s(config, dataset)
      a = run_engine.train_and_evaluate(config, dataset, progress=False)["examples_per_s"]
    else:
      a = run_engine.train_and_evaluate(config, dataset, progress=False)["examples_per_s"]
      b = minimal_loop_examples_per_s(config, dataset)
    ours.append(a)
    minimal.append(b)
    ratios.append(a / b)
  result = {"ratio": statistics.median(ratios),
            "runner_examples_per_s": statistics.median(ours),
            "minimal_loop_examples_per_s": statistics.median(minimal),
            "repeats": repeats, "epochs": epochs, "batch_size": config.train.batch_size,
            "target": "ratio >= 0.95"}
  timing.report("throughput", result, args.json)
  return result


if __name__ == "__main__":
  main()
