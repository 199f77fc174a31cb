"""The engine of ``dualprocess-sweep``: every (learning rate, momentum, seed, fold) cell
as a lane of one compiled program (``training/lanes.py``), each cell's learning curve in
``cells/`` (``sweep_curves.py``), then ``sweep.json``, the landscape and, with
``sweep.reference``, the claim (``analysis/claim.py``) and the author's grid layout.
What the command does is its help (``experiments/sweep.py``).
"""

from __future__ import annotations

import collections
import math
import pathlib
import statistics
import time

import numpy as np

import dualprocess

from .. import data, outputs
from ..config import ExperimentConfig
from ..data import splits
from ..errors import ConfigError
from ..training import stopping
from ..training.lanes import Cell, train_cells
from . import common, sweep_curves

# JAX, Optax, Flax (models, training), SciPy (analysis) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.


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
  return common.folds(config, "sweep") or [0]


def all_cells(config: ExperimentConfig) -> list[Cell]:
  lrs, momenta = grid(config)
  pairs = [(lr, m) for m in momenta for lr in lrs]
  # A reference pair already on the grid is trained once, not twice.
  pairs += [pair for pair in reference_points().values() if pair not in pairs]
  return [Cell(lr, m, seed, fold) for lr, m in pairs for fold in folds(config)
          for seed in config.sweep.seeds]


def _per_fold(by_fold: dict, key: str) -> list:
  """The mean of ``key`` over each fold's seeds, in fold order; None where one diverged."""
  return [None if any(r["diverged"] for r in runs) else statistics.fmean(r[key] for r in runs)
          for _, runs in sorted(by_fold.items())]


def _spread(by_fold: dict, runs: list[dict], key: str) -> float | None:
  """The ``ddof = 1`` std of ``key`` over the per-fold means (over seeds with one fold)."""
  return _stdev(_per_fold(by_fold, key) if len(by_fold) > 1 else [r[key] for r in runs])


def _stdev(values: list) -> float | None:
  """The ``ddof = 1`` std of ``values``; None with fewer than two or with a diverged one."""
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
  from .. import plots
  from ..analysis import claim
  from ..training import tensorboard_log
  from ..training.devices import select_devices
  tic = time.perf_counter()
  cells = all_cells(config)
  store = sweep_curves.CurveStore(  # and TensorBoard's, if it can; each cell's curve too
      tensorboard_log.store(out / "chunks", out, "sweep"), out, config.dataset.folds is not None)
  results = train_cells(config, dataset, cells, config.sweep.chunk_size, store, stop, say,
                        curves=True)
  entries = aggregate(results)
  lrs, momenta = grid(config)
  by_pair = {(e["learning_rate"], e["momentum"]): e for e in entries}
  references = {name: by_pair[pair] for name, pair in reference_points().items()}
  grid_entries = [by_pair[(lr, m)] for m in momenta for lr in lrs]
  best = max((e for e in grid_entries if e["mean_test_accuracy"] is not None),
             key=lambda e: e["mean_test_accuracy"], default=None)
  result = {"cells": grid_entries, "references": references, "best_grid_cell": best,
            "num_cells_trained": len(cells), "epochs": config.train.epochs,
            "eval_every": config.train.eval_every,
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
  from .. import plots
  from ..analysis import claim
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
  from .. import config as config_lib
  from ..analysis import claim

  config = config_lib.load(out / "config.yaml")
  if config.sweep.reference is None:
    raise ConfigError(f"file '{out / 'config.yaml'}': sets no sweep.reference, so there is "
                      "no claim to compute")
  outputs.lock(out)
  result = outputs.read_json(out / "sweep.json")
  for entry in [*result["cells"], *result["references"].values()]:
    for split in ("validation", "test"):
      per_fold = entry.get(f"per_fold_{split}_accuracy")
      if per_fold and None not in per_fold and len(per_fold) > 1:
        entry[f"std_{split}_accuracy"] = _stdev(per_fold)
  result["claim"] = claim.evaluate_claim(result["cells"], config.sweep.reference,
                                         config.sweep.margin if margin is None else margin)
  outputs.write_json(out / "sweep.json", result)
  lrs, momenta = grid(config)
  write_claim(result, lrs, momenta, result["references"], _title(config, config.dataset.name),
              out)
  return result


def _title(config: ExperimentConfig, dataset_name: str) -> str:
  return common.title(config, dataset_name, "sweep")
