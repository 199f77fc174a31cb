"""The workload suite's engine and its files: what ``dualprocess-suite`` does (its help,
``experiments/suite.py``, and ``docs/methods.md`` give the method). Per workload run:
the validation split, the searches, the target, the final runs; then the report.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import time
from typing import NamedTuple

import numpy as np

from .. import config as config_lib
from .. import data, loading, outputs
from ..analysis import scoring
from ..config import SearchSpace, SuiteConfig, WorkloadConfig
from ..errors import ConfigError
from ..training import stopping
from . import groups, search
from .groups import (
  absent_and_optional,
  kept_or_timed,
  train_group,
  validation_split,
  write_curves,
)

# JAX, Optax, Flax (training), SciPy and statsmodels (the report's statistics) and
# matplotlib (plots) are imported where they are used: --help and a config mistake
# answer without them.


def target_from_trials(searches: dict, slack: float) -> float:
  """The target rule: the best validation accuracy of any trial less ``slack``, rounded
  down to 3 decimals."""
  best = max(t["validation_accuracy"] for trials in searches.values() for t in trials)
  return math.floor(1000 * (best - slack) + 1e-9) / 1000


def _score_runs(runs: list[dict], target: float) -> None:
  """Steps and time to the validation target, and the test accuracy at the best
  validation evaluation (early stopping on validation), in place."""
  for run in runs:  # JSON has no infinity: a target never reached is null
    steps = scoring.steps_to_target(run["evaluations"], target)
    reached = [e for e in run["evaluations"] if e["step"] == steps]
    run["steps_to_target"] = reached[0]["step"] if reached else None
    run["time_to_target_s"] = reached[0]["train_seconds"] if reached else None
    scored = [e for e in run["evaluations"] if e.get("validation_accuracy") is not None]
    chosen = max(scored, key=lambda e: e["validation_accuracy"], default=None)
    run["best_validation_step"] = None if chosen is None else chosen["step"]
    run["test_accuracy_at_best_validation"] = (None if chosen is None
                                               else chosen["test_accuracy"])


class Unit(NamedTuple):
  """One workload run of the suite: a workload under one loss at one budget."""

  workload: WorkloadConfig
  loss: str
  name: str
  budget: float = 1.0


def units(suite: SuiteConfig) -> list[Unit]:
  """Every workload under each of its losses at each of its budgets. The first loss keeps
  the workload's name, others add ``+<loss>_loss``; with more than one budget in the
  suite, every name adds ``@<budget>x``."""
  result = []
  for workload in suite.workloads:
    for budget in suite.budgets_of(workload):
      for loss in workload.losses or suite.losses:
        name = workload.name if loss == suite.losses[0] else f"{workload.name}+{loss}_loss"
        if len(suite.budgets) > 1:
          name += f"@{budget:g}x"
        result.append(Unit(workload, loss, name, budget))
  return result


def at_budget(config, budget: float):
  """``config`` with its epochs multiplied by ``budget`` (rounded, at least one)."""
  epochs = max(1, round(config.train.epochs * budget))
  return dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))


def run_workload(workload: WorkloadConfig, loss: str, name: str, config, suite: SuiteConfig,
                 cells: outputs.ResultStore, say=print, stop=stopping.NEVER,
                 budget: float = 1.0) -> dict:
  """Searches every baseline, then trains every optimizer and the best trials, on one
  workload under one loss, at ``budget`` times its epochs."""
  try:
    dataset = data.load(config.dataset)
  except ConfigError as error:
    if absent_and_optional(workload, error):
      say(f"{name}: skipped ({error})")
      return {"name": name, "skipped": str(error)}
    raise
  config = at_budget(dataclasses.replace(
      config, loss=dataclasses.replace(config.loss, name=loss),
      train=dataclasses.replace(config.train, progress=False)), budget)
  training, _ = validation_split(dataset, suite.validation_fraction, config.dataset.split_seed)
  searches, search_seconds = run_searches(name, config, training, suite, cells, say, stop)
  target = workload_target(workload, suite, searches)
  groups = run_groups(name, config, training, suite, searches, target, cells, say, stop)
  return {"name": name, "workload": workload.name, "loss": loss, "budget": budget,
          "target": target,
          "target_declared": workload.target is not None,
          "margin": workload.margin or suite.margin, "dataset": dataset.name,
          "model": config.model.name, "epochs": config.train.epochs,
          "batch_size": config.train.batch_size, "label_noise": config.dataset.label_noise,
          "num_classes": dataset.num_classes, "train_examples": len(training.train_y),
          "validation_examples": len(training.validation[1]),
          "test_examples": len(training.test_y),
          "steps_per_epoch": len(training.train_y) // config.train.batch_size,
          "clean_twin": workload.clean_twin, "searches": searches,
          "search_seconds": search_seconds, "optimizers": groups}


def run_searches(name: str, config, training: data.Dataset, suite: SuiteConfig,
                 cells: outputs.ResultStore, say=print, stop=stopping.NEVER
                 ) -> tuple[dict, dict]:
  """Every baseline's random search, trained on ``training``'s training part and scored
  on its validation split, each kept as it ends: ``(trials by baseline, seconds by
  baseline)``."""
  searches, search_seconds = {}, {}
  for stream, space in enumerate(suite.search.spaces):
    trials = search.draw(space, suite.search.trials, suite.search.seed, stream)
    kept = kept_or_timed(cells, f"{name}/search/{outputs.slug(space.label)}",
                          lambda space=space, trials=trials: {"trials": search.run(
                              config, training, space, trials, suite.search.trial_seeds)})
    searches[space.label], search_seconds[space.label] = kept["trials"], kept["wall_time_s"]
    chosen = search.best(kept["trials"])
    say(f"{name}: {space.label}: {len(trials)} trials, best validation accuracy "
        f"{chosen['validation_accuracy']:.4f}")
    if stop.requested():
      raise stop.stop(f"after {name}: {space.label}'s search: kept in {cells.folder}; run "
                      "the same command again to resume")
  return searches, search_seconds


def workload_target(workload: WorkloadConfig, suite: SuiteConfig, searches: dict) -> float:
  """The declared target, or the suite's rule applied to the trials (before any final run)."""
  if workload.target is not None:
    return workload.target
  if not searches:
    raise ConfigError(f"config key 'workloads ({workload.name}).target': needed when the "
                      "suite has no search spaces (the target rule reads their trials)")
  return target_from_trials(searches, suite.target_slack)


def run_groups(name: str, config, training: data.Dataset, suite: SuiteConfig, searches: dict,
               target: float, cells: outputs.ResultStore, say=print,
               stop=stopping.NEVER) -> list[dict]:
  """Every optimizer and every baseline's best trial trained with every seed, each group
  kept as it ends, its runs scored against ``target``."""
  from ..training import optimizers
  entries = [(o, None) for o in suite.optimizers]
  for space in suite.search.spaces:
    chosen = search.best(searches[space.label])
    label = f"{space.label} ({_describe(space, chosen)})"
    entries.append((search.optimizer(space, chosen, label=label), space.label))
  groups = []
  for i, (optimizer, baseline) in enumerate(entries):
    label = optimizers.resolve(optimizer).label
    key = f"{name}/{i:02d}-{outputs.slug(baseline or label)}"
    group = cells.get(key)
    if group is None:
      group = cells.put(key, train_group(config, optimizer, baseline, label, training,
                                        suite.seeds, suite.eval_every))
      write_curves(cells.folder.parent / "runs" / key, group["runs"])
    _score_runs(group["runs"], target)
    groups.append(group)
    finals = [r["test_accuracy"] for r in group["runs"] if r["test_accuracy"] is not None]
    say(f"{name}: {label}: test accuracy {np.mean(finals) if finals else float('nan'):.4f}")
    if stop.requested():
      raise stop.stop(f"after {name}: {label}: finished groups kept in {cells.folder}; run "
                      "the same command again to resume")
  return groups


def _describe(space: SearchSpace, trial: dict) -> str:
  parts = [f"lr {trial['learning_rate']:.3g}"]
  if trial["momentum"]:  # under the name of the optimizer's argument, where one is given
    parts.append(f"{space.momentum_argument or 'm'} {trial['momentum']:.3g}")
  if trial["weight_decay"] is not None:
    parts.append(f"wd {trial['weight_decay']:.2g}")
  return ", ".join(parts)


def run_suite(suite: SuiteConfig, workloads: dict, out: pathlib.Path, say=print,
              stop=stopping.NEVER, plan=None) -> dict:
  """Every workload run, then ``suite.json`` and the report; with ``plan`` (what
  ``workflows/plan.py`` estimated before the run) the estimate is recorded beside the
  measured seconds of each workload run."""
  from ..analysis import suite_report as report
  from ..training import tensorboard_log
  cells = tensorboard_log.store(out / "cells", out, "suite")  # and TensorBoard's, if it can
  tic = time.perf_counter()
  results = [run_workload(u.workload, u.loss, u.name, workloads[u.workload.name], suite,
                          cells, say, stop, u.budget) for u in units(suite)]
  document = report.summarize(results, suite)
  document.update(config=config_lib.to_dict(suite), **declared(suite),
                  versions=outputs.versions(), wall_time_s=time.perf_counter() - tic,
                  compute_time_s=report.compute_time(results))
  if plan is not None:
    document["plan"] = with_measured(plan, results)
  outputs.write_json(out / "suite.json", document)
  write_report(document, out)
  return document


def with_measured(plan: dict, results: list[dict]) -> dict:
  """The plan with each workload run's measured seconds (searches and groups, as kept)."""
  return groups.with_measured(plan, {
      r["name"]: sum(r["search_seconds"].values()) + sum(g["wall_time_s"]
                                                          for g in r["optimizers"])
      for r in results if "skipped" not in r})


def declared(suite: SuiteConfig) -> dict:
  """What the run was declared to be, recorded beside its results: the version it ran
  under, the trial and final seeds, the budgets and every arm's search space."""
  import dualprocess

  return {"dualprocess_version": dualprocess.__version__,
          "trial_seeds": list(suite.search.trial_seeds), "final_seeds": list(suite.seeds),
          "budgets": list(suite.budgets), "validation_fraction": suite.validation_fraction,
          "search_spaces": {space.label: {**config_lib.to_dict(space),
                                          "weight_decay_style": (
                                              space.weight_decay_style or
                                              ("decoupled" if space.name == "adam" else "l2"))}
                            for space in suite.search.spaces}}


def write_report(document: dict, out: pathlib.Path) -> None:
  """``suite.md``, ``profile.png``, ``accuracy.png`` and the tuning curves."""
  from .. import plots
  from ..analysis import suite_markdown
  outputs.write_text(out / "suite.md", suite_markdown.markdown(document))
  for i, (loss, profile) in enumerate(document["profiles"].items()):
    suffix = "" if i == 0 else ("-" + loss.replace("@", "-") if "@" in loss else f"-{loss}_loss")
    plots.performance_profile(profile, out / f"profile{suffix}.png",
                              title=f"performance profile, {loss} loss, "
                              f"{profile['num_workloads']} workloads (validation targets)")
  plots.suite_accuracy(document["workloads"], out / "accuracy.png")
  for workload in document["workloads"]:
    plots.tuning_curves(workload, out / f"curves-{outputs.slug(workload['name'])}.png")


class NotKept(Exception):
  """A search or group that a partial report needs has not finished."""


class KeptOnly:
  """A ResultStore that only reads: a missing result raises ``NotKept``."""

  def __init__(self, store: outputs.ResultStore):
    self.store, self.folder = store, store.folder

  def get(self, key):
    result = self.store.get(key)
    if result is None:
      raise NotKept(key)
    return result


def partial_report(suite: SuiteConfig, workloads: dict, out: pathlib.Path) -> dict:
  """The report of an unfinished suite's finished workload runs, in order, up to the first
  unfinished one (``--report-only`` with a config and no ``suite.json``): ``suite.md``
  and the plots, marked partial, and ``suite_partial.json``; nothing is trained."""
  from ..analysis import suite_report as report
  cells, results = KeptOnly(outputs.ResultStore(out / "cells")), []
  planned = units(suite)
  for u in planned:
    try:
      results.append(run_workload(u.workload, u.loss, u.name, workloads[u.workload.name],
                                  suite, cells, say=lambda line: None, budget=u.budget))
    except NotKept:
      break
  document = report.summarize(results, suite)
  document.update(config=config_lib.to_dict(suite), **declared(suite),
                  versions=outputs.versions(),
                  wall_time_s=None, compute_time_s=report.compute_time(results),
                  partial=f"{len(results)} of {len(planned)} workload runs finished; "
                  f"the rest not yet run: {', '.join(u.name for u in planned[len(results):])}")
  outputs.write_json(out / "suite_partial.json", document)
  write_report(document, out)
  return document


def rewrite_report(out, config=None, overrides=()) -> dict:
  """Writes a finished suite's report again from its ``suite.json``, with this version's
  report code (``--report-only``); nothing is trained and ``suite.json`` is unchanged.
  Without ``suite.json`` and with the suite's ``config``, the partial report."""
  if out is None:
    raise ConfigError("--report-only: needs --out, the folder of a finished suite")
  out = pathlib.Path(out)
  if not (out / "suite.json").is_file():
    if config is not None and (out / "cells").is_dir():
      outputs.lock(out)
      return partial_report(*loading.load_suite(config, overrides), out)
    raise ConfigError(f"output folder '{out}': holds no suite.json; --report-only re-writes "
                      "the report of a finished suite (or, given the suite's config, of the "
                      "finished part of an unfinished one)")
  outputs.lock(out)
  try:
    document = outputs.read_json(out / "suite.json")
  except ValueError:
    raise ConfigError(f"file '{out / 'suite.json'}': not valid JSON") from None
  write_report(document, out)
  return document
