"""The transfer studies' engine and its files: what ``dualprocess-transfer`` does (its
help, ``experiments/transfer.py``; the schema and the rows: ``experiments/config/
transfer.py``; the method: ``docs/methods.md``).

Per workload: the validation split, held out once from the whole training set; the
tuned SGD's random search at the reference value; then at every value the re-tuned
SGD's search and the three rows' final runs. Each search and group is kept in
``cells/`` as it ends, so that the same command resumes. Then ``transfer.json``,
``transfer.md`` and ``transfer.png``.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

from .. import config as config_lib
from .. import data, outputs
from ..config.transfer import TransferConfig
from ..errors import ConfigError
from ..training import stopping
from . import groups, search

# Where the rows' names come from: the first is the one every other row is compared with.
RETUNED, PAIR, TRANSFERRED = "re-tuned sgd", "derived pair", "transferred sgd"
ROWS = (RETUNED, PAIR, TRANSFERRED)
# The random streams of the draws: the re-tuned searches draw the same learning rates at
# every value (common random numbers), so values differ by what they vary, not by luck.
REFERENCE_STREAM, RETUNED_STREAM = 0, 1


def at_value(study: TransferConfig, config, training: data.Dataset, value: int):
  """``(config, training)`` at ``value``: the batch size set, or the training part cut to
  its first ``value`` examples in a seeded order (nested: each size holds the smaller
  ones), the validation split and the test set unchanged."""
  if study.vary == "batch_size":
    return dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                 batch_size=value)), training
  order = np.random.default_rng([config.dataset.split_seed, 1]).permutation(
      len(training.train_y))
  keep = np.sort(order[:value])
  return config, training._replace(train_x=training.train_x[keep],
                                   train_y=training.train_y[keep])


def check_values(study: TransferConfig, name: str, training: data.Dataset) -> None:
  """Every value fits the workload's training part (a batch, or a subset, no larger)."""
  available = len(training.train_y)
  for i, value in enumerate(study.values):
    if value > available:
      what = "batch" if study.vary == "batch_size" else "subset"
      raise ConfigError(f"config key 'values[{i}]': a {what} of {value} for workload {name}, "
                        f"whose training part (after the validation split) has {available} "
                        "examples")


def retuned_space(study: TransferConfig, momentum: float):
  """The re-tuned row's space: the tuned space's learning-rate range, its momentum the
  one the reference search chose."""
  return dataclasses.replace(study.tuned, label=RETUNED, one_minus_momentum=None,
                             momentum=momentum)


def kept_search(cells, key: str, config, training, space, study: TransferConfig,
                stream: int) -> dict:
  """A random search of ``space`` (``study.search.trials`` trials, each on every trial
  seed), kept under ``key``: ``{"trials", "wall_time_s"}``."""
  trials = search.draw(space, study.search.trials, study.search.seed, stream)
  return groups.kept_or_timed(cells, key, lambda: {"trials": search.run(
      config, training, space, trials, study.search.trial_seeds)})


def run_workload(study: TransferConfig, workload, config, cells, say=print,
                 stop=stopping.NEVER) -> dict:
  """The reference search, then every value's search and rows, on one workload."""
  name = workload.name
  try:
    dataset = data.load(config.dataset)
  except ConfigError as error:
    if groups.absent_and_optional(workload, error):
      say(f"{name}: skipped ({error})")
      return {"name": name, "skipped": str(error)}
    raise
  config = dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                 progress=False))
  training, _ = groups.validation_split(dataset, study.validation_fraction,
                                           config.dataset.split_seed)
  check_values(study, name, training)
  reference = kept_search(cells, f"{name}/reference/search",
                          *at_value(study, config, training, study.reference), study.tuned,
                          study, REFERENCE_STREAM)
  chosen = search.best(reference["trials"])
  say(f"{name}: {study.tuned.label} at {study.vary} {study.reference}: lr "
      f"{chosen['learning_rate']:.3g}, momentum {chosen['momentum']:.3g}, validation "
      f"accuracy {chosen['validation_accuracy']:.4f}")
  _stop_here(stop, f"{name}'s reference search", cells)
  points = [run_point(study, name, *at_value(study, config, training, value), value, chosen,
                      cells, say, stop) for value in study.values]
  return {"name": name, "dataset": dataset.name, "model": config.model.name,
          "loss": config.loss.name, "epochs": config.train.epochs,
          "batch_size": config.train.batch_size, "margin": workload.margin or study.margin,
          "validation_examples": len(training.validation[1]),
          "test_examples": len(training.test_y), "num_classes": dataset.num_classes,
          "reference_search": reference["trials"],
          "reference_search_seconds": reference["wall_time_s"], "transferred": chosen,
          "points": points}


def run_point(study: TransferConfig, name: str, config, training: data.Dataset, value: int,
              chosen: dict, cells, say=print, stop=stopping.NEVER) -> dict:
  """One value: the re-tuned row's search, then the three rows with every seed."""
  where = f"{name}/{study.vary}-{value}"
  space = retuned_space(study, chosen["momentum"])
  retuned = kept_search(cells, f"{where}/search", config, training, space, study,
                        RETUNED_STREAM)
  best = search.best(retuned["trials"])
  entries = [(RETUNED, search.optimizer(space, best, label=_label(RETUNED, best))),
             (PAIR, study.pair),
             (TRANSFERRED, search.optimizer(study.tuned, chosen, label=_label(TRANSFERRED,
                                                                            chosen)))]
  trained = []
  for i, (row, optimizer) in enumerate(entries):
    key = f"{where}/{i:02d}-{outputs.slug(row)}"
    group = cells.get(key)
    if group is None:
      group = cells.put(key, groups.train_group(config, optimizer, row, row, training,
                                                   study.seeds, study.eval_every))
      groups.write_curves(cells.folder.parent / "runs" / key, group["runs"])
    trained.append({**group, "row": row})
    finals = [r["test_accuracy"] for r in group["runs"] if r["test_accuracy"] is not None]
    say(f"{name}: {study.vary} {value}: {row}: test accuracy "
        f"{np.mean(finals) if finals else float('nan'):.4f}")
    _stop_here(stop, f"{name} at {study.vary} {value}: {row}", cells)
  return {study.vary: value, "reference": value == study.reference,
          "epochs": config.train.epochs,
          "batch_size": config.train.batch_size, "train_examples": len(training.train_y),
          "steps_per_epoch": len(training.train_y) // config.train.batch_size,
          "search": retuned["trials"], "search_seconds": retuned["wall_time_s"],
          "groups": trained}


def _label(row: str, trial: dict) -> str:
  return f"{row} (lr {trial['learning_rate']:.3g}, m {trial['momentum']:.3g})"


def _stop_here(stop, what: str, cells) -> None:
  if stop.requested():
    raise stop.stop(f"after {what}: kept in {cells.folder}; run the same command again to "
                    "resume")


def run_study(study: TransferConfig, workloads: dict, out: pathlib.Path, say=print,
              stop=stopping.NEVER, plan=None) -> dict:
  """Every workload, then ``transfer.json`` and the report; with ``plan``, the estimate
  beside the measured seconds."""
  from ..analysis import transfer_report
  from ..training import tensorboard_log
  cells = tensorboard_log.store(out / "cells", out, "transfer")
  tic = time.perf_counter()
  results = [run_workload(study, w, workloads[w.name], cells, say, stop)
             for w in study.workloads]
  document = transfer_report.summarize(results, study)
  document.update(config=config_lib.to_dict(study), **declared(study),
                  versions=outputs.versions(), wall_time_s=time.perf_counter() - tic)
  if plan is not None:
    document["plan"] = with_measured(plan, results, study.vary)
  outputs.write_json(out / "transfer.json", document)
  write_report(document, out)
  return document


def declared(study: TransferConfig) -> dict:
  """The version it ran under and what was declared: seeds, values, the search."""
  import dualprocess

  return {"dualprocess_version": dualprocess.__version__, "vary": study.vary,
          study.values_key: list(study.values), "reference": study.reference,
          "trial_seeds": list(study.search.trial_seeds), "final_seeds": list(study.seeds),
          "trials": study.search.trials, "validation_fraction": study.validation_fraction}


def with_measured(plan: dict, results: list[dict], vary: str) -> dict:
  """The plan with each unit's (a workload at one value) measured seconds: its search and
  rows, as kept, and at the reference value the tuned SGD's search too."""
  measured = {}
  for result in results:
    if "skipped" in result:
      continue
    for point in result["points"]:
      seconds = point["search_seconds"] + sum(g["wall_time_s"] for g in point["groups"])
      if point["reference"]:
        seconds += result["reference_search_seconds"]
      measured[f"{result['name']} {vary}={point[vary]}"] = seconds
  return groups.with_measured(plan, measured)


def write_report(document: dict, out: pathlib.Path) -> None:
  """``transfer.md`` and ``transfer.png``."""
  from .. import plots
  from ..analysis import transfer_report
  outputs.write_text(out / "transfer.md", transfer_report.markdown(document))
  plots.transfer(document, out / "transfer.png")


def rewrite_report(out) -> dict:
  """The report of a finished study again from its ``transfer.json``, with this version's
  report code (``--report-only``); nothing is trained."""
  if out is None:
    raise ConfigError("--report-only: needs --out, the folder of a finished study")
  out = pathlib.Path(out)
  if not (out / "transfer.json").is_file():
    raise ConfigError(f"output folder '{out}': holds no transfer.json; --report-only "
                      "re-writes the report of a finished study")
  outputs.lock(out)
  try:
    document = outputs.read_json(out / "transfer.json")
  except ValueError:
    raise ConfigError(f"file '{out / 'transfer.json'}': not valid JSON") from None
  write_report(document, out)
  return document
