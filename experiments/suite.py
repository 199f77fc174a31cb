"""The workload suite: ``python -m experiments.suite CONFIG [--set K=V] [--out DIR] [--force]``.

Puts the paper's claim (its constants need no tuning) to the AlgoPerf test:
every optimizer of the suite config trains every workload with the same data,
budget and seeds; a tuned baseline per workload (the best cell of an SGD
learning-rate x momentum grid, chosen on a validation split carved from the
training set, never on the test set) is retrained and reported like the rest;
with ``scheduled_tuning``, a second one too: SGD with momentum, a schedule
(warmup and cosine decay) and weight decay, its peak learning rate and weight
decay tuned on the same split. The verdict is computed against each.
For each (workload, optimizer, seed): final test accuracy and loss, the first
step and time at which the workload's target test accuracy is reached, and
divergence. Writes ``suite.json``, ``suite.md``, ``profile.png`` and
``accuracy.png``; each finished (workload, optimizer) group is kept in
``cells/`` as soon as it ends, so a rerun with the same ``--out`` skips it; a
signal (SIGTERM, SIGINT) stops the suite once the group in flight is done.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import time
from typing import Literal, Optional

import numpy as np

from experiments import cli, data, outputs, plots, sweep
from experiments import config as config_lib
from experiments.analysis import scoring
from experiments.analysis import suite_report as report
from experiments.config import ConfigError, LogRange, OptimizerConfig, ScheduleConfig
from experiments.training import multiseed, optimizers, stopping
from experiments.typed_yaml import check_positive, check_range

TUNED = "tuned sgd"  # the label prefix of the tuned baseline
TUNED_SCHEDULED = "tuned sgd + schedule"  # the second: a schedule and weight decay too


@dataclasses.dataclass(frozen=True)
class WorkloadConfig:
  name: str
  config: str  # an experiment config file, relative to the suite file's folder
  target: float  # test accuracy that counts as reaching the workload's goal
  overrides: tuple[str, ...] = ()  # KEY=VALUE, as with --set
  clean_twin: Optional[str] = None  # for a label-noise workload: the clean one
  optional: bool = False  # skipped, with its reason, when its data files are absent

  def validate(self, key):
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
      raise ConfigError(f"config key '{key}.name': letters, digits, '_', '-', '.' only, "
                        f"got {self.name!r}")
    check_range(f"{key}.target", self.target, 0.0, 1.0, open_low=True)


@dataclasses.dataclass(frozen=True)
class TuningConfig:
  learning_rates: LogRange = LogRange(min=1e-3, max=1.0, num=7)
  momenta: tuple[float, ...] = (0.0, 0.5, 0.9, 0.95)
  seeds: tuple[int, ...] = (0,)
  validation_fraction: float = 0.1  # of the training set, stratified by class

  def validate(self, key):
    for i, m in enumerate(self.momenta):
      check_range(f"{key}.momenta[{i}]", m, 0.0, 1.0, open_high=True)
    if not self.momenta or not self.seeds:
      raise ConfigError(f"config key '{key}': needs at least one momentum and one seed")
    check_range(f"{key}.validation_fraction", self.validation_fraction, 0.0,
                0.5, open_low=True)


@dataclasses.dataclass(frozen=True)
class ScheduledTuningConfig:
  """The second tuned baseline's grid: a peak learning rate x a weight decay for SGD with
  ``momentum`` under ``schedule``, chosen on the tuning's validation split and seeds."""

  schedule: ScheduleConfig = ScheduleConfig(name="warmup_cosine")
  momentum: float = 0.9
  learning_rates: LogRange = LogRange(min=1e-3, max=1.0, num=7)
  weight_decays: tuple[float, ...] = (0.0, 5e-4, 5e-3)
  weight_decay_mask: Literal["all", "kernels"] = "all"

  def validate(self, key):
    check_range(f"{key}.momentum", self.momentum, 0.0, 1.0, open_high=True)
    if not self.weight_decays:
      raise ConfigError(f"config key '{key}.weight_decays': needs at least one value")
    for i, weight_decay in enumerate(self.weight_decays):
      if not weight_decay >= 0:
        raise ConfigError(f"config key '{key}.weight_decays[{i}]': must be >= 0, got "
                          f"{weight_decay}")


@dataclasses.dataclass(frozen=True)
class SuiteConfig:
  workloads: tuple[WorkloadConfig, ...] = ()
  optimizers: tuple[OptimizerConfig, ...] = ()
  seeds: tuple[int, ...] = (0, 1, 2)
  eval_every: int = 1  # epochs between test evaluations (the time-to-target resolution)
  tuning: TuningConfig = TuningConfig()
  scheduled_tuning: Optional[ScheduledTuningConfig] = None  # the second tuned baseline
  max_ratio: float = 4.0  # performance profile: ratios above this count as never

  def validate(self, key):
    if not self.workloads or not self.optimizers or not self.seeds:
      raise ConfigError("config key 'workloads': a suite needs workloads, optimizers and "
                        "seeds (at least one of each)")
    names = [w.name for w in self.workloads]
    for i, w in enumerate(self.workloads):
      if names.count(w.name) > 1:
        raise ConfigError(f"config key 'workloads[{i}].name': {w.name!r} appears twice")
      if w.clean_twin is not None and w.clean_twin not in names:
        raise ConfigError(f"config key 'workloads[{i}].clean_twin': no workload named "
                          f"{w.clean_twin!r}")
    check_positive("eval_every", self.eval_every)
    if not self.max_ratio > 1:
      raise ConfigError(f"config key 'max_ratio': must be above 1, got {self.max_ratio}")


def load_suite(path, overrides=()) -> tuple[SuiteConfig, dict]:
  """The suite config and each workload's resolved experiment config, all validated."""
  path = pathlib.Path(path)
  suite = config_lib.build(SuiteConfig, config_lib.apply_overrides(
      config_lib.load_yaml(path), overrides))
  workloads = {}
  for i, workload in enumerate(suite.workloads):
    file = path.parent / workload.config
    try:
      workloads[workload.name] = config_lib.load(file, workload.overrides)
    except ConfigError as error:
      raise ConfigError(f"workloads[{i}] ({workload.name}): {error}") from None
  return suite, workloads


def validation_split(dataset: data.Dataset, fraction: float, seed: int) -> data.Dataset:
  """The training set cut in two: its 'test' half is validation data, never the test set."""
  train, validation = data.stratified_split(dataset.train_y, fraction, seed)
  return data.Dataset(dataset.train_x[train], dataset.train_y[train],
                      dataset.train_x[validation], dataset.train_y[validation],
                      dataset.num_classes, f"{dataset.name} (validation split)")


def validation_grid(config, held_out: data.Dataset, learning_rates: LogRange, momenta,
                    seeds) -> list[dict]:
  """Every (learning rate, momentum) of the grid trained on ``held_out``'s training part
  and scored on its validation part, with the config's optimizer pipeline."""
  grid = config_lib.build(config_lib.SweepConfig, {
      "learning_rates": dataclasses.asdict(learning_rates), "momenta": list(momenta),
      "seeds": list(seeds)}, "tuning")
  swept = dataclasses.replace(config, sweep=grid)
  lrs, momenta = sweep.grid(swept)
  cells = [sweep.Cell(lr, m, seed) for m in momenta for lr in lrs for seed in seeds]
  entries = sweep.aggregate(sweep.train_cells(swept, held_out, cells))
  for entry in entries:
    entry["mean_validation_accuracy"] = entry.pop("mean_test_accuracy")
    entry["validation_accuracy"] = entry.pop("test_accuracy")
  return entries


def best_on_validation(entries: list[dict], key: str) -> dict:
  best = max((e for e in entries if e["mean_validation_accuracy"] is not None),
             key=lambda e: e["mean_validation_accuracy"], default=None)
  if best is None:
    raise ConfigError(f"config key '{key}': every cell of the grid diverged")
  return best


def tune(config, dataset: data.Dataset, tuning: TuningConfig) -> dict:
  """The best SGD (learning rate, momentum) of the grid by mean validation accuracy."""
  held_out = validation_split(dataset, tuning.validation_fraction, config.dataset.split_seed)
  entries = validation_grid(config, held_out, tuning.learning_rates, tuning.momenta,
                            tuning.seeds)
  best = best_on_validation(entries, "tuning")
  return {"learning_rate": best["learning_rate"], "momentum": best["momentum"],
          "validation_accuracy": best["mean_validation_accuracy"],
          "validation_examples": len(held_out.test_y), "grid": entries}


def tune_scheduled(config, dataset: data.Dataset, tuning: TuningConfig,
                   scheduled: ScheduledTuningConfig) -> dict:
  """The best (peak learning rate, weight decay) of SGD under the schedule, on the same
  validation split as ``tune``: one grid of learning rates per weight decay."""
  held_out = validation_split(dataset, tuning.validation_fraction, config.dataset.split_seed)
  entries = []
  for weight_decay in scheduled.weight_decays:
    pipeline = OptimizerConfig(name="sgd", learning_rate=1.0, momentum=scheduled.momentum,
                               schedule=scheduled.schedule, weight_decay=weight_decay,
                               weight_decay_mask=scheduled.weight_decay_mask)
    for entry in validation_grid(dataclasses.replace(config, optimizer=pipeline), held_out,
                                 scheduled.learning_rates, [scheduled.momentum],
                                 tuning.seeds):
      entries.append({**entry, "weight_decay": weight_decay})
  best = best_on_validation(entries, "scheduled_tuning")
  return {"learning_rate": best["learning_rate"], "momentum": best["momentum"],
          "weight_decay": best["weight_decay"],
          "validation_accuracy": best["mean_validation_accuracy"],
          "validation_examples": len(held_out.test_y), "grid": entries}


def tuned_optimizer(tuning_result: dict) -> OptimizerConfig:
  lr, m = tuning_result["learning_rate"], tuning_result["momentum"]
  return OptimizerConfig(name="sgd", learning_rate=lr, momentum=m,
                         label=f"{TUNED} ({lr:.3g}, {m:g})")


def scheduled_optimizer(result: dict, scheduled: ScheduledTuningConfig) -> OptimizerConfig:
  lr, m, wd = result["learning_rate"], result["momentum"], result["weight_decay"]
  return OptimizerConfig(name="sgd", learning_rate=lr, momentum=m, schedule=scheduled.schedule,
                         weight_decay=wd, weight_decay_mask=scheduled.weight_decay_mask,
                         label=f"{TUNED_SCHEDULED} ({lr:.3g}, {m:g}, wd {wd:g})")


def _kept_or_timed(cells: outputs.ResultStore, key: str, compute) -> dict:
  """The result kept under ``key``, or ``compute()``'s, timed (``wall_time_s``) and kept."""
  result = cells.get(key)
  if result is None:
    tic = time.perf_counter()
    result = compute()
    result["wall_time_s"] = time.perf_counter() - tic
    cells.put(key, result)
  return result


def run_workload(workload: WorkloadConfig, config, suite: SuiteConfig,
                 cells: outputs.ResultStore, say=print, stop=stopping.NEVER) -> dict:
  """Tunes, then trains every optimizer and the tuned baseline on one workload."""
  try:
    dataset = data.load(config.dataset)
  except ConfigError as error:
    if workload.optional and "not found" in str(error):
      say(f"{workload.name}: skipped ({error})")
      return {"name": workload.name, "skipped": str(error)}
    raise
  tuning = _kept_or_timed(cells, f"{workload.name}/tuning",
                          lambda: tune(config, dataset, suite.tuning))
  say(f"{workload.name}: tuned sgd ({tuning['learning_rate']:.3g}, {tuning['momentum']:g}), "
      f"validation accuracy {tuning['validation_accuracy']:.4f}")
  baselines = {TUNED: tuned_optimizer(tuning)}
  scheduled = None
  if suite.scheduled_tuning is not None:
    scheduled = _kept_or_timed(cells, f"{workload.name}/scheduled_tuning", lambda: tune_scheduled(
        config, dataset, suite.tuning, suite.scheduled_tuning))
    baselines[TUNED_SCHEDULED] = scheduled_optimizer(scheduled, suite.scheduled_tuning)
    say(f"{workload.name}: {baselines[TUNED_SCHEDULED].label}, validation accuracy "
        f"{scheduled['validation_accuracy']:.4f}")
  baseline_of = [None] * len(suite.optimizers) + list(baselines)
  groups = []
  for i, optimizer in enumerate((*suite.optimizers, *baselines.values())):
    resolved = optimizers.resolve(optimizer)
    label = resolved.label
    name = f"{i:02d}-{outputs.slug(label)}"
    group = cells.get(f"{workload.name}/{name}")
    if group is None:
      tic = time.perf_counter()
      trained = dataclasses.replace(config, optimizer=optimizer,
                                    train=dataclasses.replace(config.train, progress=False))
      runs = multiseed.train_seeds(trained, dataset, list(suite.seeds), suite.eval_every)
      for run in runs:  # JSON has no infinity: a target never reached is null
        steps = scoring.steps_to_target(run["evaluations"], workload.target)
        reached = [e for e in run["evaluations"] if e["step"] == steps]
        run["steps_to_target"] = reached[0]["step"] if reached else None
        run["time_to_target_s"] = reached[0]["train_seconds"] if reached else None
      group = cells.put(f"{workload.name}/{name}", {
          "optimizer": label, "name": optimizer.name, "tuned": baseline_of[i] is not None,
          "baseline": baseline_of[i],
          "learning_rate": resolved.learning_rate, "momentum": resolved.momentum,
          "runs": runs, "wall_time_s": time.perf_counter() - tic})
    groups.append(group)
    finals = [r["test_accuracy"] for r in group["runs"] if r["test_accuracy"] is not None]
    say(f"{workload.name}: {label}: test accuracy "
        f"{np.mean(finals) if finals else float('nan'):.4f}")
    if stop.requested():
      raise stop.stop(f"after {workload.name}: {label}: finished groups kept in "
                      f"{cells.folder}; run the same command again to resume")
  return {"name": workload.name, "target": workload.target, "dataset": dataset.name,
          "model": config.model.name, "epochs": config.train.epochs,
          "batch_size": config.train.batch_size, "label_noise": config.dataset.label_noise,
          "steps_per_epoch": len(dataset.train_y) // config.train.batch_size,
          "clean_twin": workload.clean_twin, "tuning": tuning, "scheduled_tuning": scheduled,
          "optimizers": groups}


def run_suite(suite: SuiteConfig, workloads: dict, out: pathlib.Path, say=print,
              stop=stopping.NEVER) -> dict:
  cells = outputs.ResultStore(out / "cells")
  tic = time.perf_counter()
  results = [run_workload(w, workloads[w.name], suite, cells, say, stop)
             for w in suite.workloads]
  document = report.summarize(results, suite.max_ratio, [TUNED, TUNED_SCHEDULED])
  document.update(config=config_lib.to_dict(suite), versions=outputs.versions(),
                  wall_time_s=time.perf_counter() - tic,
                  compute_time_s=report.compute_time(results))
  outputs.write_json(out / "suite.json", document)
  write_report(document, out)
  return document


def write_report(document: dict, out: pathlib.Path) -> None:
  """``suite.md``, ``profile.png`` and ``accuracy.png`` from a suite's document."""
  outputs.write_text(out / "suite.md", report.markdown(document))
  plots.performance_profile(document["profile"], out / "profile.png",
                            title=f"performance profile, {document['num_workloads']} workloads")
  plots.suite_accuracy(document["workloads"], out / "accuracy.png")


def rewrite_report(out) -> dict:
  """Writes a finished suite's report again from its ``suite.json``, with this version's
  report code (``--report-only``); nothing is trained and ``suite.json`` is unchanged."""
  if out is None:
    raise ConfigError("--report-only: needs --out, the folder of a finished suite")
  out = pathlib.Path(out)
  if not (out / "suite.json").is_file():
    raise ConfigError(f"output folder '{out}': holds no suite.json; --report-only re-writes "
                      "the report of a finished suite")
  outputs.lock(out)
  try:
    document = outputs.read_json(out / "suite.json")
  except ValueError:
    raise ConfigError(f"file '{out / 'suite.json'}': not valid JSON") from None
  write_report(document, out)
  return document


def main(argv=None) -> int:
  parser = cli.parser_for("python -m experiments.suite", __doc__)
  parser.add_argument("--report-only", action="store_true",
                      help="write suite.md and the plots of the finished suite in --out "
                      "again from its suite.json, with this version's report; trains nothing")
  args = parser.parse_args(argv)
  with cli.exit_codes(), stopping.GracefulStop() as stop:
    if args.report_only:
      rewrite_report(args.out)
      print(f"report written to {args.out}")
      return 0
    if args.config is None:
      raise ConfigError("a suite config is required, e.g. configs/suite_quick.yaml")
    suite, workloads = load_suite(args.config, args.overrides)
    resolved = {"suite": config_lib.to_dict(suite),
                "workloads": {n: config_lib.to_dict(c) for n, c in workloads.items()}}
    out = outputs.prepare(args.out, resolved, "suite", force=args.force, kept=("cells",))
    document = run_suite(suite, workloads, out, say=lambda line: print(line, flush=True),
                         stop=stop)
    for baseline in document["tuned_baselines"]:
      print(f"against {baseline}:\n{report.verdict_table(document, baseline)}")
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
