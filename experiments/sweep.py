"""Learning-rate x momentum landscapes: ``python -m experiments.sweep [CONFIG] [--out DIR]``.

Every cell (learning rate, momentum, seed) is trained by one compiled program:
the per-cell train states are stacked and the very epoch function of
``train.py`` is ``jax.vmap``-ped over them, with the hyperparameters carried
in the optimizer state by ``optax.inject_hyperparams``. Cells are independent
lanes of the same computation, so a diverging cell turns its own lane
non-finite and no other. Writes ``sweep.json`` and ``landscape.png``; each
finished chunk is kept in ``chunks/`` as it ends, so after a signal (SIGTERM,
SIGINT; the sweep stops once the chunk in flight is done) a rerun with the
same ``--out`` goes on from there.
"""

from __future__ import annotations

import collections
import math
import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import dualprocess
from experiments import cli, data, models, outputs, plots, stopping
from experiments import train as train_lib
from experiments.config import ConfigError, ExperimentConfig
from experiments.devices import (
  gather,
  place,
  select_devices,
)


class Cell(NamedTuple):
  learning_rate: float
  momentum: float
  seed: int


def reference_points() -> dict:
  """The pairs every landscape marks: each named set of dualprocess.hyperparameters."""
  return {name: tuple(dualprocess.hyperparameters(name))
          for name in dualprocess.constants.NAMES}


def grid(config: ExperimentConfig):
  sweep = config.sweep
  lrs = np.geomspace(sweep.learning_rates.min, sweep.learning_rates.max,
                     sweep.learning_rates.num).tolist()
  return lrs, list(sweep.momenta)


def all_cells(config: ExperimentConfig) -> list[Cell]:
  lrs, momenta = grid(config)
  pairs = [(lr, m) for m in momenta for lr in lrs]
  # A reference pair already on the grid is trained once, not twice.
  pairs += [pair for pair in reference_points().values() if pair not in pairs]
  return [Cell(lr, m, seed) for lr, m in pairs for seed in config.sweep.seeds]


def injected_optimizer() -> optax.GradientTransformation:
  """dual_process with both constants as state, so each cell carries its own."""
  return optax.inject_hyperparams(dualprocess.dual_process)(learning_rate=1.0, momentum=0.0)


def train_cells(config: ExperimentConfig, dataset: data.Dataset, cells: list[Cell],
                chunk_size=None, store=None, stop=stopping.NEVER) -> list[dict]:
  """Trains ``cells`` in vmapped chunks; returns one result per cell, in order.

  With ``train.devices`` above one, each chunk's cells are split over the
  devices (the data is replicated): cells never talk to each other, so the
  devices never do either.
  """
  devices = select_devices(config, split_batch=False)
  mesh = jax.sharding.Mesh(np.array(devices), ("cells",))
  by_cell = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("cells"))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  tx = injected_optimizer()
  seeds = sorted({c.seed for c in cells})
  params_by_seed = {}
  for seed in seeds:
    model = models.create(config.model, dataset.input_shape, dataset.num_classes, seed)
    graphdef, state = train_lib.init_state(model, tx)
    params_by_seed[seed] = state.params
  num_train = len(dataset.train_y)
  epoch = train_lib.make_epoch(train_lib.make_train_step(graphdef, tx, config.loss.name),
                               num_train, config.train.batch_size)
  evaluate = train_lib.make_evaluate(graphdef, config.loss.name)

  def init_cell(params, learning_rate, momentum):
    opt_state = tx.init(params)
    hyperparams = dict(opt_state.hyperparams, learning_rate=learning_rate, momentum=momentum)
    return train_lib.TrainState(params, opt_state._replace(hyperparams=hyperparams),
                                jnp.zeros((), jnp.int32))

  @jax.jit
  def run_chunk(params, learning_rates, momenta, seeds, train_x, train_y, test_x, test_y):
    states = jax.vmap(init_cell)(params, learning_rates, momenta)

    def one_epoch(states, epoch_index):
      keys = jax.vmap(lambda s: train_lib.epoch_key(s, epoch_index))(seeds)
      states, metrics = jax.vmap(epoch, in_axes=(0, None, None, 0))(states, train_x, train_y,
                                                                    keys)
      return states, (metrics["loss"][:, -1], jnp.all(jnp.isfinite(metrics["loss"]), axis=1))

    states, (final_losses, finite) = jax.lax.scan(one_epoch, states,
                                                  jnp.arange(config.train.epochs))
    tests = jax.vmap(evaluate, in_axes=(0, None, None))(states.params, test_x, test_y)
    params_finite = jax.vmap(train_lib.all_finite)(states.params)
    return tests, final_losses[-1], jnp.all(finite, axis=0) & params_finite

  arrays = place([dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y],
                 replicated)

  def train_chunk(chunk: list[Cell], size: int) -> list[dict]:
    padded = chunk + [chunk[-1]] * (size - len(chunk))  # one shape, one compilation
    params = jax.tree.map(lambda *leaves: np.stack(leaves),
                          *[params_by_seed[c.seed] for c in padded])
    lanes = place((params, np.asarray([c.learning_rate for c in padded], np.float32),
                   np.asarray([c.momentum for c in padded], np.float32),
                   np.asarray([c.seed for c in padded])), by_cell)
    outputs_on_devices = run_chunk(*lanes, *arrays)
    device_of_lane = lane_devices(outputs_on_devices[2])
    tests, final_loss, finite = gather(outputs_on_devices)
    results = []
    for i, cell in enumerate(chunk):
      diverged = not bool(finite[i])
      results.append({"cell": cell, "diverged": diverged, "device": device_of_lane[i],
                      "test_accuracy": None if diverged else float(tests["test_accuracy"][i]),
                      "test_loss": None if diverged else float(tests["test_loss"][i]),
                      "final_loss": None if diverged else float(final_loss[i]),
                      "chunk_size": size})
    return results

  return in_chunks(cells, chunk_size or len(cells), len(devices), train_chunk, store, stop)


def in_chunks(cells: list[Cell], size: int, lanes_per_step: int,
              train_chunk: Callable[[list[Cell], int], list[dict]],
              store=None, stop=stopping.NEVER) -> list[dict]:
  """Trains ``cells`` ``size`` at a time, halving ``size`` when a chunk runs out of memory.

  ``size`` is kept a multiple of ``lanes_per_step`` (the devices) so every
  device gets whole lanes. A chunk that fails for lack of device memory leaves
  nothing behind and is retried, smaller, from the same cell. With ``store``
  (an ``outputs.ResultStore``) each finished chunk is kept as it ends and a
  rerun takes it from there; ``stop`` is asked after each chunk.
  """
  def whole_lanes(n: int) -> int:
    return max(lanes_per_step, -(-n // lanes_per_step) * lanes_per_step)

  size = whole_lanes(size)
  results = []
  while len(results) < len(cells):
    start = len(results)
    kept = store.get(f"chunk-{start:06d}") if store is not None else None
    if kept is not None:
      results.extend(dict(r, cell=Cell(*r["cell"])) for r in kept)
      continue
    chunk = cells[start:start + size]
    try:
      trained = train_chunk(chunk, size)
      if store is not None:
        store.put(f"chunk-{start:06d}", trained)
      results.extend(trained)
      if len(results) < len(cells) and stop.requested():
        raise stop.stop(f"after {len(results)} of {len(cells)} cells: finished chunks kept in "
                        f"{store.folder if store else 'memory'}; run the same command again "
                        "to resume")
    except jax.errors.JaxRuntimeError as error:
      if "RESOURCE_EXHAUSTED" not in str(error):
        raise
      if size == lanes_per_step:
        raise ConfigError(
            f"config key 'sweep.chunk_size': out of device memory even with {size} cell(s) "
            f"per chunk ({jax.devices()[0].device_kind}); use a smaller model, "
            "train.batch_size or dataset") from None
      size = whole_lanes(size // 2)
  return results


def lane_devices(per_lane: jax.Array) -> list[int]:
  """The id of the device that computed each lane of a per-lane output."""
  owner = [None] * per_lane.shape[0]
  for device, (lanes,) in per_lane.sharding.devices_indices_map(per_lane.shape).items():
    for lane in range(*lanes.indices(per_lane.shape[0])):
      owner[lane] = device.id
  return owner


def aggregate(results: list[dict]) -> list[dict]:
  """Groups per-seed results into one entry per (learning rate, momentum)."""
  groups = {}
  for r in results:
    groups.setdefault((r["cell"].learning_rate, r["cell"].momentum), []).append(r)
  entries = []
  for (lr, m), runs in groups.items():
    ok = [r for r in runs if not r["diverged"]]
    entries.append({
        "learning_rate": lr, "momentum": m,
        "test_accuracy": [r["test_accuracy"] for r in runs],
        "mean_test_accuracy": statistics.fmean(r["test_accuracy"] for r in ok) if ok else None,
        "final_loss": statistics.fmean(r["final_loss"] for r in ok) if ok else None,
        "diverged": len(ok) < len(runs), "diverged_seeds": len(runs) - len(ok)})
  return entries


def sweep(config: ExperimentConfig, dataset: data.Dataset, out, stop=stopping.NEVER) -> dict:
  tic = time.perf_counter()
  cells = all_cells(config)
  results = train_cells(config, dataset, cells, config.sweep.chunk_size,
                        outputs.ResultStore(out / "chunks"), stop)
  entries = aggregate(results)
  lrs, momenta = grid(config)
  by_pair = {(e["learning_rate"], e["momentum"]): e for e in entries}
  references = {name: by_pair[pair] for name, pair in reference_points().items()}
  grid_entries = [by_pair[(lr, m)] for m in momenta for lr in lrs]
  best = max((e for e in grid_entries if e["mean_test_accuracy"] is not None),
             key=lambda e: e["mean_test_accuracy"], default=None)
  result = {"cells": grid_entries, "references": references, "best_grid_cell": best,
            "num_cells_trained": len(cells), "epochs": config.train.epochs,
            "num_devices": len(select_devices(config, split_batch=False)),
            "cells_per_device": dict(sorted(collections.Counter(
                str(r["device"]) for r in results).items())),
            "chunk_sizes": sorted({r["chunk_size"] for r in results}),
            "wall_time_s": time.perf_counter() - tic, "versions": outputs.versions()}
  outputs.write_json(out / "sweep.json", result)
  accuracy = [[by_pair[(lr, m)]["mean_test_accuracy"] for lr in lrs] for m in momenta]
  accuracy = [[math.nan if a is None else a for a in row] for row in accuracy]
  marks = [(f"{name.replace('_', ' ')} ({references[name]['mean_test_accuracy'] or 0:.3f})",
            pair, marker)
           for (name, pair), marker in zip(reference_points().items(), "*PsD", strict=True)]
  plots.landscape(lrs, momenta, accuracy, out / "landscape.png", marks,
                  title=f"{dataset.name} {config.model.name}, {config.train.epochs} epochs, "
                  f"{len(config.sweep.seeds)} seeds")
  return result


def main(argv=None) -> int:
  args = cli.parser_for("python -m experiments.sweep", __doc__).parse_args(argv)
  with cli.exit_codes(), stopping.GracefulStop() as stop:
    config, dataset, out = cli.start(args, "sweep", "sweep", "configs/sweep_digits.yaml",
                                    stop=stop, kept=("chunks",))
    result = sweep(config, dataset, out, stop)
    best = result["best_grid_cell"]
    for name, entry in result["references"].items():
      print(f"{name}: lr={entry['learning_rate']:.4g} m={entry['momentum']:.4g} "
            f"mean test accuracy={entry['mean_test_accuracy']}")
    if best:
      print(f"best grid cell: lr={best['learning_rate']:.4g} m={best['momentum']:.4g} "
            f"mean test accuracy={best['mean_test_accuracy']:.4f}")
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
