"""What a suite or a transfer study will cost, stated before it trains:
``dualprocess-suite --plan CONFIG``, ``dualprocess-transfer --plan CONFIG``.

For every workload run (a workload under one loss at one budget) the plan counts the
lanes and steps of its searches and of its final runs, the evaluations and the compiled
programs, and prices them with a short calibration measured on this machine: a few
steps of each distinct model (its data, batch and loss) timed with the very epoch and
evaluation functions the engines compile (``training/lanes.py``), after a first call
that compiles them. On the CPU lanes run one after another (``lax.map``), so a lane
costs what one run costs. The estimate is

    seconds = lanes x steps x (seconds per step)
            + evaluated examples x (seconds per example)
            + programs x (seconds to compile one).

The memory peak is the calibration's peak resident memory plus every lane's state (its
parameters, optimizer state and gradients) of the widest program, both measured.
Every program is priced as a cold compilation: a program the persistent compilation cache
holds from an earlier run (a resumed suite, or a workload run of the same shapes) costs
less, so the estimate is an upper bound there. ``suite.json`` records the plan beside
the measured time.
"""

from __future__ import annotations

import dataclasses
import math
import time

from .. import data, outputs
from ..config import SuiteConfig
from . import groups
from . import suite as suite_lib

CALIBRATION_STEPS = 12
MODEL = ("seconds = lanes x steps x (seconds per step) + evaluated examples x (seconds per "
         "example) + programs x (seconds to compile one), each measured on this machine")


def calibrate(config, dataset: data.Dataset, steps: int = CALIBRATION_STEPS) -> dict:
  """Seconds per step, per evaluated example and per compiled program of ``config``'s model
  on ``dataset``: a step and an evaluated example timed with the engines' own epoch and
  evaluation functions once compiled (the fastest of three tries: a busy machine only
  slows them); a program as what two lanes of one epoch through the engine itself
  (``lanes.train_cells``) cost beyond their steps and evaluations (its compilation, data
  placement and dispatch); the state's bytes."""
  import jax

  from ..training import lanes
  batch = config.train.batch_size
  num_train = min(len(dataset.train_y), steps * batch)
  steps = max(1, num_train // batch)
  count = min(len(dataset.test_y), 512)
  small = dataset._replace(train_x=dataset.train_x[:num_train],
                           train_y=dataset.train_y[:num_train],
                           test_x=dataset.test_x[:count], test_y=dataset.test_y[:count],
                           validation=None)
  cells = [lanes.Cell(0.01, 0.9, seed) for seed in (0, 1)]
  probe = dataclasses.replace(config, sweep=None, train=dataclasses.replace(
      config.train, epochs=1, progress=False))
  cached = jax.config.jax_enable_compilation_cache
  jax.config.update("jax_enable_compilation_cache", False)  # price a cold compilation
  try:
    tic = time.perf_counter()
    lanes.train_cells(probe, small, cells)
    wall = time.perf_counter() - tic
  finally:
    jax.config.update("jax_enable_compilation_cache", cached)
  from ..training import train as train_lib
  built = lanes.programs(config, small, _optimizer(config, steps), [0], num_train)
  state = built.initial[0]
  epoch = jax.jit(built.epoch)
  arrays = (jax.numpy.asarray(small.train_x), jax.numpy.asarray(small.train_y),
            train_lib.epoch_key(0, 0), jax.numpy.arange(num_train), train_lib.dropout_key(0))
  per_step = min(_twice(lambda: epoch(state, *arrays))[1] for _ in range(3)) / steps
  evaluate = jax.jit(built.evaluate)
  x, y = jax.numpy.asarray(small.test_x), jax.numpy.asarray(small.test_y)
  _, eval_s = _twice(lambda: evaluate(state.params, x, y, model_state=state.model_state))
  per_example = eval_s / count
  state_bytes = sum(leaf.nbytes for leaf in jax.tree.leaves((state.params, state.opt_state)))
  program = max(0.0, wall - len(cells) * steps * per_step - len(cells) * count * per_example)
  return {"steps": steps, "seconds_per_step": per_step,
          "seconds_per_evaluated_example": per_example, "seconds_per_compilation": program,
          "state_bytes": int(state_bytes)}


def _optimizer(config, steps: int):
  from ..training import optimizers
  return optimizers.create(config.optimizer, steps)


def _twice(call) -> tuple[float, float]:
  """Seconds of the first call (compilation included) and of the second."""
  import jax

  times = []
  for _ in range(2):
    tic = time.perf_counter()
    jax.block_until_ready(call())
    times.append(time.perf_counter() - tic)
  return times[0], times[1]


def unit_cost(suite: SuiteConfig, config, dataset: data.Dataset, budget: float,
              calibration: dict) -> dict:
  """Lanes, steps, evaluations, programs, seconds and lane memory of one workload run."""
  config = suite_lib.at_budget(config, budget)
  training, _ = groups.validation_split(dataset, suite.validation_fraction,
                                        config.dataset.split_seed)
  spaces = suite.search.spaces
  rows = len(suite.optimizers) + len(spaces)
  return priced(config, training, calibration, searches=len(spaces),
                trials=suite.search.trials, trial_seeds=len(suite.search.trial_seeds),
                rows=rows, seeds=len(suite.seeds), eval_every=suite.eval_every)


def priced(config, training: data.Dataset, calibration: dict, *, searches: int, trials: int,
           trial_seeds: int, rows: int, seeds: int, eval_every: int) -> dict:
  """The cost of ``searches`` random searches and ``rows`` rows' final runs of ``config``
  on ``training`` (its training part, validation split and test set), by the model."""
  train_n, val_n, test_n = (len(training.train_y), len(training.validation[1]),
                            len(training.test_y))
  steps = config.train.epochs * max(1, train_n // config.train.batch_size)
  search_lanes = searches * trials * trial_seeds
  final_lanes = rows * seeds
  evaluations = math.ceil(config.train.epochs / eval_every)
  evaluated = (search_lanes * (test_n + val_n)
               + final_lanes * evaluations * (test_n + val_n))
  programs = searches + rows * 2  # a search's chunk; a group's epochs and its tests
  seconds = ((search_lanes + final_lanes) * steps * calibration["seconds_per_step"]
             + evaluated * calibration["seconds_per_evaluated_example"]
             + programs * calibration["seconds_per_compilation"])
  widest = max(trials * trial_seeds if searches else 0, seeds)
  return {"runs": search_lanes + final_lanes, "search_lanes": search_lanes,
          "final_runs": final_lanes, "epochs": config.train.epochs, "steps_per_run": steps,
          "train_examples": train_n, "validation_examples": val_n, "test_examples": test_n,
          "examples_trained": (search_lanes + final_lanes) * steps * config.train.batch_size,
          "evaluations_per_final_run": evaluations, "compilations": programs,
          "estimated_seconds": seconds,
          "lane_state_bytes": widest * 3 * calibration["state_bytes"]}


class Calibrations:
  """One calibration per setting (data, model, loss, batch, precision), not per name; the
  process's first compilation, which pays JAX's own start-up, is not priced."""

  def __init__(self, say):
    self.found, self.say, self.warmed = {}, say, False

  def __call__(self, name: str, config, dataset: data.Dataset) -> dict:
    key = repr((config.dataset, config.model, config.loss, config.train.batch_size,
                config.train.compute_dtype))
    if key not in self.found:
      if not self.warmed:
        calibrate(config, dataset, steps=2)
        self.warmed = True
      self.found[key] = calibrate(config, dataset)
      self.say(f"calibrated {name} ({config.loss.name} loss, batch "
               f"{config.train.batch_size}): "
               f"{1000 * self.found[key]['seconds_per_step']:.2f} ms a step")
    return self.found[key]


def plan(suite: SuiteConfig, workloads: dict, say=print) -> dict:
  """The cost of every workload run of ``suite``, estimated before anything trains."""
  calibrated, units = Calibrations(say), []
  for unit in suite_lib.units(suite):
    config = workloads[unit.workload.name]
    config = dataclasses.replace(config, loss=dataclasses.replace(config.loss, name=unit.loss),
                                 train=dataclasses.replace(config.train, progress=False))
    try:
      dataset = data.load(config.dataset)
    except Exception as error:  # an optional workload without its data: skipped, said
      if not unit.workload.optional:
        raise
      units.append({"name": unit.name, "skipped": str(error)})
      continue
    calibration = calibrated(unit.name, dataclasses.replace(
        config, optimizer=suite.optimizers[0]), dataset)
    units.append({"name": unit.name, "budget": unit.budget,
                  **unit_cost(suite, config, dataset, unit.budget, calibration)})
  return totals(units)


def plan_transfer(study, workloads: dict, say=print) -> dict:
  """The cost of a transfer study, one unit per workload and value (the reference search
  counted at the reference value), estimated before anything trains."""
  from . import transfer

  calibrated, units = Calibrations(say), []
  for workload in study.workloads:
    config = workloads[workload.name]
    config = dataclasses.replace(config, optimizer=study.pair, train=dataclasses.replace(
        config.train, progress=False))
    try:
      dataset = data.load(config.dataset)
    except Exception as error:
      if not workload.optional:
        raise
      units.append({"name": workload.name, "skipped": str(error)})
      continue
    training, _ = groups.validation_split(dataset, study.validation_fraction,
                                          config.dataset.split_seed)
    transfer.check_values(study, workload.name, training)
    for value in study.values:
      at, part = transfer.at_value(study, config, training, value)
      name = f"{workload.name} {study.vary}={value}"
      units.append({"name": name, study.vary: value, **priced(
          at, part, calibrated(name, at, part), searches=1 + (value == study.reference),
          trials=study.search.trials, trial_seeds=len(study.search.trial_seeds),
          rows=len(transfer.ROWS), seeds=len(study.seeds), eval_every=study.eval_every)})
  return totals(units)


def totals(units: list[dict]) -> dict:
  """The plan: its units and their sums, with the memory peak."""
  costed = [u for u in units if "skipped" not in u]
  return {"units": units, "calibration_steps": CALIBRATION_STEPS,
          "estimated_seconds": sum(u["estimated_seconds"] for u in costed),
          "compilations": sum(u["compilations"] for u in costed),
          "runs": sum(u["runs"] for u in costed),
          "peak_memory_mib": outputs.peak_rss_mib() + max(
              (u["lane_state_bytes"] for u in costed), default=0) / 2**20,
          "model": MODEL}


def table(planned: dict) -> str:
  """The plan as the command prints it: one row per workload run, then the totals."""
  lines = ["| workload run | runs (search lanes + final) | epochs | steps a run | examples "
           "trained | compilations | estimated time |", "|---|---|---|---|---|---|---|"]
  for u in planned["units"]:
    if "skipped" in u:
      lines.append(f"| {u['name']} | skipped: {u['skipped']} | | | | | |")
      continue
    lines.append(f"| {u['name']} | {u['runs']} ({u['search_lanes']} + {u['final_runs']}) | "
                 f"{u['epochs']} | {u['steps_per_run']} | {u['examples_trained']:,} | "
                 f"{u['compilations']} | {_duration(u['estimated_seconds'])} |")
  lines.append(f"\nin all: {planned['runs']} runs, {planned['compilations']} compilations, "
               f"about {_duration(planned['estimated_seconds'])} on this machine, a memory "
               f"peak of about {planned['peak_memory_mib']:.0f} MiB")
  return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
  if seconds < 120:
    return f"{seconds:.0f} s"
  if seconds < 7200:
    return f"{seconds / 60:.0f} min"
  return f"{seconds / 3600:.1f} h"
