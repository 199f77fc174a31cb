"""Learning-rate x momentum landscapes: ``python -m experiments.sweep [CONFIG] [--out DIR]``.

Every cell (learning rate, momentum, seed, fold) is trained by one compiled program:
the per-cell train states are stacked and the very epoch function of
``train.py`` is ``jax.vmap``-ped over them, with the hyperparameters carried
in the optimizer state by ``optax.inject_hyperparams``. Cells are independent
lanes of the same computation, so a diverging cell turns its own lane
non-finite and no other. With ``dataset.folds`` every cell trains once per
fold (``sweep.folds``), each lane on its own training folds, validated on its
own fold and tested on the whole test set. Writes ``sweep.json`` and
``landscape.png``, and with ``sweep.reference`` the claim that this cell is
the best (``experiments/analysis/claim.py``) and ``grid.png``, the author's layout;
each finished chunk is kept in ``chunks/`` as it ends, so after a signal
(SIGTERM, SIGINT; the sweep stops once the chunk in flight is done) a rerun
with the same ``--out`` goes on from there.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import pathlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, Optional

import numpy as np

import dualprocess

from . import cli, data, outputs
from .config import ConfigError, ExperimentConfig
from .data import splits
from .training import stopping

# JAX, Optax, Flax (models, training), SciPy (analysis) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.
if TYPE_CHECKING:
  import jax
  import optax


class Cell(NamedTuple):
  learning_rate: float
  momentum: float
  seed: int
  fold: int = 0
  weight_decay: Optional[float] = None  # None: the config's own (no per-cell decay)


def reference_points() -> dict:
  """The pairs every landscape marks: each named set of dualprocess.hyperparameters."""
  return {name: tuple(dualprocess.hyperparameters(name))
          for name in dualprocess.constants.NAMES}


def grid(config: ExperimentConfig):
  rates = config.sweep.learning_rates
  if isinstance(rates, tuple):
    lrs = list(rates)
  else:
    lrs = np.geomspace(rates.min, rates.max, rates.num).tolist()
  return lrs, list(config.sweep.momenta)


def folds(config: ExperimentConfig) -> list[int]:
  """The folds every cell trains on: ``sweep.folds``, all of them, or none (``[0]``)."""
  if config.dataset.folds is None:
    return [0]
  return list(config.sweep.folds or range(config.dataset.folds))


def all_cells(config: ExperimentConfig) -> list[Cell]:
  lrs, momenta = grid(config)
  pairs = [(lr, m) for m in momenta for lr in lrs]
  # A reference pair already on the grid is trained once, not twice.
  pairs += [pair for pair in reference_points().values() if pair not in pairs]
  return [Cell(lr, m, seed, fold) for lr, m in pairs for fold in folds(config)
          for seed in config.sweep.seeds]


EVALUATION_LANES = 8  # lanes evaluated side by side at the end of a vmapped chunk


def injected_optimizer(config: ExperimentConfig, total_steps: int,
                       weight_decay_per_lane: bool = False,
                       momentum_per_lane: bool = True) -> optax.GradientTransformation:
  """The config's optimizer with its peak learning rate and momentum as state, so each cell
  carries its own, inside the config's pipeline (schedule shape, weight decay, clipping),
  which every cell shares, as is ``nesterov``. ``dual_process`` and ``sgd`` are
  ``dual_process`` (the same heavy-ball update); other optimizers take the cell's learning
  rate and ignore its momentum where they have none. An optax name or a function takes
  the cell's learning rate as ``learning_rate`` and its momentum as the argument
  ``sweep.momentum_argument`` names (e.g. ``b1``); where there is none, a sweep that varies
  momentum is refused in one line (``optimizers.swept_momentum_argument``). Without
  ``momentum_per_lane`` the cells' momenta are ignored and the optimizer keeps its own
  (a search space without a momentum range). With ``weight_decay_per_lane`` the weight
  decay is a third per-cell hyperparameter, applied as the retrained entry applies it
  (``optimizers.chain_for``). Without those keys it is the bare optimizer itself."""
  import optax

  from .training import optimizers
  shape = optimizers.schedule_shape(config.optimizer.schedule, total_steps)
  chosen = config.optimizer
  argument = optimizers.swept_momentum_argument(chosen, config.sweep)
  if chosen.name == "sgd":
    chosen = dataclasses.replace(chosen, name="dual_process")

  def pipeline(learning_rate, momentum, weight_decay=None):
    return optimizers.chain_for(chosen, optimizers.scaled(learning_rate, shape),
                                momentum if momentum_per_lane else None, argument,
                                weight_decay)

  if weight_decay_per_lane:
    return optax.inject_hyperparams(pipeline)(learning_rate=1.0, momentum=0.0,
                                              weight_decay=0.0)
  return optax.inject_hyperparams(pipeline)(learning_rate=1.0, momentum=0.0)


def train_cells(config: ExperimentConfig, dataset: data.Dataset, cells: list[Cell],
                chunk_size=None, store=None, stop=stopping.NEVER, say=None,
                momentum_per_lane: bool = True) -> list[dict]:
  """Trains ``cells`` in vmapped chunks; returns one result per cell, in order. Without
  ``momentum_per_lane`` the cells' momenta are ignored (see :func:`injected_optimizer`).

  With ``train.devices`` above one, each chunk's cells are split over the
  devices (the data is replicated): cells never talk to each other, so the
  devices never do either.
  """
  import jax
  import jax.numpy as jnp

  from . import models
  from .training import train as train_lib
  from .training.devices import gather, place, select_devices
  devices = select_devices(config, split_batch=False)
  mesh = jax.sharding.Mesh(np.array(devices), ("cells",))
  by_cell = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("cells"))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  split_of = {f: splits.for_run(dataset.train_y, config.dataset, f)
              for f in sorted({c.fold for c in cells})}
  num_train = len(next(iter(split_of.values())).train)  # every fold has N // k
  decays = any(c.weight_decay is not None for c in cells)
  if decays and any(c.weight_decay is None for c in cells):
    raise ValueError("train_cells: give every cell a weight_decay, or none")
  tx = injected_optimizer(config, config.train.epochs * train_lib.steps_per_epoch(
      num_train, config.train.batch_size), weight_decay_per_lane=decays,
      momentum_per_lane=momentum_per_lane)
  seeds = sorted({c.seed for c in cells})
  variables_by_seed = {}  # the initial parameters and non-parameter state of each seed
  for seed in seeds:
    model = models.create(config.model, dataset.input_shape, dataset.num_classes, seed,
                          config.train.compute_dtype)
    graph, state = train_lib.init_state(model, tx)
    variables_by_seed[seed] = (state.params, state.model_state)
  vectorized = resolve_lanes(config.sweep.lanes if config.sweep else "auto") == "vmap"
  validated = config.dataset.folds is not None
  epoch = train_lib.make_epoch(train_lib.make_train_step(graph, tx, config.loss.name),
                               num_train, config.train.batch_size)
  evaluate = train_lib.make_evaluate(graph, config.loss.name)

  def init_cell(params, model_state, learning_rate, momentum, weight_decay):
    opt_state = tx.init(params)
    hyperparams = dict(opt_state.hyperparams, learning_rate=learning_rate, momentum=momentum)
    if decays:
      hyperparams["weight_decay"] = weight_decay
    return train_lib.TrainState(params, opt_state._replace(hyperparams=hyperparams),
                                jnp.zeros((), jnp.int32), model_state)

  @jax.jit
  def run_chunk(initial, learning_rates, momenta, weight_decays, seeds, train_indices,
                validation_indices, dropout_keys, train_x, train_y, test_x, test_y):
    states = jax.vmap(init_cell)(*initial, learning_rates, momenta, weight_decays)

    def one_epoch(states, epoch_index):
      keys = jax.vmap(lambda s: train_lib.epoch_key(s, epoch_index))(seeds)
      states, metrics = lanewise(epoch, (0, None, None, 0, 0, 0), vectorized)(
          states, train_x, train_y, keys, train_indices, dropout_keys)
      return states, (metrics["loss"][:, -1], jnp.all(jnp.isfinite(metrics["loss"]), axis=1))

    states, (final_losses, finite) = jax.lax.scan(one_epoch, states,
                                                  jnp.arange(config.train.epochs))

    def evaluate_lane(lane):  # lanes a few at a time: a CNN's evaluation is large
      lane_params, lane_state, validation = lane
      metrics = evaluate(lane_params, test_x, test_y, model_state=lane_state)
      if validated:
        metrics["validation_accuracy"] = evaluate(lane_params, train_x, train_y,
                                                  validation, lane_state)["test_accuracy"]
      return metrics

    tests = jax.lax.map(evaluate_lane, (states.params, states.model_state,
                                        validation_indices),
                        batch_size=min(EVALUATION_LANES, learning_rates.shape[0])
                        if vectorized else None)
    params_finite = jax.vmap(train_lib.all_finite)(states.params)
    return tests, final_losses[-1], jnp.all(finite, axis=0) & params_finite

  arrays = place([dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y],
                 replicated)

  def train_chunk(chunk: list[Cell], size: int) -> list[dict]:
    padded = chunk + [chunk[-1]] * (size - len(chunk))  # one shape, one compilation
    initial = jax.tree.map(lambda *leaves: np.stack(leaves),
                           *[variables_by_seed[c.seed] for c in padded])
    no_validation = np.zeros(1, np.int32)
    lanes = place((initial, np.asarray([c.learning_rate for c in padded], np.float32),
                   np.asarray([c.momentum for c in padded], np.float32),
                   np.asarray([c.weight_decay or 0.0 for c in padded], np.float32),
                   np.asarray([c.seed for c in padded]),
                   np.stack([split_of[c.fold].train for c in padded]),
                   np.stack([split_of[c.fold].validation if validated else no_validation
                             for c in padded]),
                   jax.random.key_data(jnp.stack([train_lib.dropout_key(
                       c.seed, c.fold, c.learning_rate, c.momentum) for c in padded]))),
                  by_cell)
    *lanes, dropout_keys = lanes
    outputs_on_devices = run_chunk(*lanes, jax.random.wrap_key_data(dropout_keys), *arrays)
    device_of_lane = lane_devices(outputs_on_devices[2])
    tests, final_loss, finite = gather(outputs_on_devices)
    results = []
    for i, cell in enumerate(chunk):
      diverged = not bool(finite[i])
      lane = {k: None if diverged else float(v[i]) for k, v in tests.items()}
      results.append({"cell": cell, "diverged": diverged, "device": device_of_lane[i],
                      "test_accuracy": lane["test_accuracy"], "test_loss": lane["test_loss"],
                      "validation_accuracy": lane.get("validation_accuracy"),
                      "final_loss": None if diverged else float(final_loss[i]),
                      "chunk_size": size})
    return results

  return in_chunks(cells, chunk_size or len(cells), len(devices), train_chunk, store, stop, say)


def resolve_lanes(lanes: str) -> str:
  """``vmap`` or ``map``: ``auto`` vmaps on accelerators and maps on the CPU.

  On the CPU, lanes side by side turn a convolution's matmuls into batched
  ones that run slower than the same matmuls one lane at a time (the author's
  CNN: 11.7 against 8.5 ms per lane-step at 4 lanes), and vmapping saves no
  dispatch that one compiled program does not save already.
  """
  if lanes == "auto":
    import jax
    return "map" if jax.default_backend() == "cpu" else "vmap"
  return lanes


def lanewise(fn: Callable, in_axes: tuple, vectorized: bool) -> Callable:
  """``fn`` over the leading axis of the arguments whose ``in_axes`` is 0.

  ``jax.vmap`` when ``vectorized``, else ``jax.lax.map`` over the lanes (one
  after another, inside the same compiled program); the results are the same.
  """
  import jax
  if vectorized:
    return jax.vmap(fn, in_axes=in_axes)

  def mapped(*args):
    lanes = [a for a, axis in zip(args, in_axes, strict=True) if axis == 0]

    def one(lane):
      it = iter(lane)
      return fn(*[next(it) if axis == 0 else a for a, axis in zip(args, in_axes, strict=True)])

    return jax.lax.map(one, lanes)

  return mapped


def in_chunks(cells: list[Cell], size: int, lanes_per_step: int,
              train_chunk: Callable[[list[Cell], int], list[dict]],
              store=None, stop=stopping.NEVER, say=None) -> list[dict]:
  """Trains ``cells`` ``size`` at a time, halving ``size`` when a chunk runs out of memory.

  ``size`` is kept a multiple of ``lanes_per_step`` (the devices) so every
  device gets whole lanes. A chunk that fails for lack of device memory leaves
  nothing behind and is retried, smaller, from the same cell. With ``store``
  (an ``outputs.ResultStore``) each finished chunk is kept as it ends and a
  rerun takes it from there; ``stop`` is asked after each chunk; ``say``, if
  given, gets a progress line after each trained chunk.
  """
  import jax
  tic = time.perf_counter()
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
      if say is not None:
        say(f"{len(results)} of {len(cells)} cells trained "
            f"({time.perf_counter() - tic:.0f} s in this invocation)")
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


def _per_fold(by_fold: dict, key: str) -> list:
  """The mean of ``key`` over each fold's seeds, in fold order; None where one diverged."""
  return [None if any(r["diverged"] for r in runs) else statistics.fmean(r[key] for r in runs)
          for _, runs in sorted(by_fold.items())]


def _spread(by_fold: dict, runs: list[dict], key: str) -> float | None:
  """The ``ddof = 1`` std of ``key`` over the per-fold means (over seeds with one fold)."""
  values = _per_fold(by_fold, key) if len(by_fold) > 1 else [r[key] for r in runs]
  return statistics.stdev(values) if None not in values and len(values) > 1 else None


def aggregate(results: list[dict]) -> list[dict]:
  """Groups per-run results into one entry per (learning rate, momentum).

  ``per_fold_*``: the mean over seeds on each fold, in fold order (None where
  a run of that fold diverged); the std is over those per-fold means (over
  seeds when there is one fold).
  """
  groups = {}
  for r in results:
    groups.setdefault((r["cell"].learning_rate, r["cell"].momentum), []).append(r)
  entries = []
  for (lr, m), runs in groups.items():
    ok = [r for r in runs if not r["diverged"]]
    by_fold = {}
    for r in runs:
      by_fold.setdefault(r["cell"].fold, []).append(r)
    validated = bool(ok) and all(r.get("validation_accuracy") is not None for r in ok)
    entries.append({
        "learning_rate": lr, "momentum": m, "folds": sorted(by_fold),
        "test_accuracy": [r["test_accuracy"] for r in runs],
        "mean_test_accuracy": statistics.fmean(r["test_accuracy"] for r in ok) if ok else None,
        "std_test_accuracy": _spread(by_fold, runs, "test_accuracy"),
        "per_fold_test_accuracy": _per_fold(by_fold, "test_accuracy"),
        "per_fold_validation_accuracy": (_per_fold(by_fold, "validation_accuracy")
                                         if validated else None),
        "mean_validation_accuracy": (statistics.fmean(r["validation_accuracy"] for r in ok)
                                     if validated else None),
        "std_validation_accuracy": (_spread(by_fold, runs, "validation_accuracy")
                                    if validated else None),
        "final_loss": statistics.fmean(r["final_loss"] for r in ok) if ok else None,
        "diverged": len(ok) < len(runs), "diverged_runs": len(runs) - len(ok)})
  return entries


def sweep(config: ExperimentConfig, dataset: data.Dataset, out, stop=stopping.NEVER,
          say=None) -> dict:
  from . import plots
  from .analysis import claim
  from .training import tensorboard_log
  from .training.devices import select_devices
  tic = time.perf_counter()
  cells = all_cells(config)
  store = tensorboard_log.store(out / "chunks", out, "sweep")  # and TensorBoard's, if it can
  results = train_cells(config, dataset, cells, config.sweep.chunk_size, store, stop, say)
  entries = aggregate(results)
  lrs, momenta = grid(config)
  by_pair = {(e["learning_rate"], e["momentum"]): e for e in entries}
  references = {name: by_pair[pair] for name, pair in reference_points().items()}
  grid_entries = [by_pair[(lr, m)] for m in momenta for lr in lrs]
  best = max((e for e in grid_entries if e["mean_test_accuracy"] is not None),
             key=lambda e: e["mean_test_accuracy"], default=None)
  result = {"cells": grid_entries, "references": references, "best_grid_cell": best,
            "num_cells_trained": len(cells), "epochs": config.train.epochs,
            "folds": folds(config) if config.dataset.folds else None,
            "num_folds": config.dataset.folds,
            "num_train": len(splits.for_run(dataset.train_y, config.dataset).train),
            "num_devices": len(select_devices(config, split_batch=False)),
            "cells_per_device": dict(sorted(collections.Counter(
                str(r["device"]) for r in results).items())),
            "chunk_sizes": sorted({r["chunk_size"] for r in results}),
            "wall_time_s": time.perf_counter() - tic, "versions": outputs.versions()}
  if config.sweep.reference is not None:
    result["claim"] = claim.evaluate_claim(grid_entries, config.sweep.reference,
                                           config.sweep.margin)
  outputs.write_json(out / "sweep.json", result)
  accuracy = [[by_pair[(lr, m)]["mean_test_accuracy"] for lr in lrs] for m in momenta]
  accuracy = [[math.nan if a is None else a for a in row] for row in accuracy]
  marks = [(f"{name.replace('_', ' ')} ({references[name]['mean_test_accuracy'] or 0:.3f})",
            pair, marker)
           for (name, pair), marker in zip(reference_points().items(), "*XPsD", strict=True)]
  title = _title(config, dataset.name)
  plots.landscape(lrs, momenta, accuracy, out / "landscape.png", marks, title=title)
  if "claim" in result:
    write_claim(result, lrs, momenta, references, title, out)
  return result


def write_claim(result: dict, lrs, momenta, references: dict, title: str, out) -> None:
  """``grid.png`` and ``grid.md``: the author's layout on validation, with the claim."""
  from . import plots
  from .analysis import claim
  grid_entries = result["cells"]
  by_pair = {(e["learning_rate"], e["momentum"]): e for e in grid_entries}
  accuracy = [[math.nan if by_pair[(lr, m)]["mean_validation_accuracy"] is None
               else by_pair[(lr, m)]["mean_validation_accuracy"] for lr in lrs]
              for m in momenta]
  plots.grid(lrs, momenta, accuracy, out / "grid.png", result["claim"],
             [(c["learning_rate"], c["momentum"]) for c in claim.top(grid_entries, 10)],
             title=title)
  outputs.write_text(out / "grid.md", claim.markdown(lrs, momenta, grid_entries,
                                                     result["claim"], references, title))


def rewrite_claim(out, margin: float | None = None) -> dict:
  """The claim, ``grid.md`` and ``grid.png`` of a finished sweep computed again from its
  ``sweep.json`` with this version's statistics (``--report-only``); nothing is trained.
  ``margin``: the equivalence margin (default: the folder's config's ``sweep.margin``)."""
  if out is None:
    raise ConfigError("--report-only: needs --out, the folder of a finished sweep")
  out = pathlib.Path(out)
  if not (out / "sweep.json").is_file():
    raise ConfigError(f"output folder '{out}': holds no sweep.json; --report-only "
                      "re-writes the claim of a finished sweep")
  from . import config as config_lib
  from .analysis import claim

  config = config_lib.load(out / "config.yaml")
  if config.sweep.reference is None:
    raise ConfigError(f"file '{out / 'config.yaml'}': sets no sweep.reference, so there is "
                      "no claim to compute")
  outputs.lock(out)
  result = outputs.read_json(out / "sweep.json")
  for entry in [*result["cells"], *result["references"].values()]:
    per_fold = entry.get("per_fold_validation_accuracy")
    if per_fold and None not in per_fold and len(per_fold) > 1:
      entry["std_validation_accuracy"] = statistics.stdev(per_fold)
    per_fold = entry.get("per_fold_test_accuracy")
    if per_fold and None not in per_fold and len(per_fold) > 1:
      entry["std_test_accuracy"] = statistics.stdev(per_fold)
  result["claim"] = claim.evaluate_claim(result["cells"], config.sweep.reference,
                                         config.sweep.margin if margin is None else margin)
  outputs.write_json(out / "sweep.json", result)
  lrs, momenta = grid(config)
  write_claim(result, lrs, momenta, result["references"], _title(config, config.dataset.name),
              out)
  return result


def _title(config: ExperimentConfig, dataset_name: str) -> str:
  return (f"{dataset_name} {config.model.name}, {config.train.epochs} epochs, "
          f"{len(config.sweep.seeds)} seed(s)"
          + (f", {len(folds(config))} of {config.dataset.folds} folds"
             if config.dataset.folds else ""))


def main(argv=None) -> int:
  parser = cli.parser_for("python -m experiments.sweep", __doc__)
  parser.add_argument("--report-only", action="store_true",
                      help="compute the claim, grid.md and grid.png of the finished sweep in "
                      "--out again from its sweep.json with this version's statistics; "
                      "trains nothing")
  args = parser.parse_args(argv)
  with cli.exit_codes(), stopping.GracefulStop() as stop:
    if args.report_only:
      rewrite_claim(args.out)
      print(f"claim written to {args.out}")
      return 0
    from . import api

    out = cli.out_folder(args, "sweep")
    result = api.sweep(args.config, args.overrides, out, force=args.force, stop=stop,
                       say=lambda line: print(line, file=sys.stderr, flush=True))
    best = result["best_grid_cell"]
    for name, entry in result["references"].items():
      print(f"{name}: lr={entry['learning_rate']:.4g} m={entry['momentum']:.4g} "
            f"mean test accuracy={entry['mean_test_accuracy']}")
    if best:
      print(f"best grid cell: lr={best['learning_rate']:.4g} m={best['momentum']:.4g} "
            f"mean test accuracy={best['mean_test_accuracy']:.4f}")
    if "claim" in result:
      verdict = result["claim"]
      print(f"claim: reference {verdict['reference']} ranks {verdict['rank']} of "
            f"{verdict['num_cells']} on validation; against the {verdict['compared_with']}: "
            f"{verdict['verdict']} at margin {verdict['margin']:g} ({verdict['folds']} folds)")
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
