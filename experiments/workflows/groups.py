"""What the suite and the transfer studies share: the validation split, results kept as
they end, a row's final runs on every seed, and their curves on disk."""

from __future__ import annotations

import dataclasses
import pathlib
import time

from .. import data, imports, outputs
from ..config import OptimizerConfig, WorkloadConfig
from ..errors import ConfigError


def check_models(suite, workloads: dict) -> None:
  """Builds the own model (``package.module:factory``) of each workload of a suite or a
  transfer study once on its data, so that a factory returning no module or logits of the
  wrong shape is refused before any output is written (the built-in models need no data
  to be checked)."""
  from .. import models
  for i, workload in enumerate(suite.workloads):
    config = workloads[workload.name]
    if not imports.is_target(config.model.name):
      continue
    try:
      dataset = data.load(config.dataset)
    except ConfigError as error:
      if absent_and_optional(workload, error):
        continue  # skipped with its reason when the suite reaches it
      raise ConfigError(f"workloads[{i}] ({workload.name}): {error}") from None
    try:
      models.check(config.model, dataset.input_shape, dataset.num_classes,
                   config.train.seed, config.train.compute_dtype, sequence=dataset.sequence)
    except ConfigError as error:
      raise ConfigError(f"workloads[{i}] ({workload.name}): {error}") from None


def absent_and_optional(workload: WorkloadConfig, error: ConfigError) -> bool:
  """Whether ``error`` says an optional workload's data files are absent and cannot be
  downloaded (it is skipped)."""
  return workload.optional and ("not found" in str(error) or "cannot download" in str(error))


def validation_split(dataset: data.Dataset, fraction: float, seed: int
                     ) -> tuple[data.Dataset, data.Dataset]:
  """``(training, held_out)``: the training set less a validation split, with the test set;
  and the same training part with the validation split as its 'test' half (what the trials
  are scored on). The user's own ``x_val``/``y_val`` are used where given."""
  if dataset.validation is not None:
    train_x, train_y = dataset.train_x, dataset.train_y
    val_x, val_y = dataset.validation
  else:
    train, validation = data.stratified_split(dataset.train_y, fraction, seed)
    train_x, train_y = dataset.train_x[train], dataset.train_y[train]
    val_x, val_y = dataset.train_x[validation], dataset.train_y[validation]
  training = data.Dataset(train_x, train_y, dataset.test_x, dataset.test_y,
                          dataset.num_classes, dataset.name, validation=(val_x, val_y))
  held_out = data.Dataset(train_x, train_y, val_x, val_y, dataset.num_classes,
                          f"{dataset.name} (validation split)")
  return training, held_out


def kept_or_timed(cells: outputs.ResultStore, key: str, compute) -> dict:
  """The result kept under ``key``, or ``compute()``'s, timed (``wall_time_s``) and kept."""
  result = cells.get(key)
  if result is None:
    tic = time.perf_counter()
    result = compute()
    result["wall_time_s"] = time.perf_counter() - tic
    cells.put(key, result)
  return result


def write_curves(folder: pathlib.Path, runs: list[dict]) -> None:
  """Each final run's evaluations as ``seedN/metrics.jsonl`` under ``folder`` (and as
  TensorBoard events there, where the extra is installed), so that ``tensorboard
  --logdir OUT`` shows every row's validation and test curves, seed by seed."""
  from ..training import tensorboard_log
  for run in runs:
    seed_folder = folder / f"seed{run['seed']}"
    if outputs.is_writer():
      seed_folder.mkdir(parents=True, exist_ok=True)
    log = outputs.MetricsLog(seed_folder / "metrics.jsonl",
                             sink=tensorboard_log.metrics_sink(seed_folder))
    log.append([{k: v for k, v in e.items() if v is not None} for e in run["evaluations"]])


def train_group(config, optimizer: OptimizerConfig, baseline, label: str,
                training: data.Dataset, seeds, eval_every: int) -> dict:
  """One optimizer's final runs: every seed of ``seeds`` trained at once, validated (on
  ``training.validation``) and tested every ``eval_every`` epochs."""
  from ..training import multiseed, optimizers
  tic = time.perf_counter()
  runs = multiseed.train_seeds(dataclasses.replace(config, optimizer=optimizer), training,
                               list(seeds), eval_every,
                               validation=training.validation)
  resolved = optimizers.resolve(optimizer)
  return {"optimizer": label, "name": optimizer.name, "baseline": baseline,
          "learning_rate": resolved.learning_rate, "momentum": resolved.momentum,
          "weight_decay": optimizer.weight_decay, "runs": runs,
          "wall_time_s": time.perf_counter() - tic}


def with_measured(plan: dict, measured: dict) -> dict:
  """``plan`` (what ``workflows/plan.py`` estimated) with each unit's measured seconds,
  ``measured`` by unit name, and the ratio of measured to estimated, per unit and in all."""
  units = [{**u, "measured_seconds": measured.get(u["name"]),
            "measured_over_estimated": (measured[u["name"]] / u["estimated_seconds"]
                                        if u["name"] in measured and u.get("estimated_seconds")
                                        else None)} for u in plan["units"]]
  total = sum(measured.values())
  return {**plan, "units": units, "measured_seconds": total,
          "measured_over_estimated": total / plan["estimated_seconds"]
          if plan.get("estimated_seconds") else None}
