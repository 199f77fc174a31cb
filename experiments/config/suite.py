"""The suite's schema: its workloads, its declared random-search spaces, its margins.

``SuiteConfig`` is what ``dualprocess-suite`` reads; each workload names an experiment
config (``experiments/config/experiment.py``). A baseline's search space is declared
before any run (``docs/methods.md``): the learning rate log-uniform, momentum as
``1 - m`` log-uniform (or fixed), weight decay log-uniform (or none).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Literal, Optional, Union

import numpy as np

from ..errors import ConfigError
from ..typed_yaml import WRITTEN_WHEN_SET, FrozenMapping, check_positive, check_range
from .sections import OptimizerConfig, ScheduleConfig

BUILT_IN = ("sgd", "adam")

@dataclasses.dataclass(frozen=True)
class LogUniform:
  min: float
  max: float

  def validate(self, key):
    if not (0 < self.min < self.max and math.isfinite(self.max)):
      raise ConfigError(f"config key '{key}': needs 0 < min < max, got min={self.min}, "
                        f"max={self.max}")

  def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
    return np.exp(rng.uniform(math.log(self.min), math.log(self.max), size))


@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """One tuned baseline: an optimizer with a schedule, its ranges for random search."""

  label: str  # the baseline's name in tables, e.g. 'tuned sgd'
  # sgd, adam, or any optax optimizer as optimizer.name takes it: 'optax.NAME',
  # 'optax.contrib.NAME' or 'package.module:function' (imported: its code runs).
  name: Union[Literal[BUILT_IN], str] = "sgd"
  learning_rate: LogUniform = LogUniform(1e-4, 1.0)  # the peak under a schedule
  # momentum = 1 - x with x log-uniform (sgd), or a fixed momentum; neither: none (an
  # optax name or a function: its own default).
  one_minus_momentum: Optional[LogUniform] = None
  momentum: Optional[float] = None
  # An optax name or a function: the argument momentum is passed as (e.g. b1 of
  # optax.adamw); null: 'momentum' where it takes one.
  momentum_argument: Optional[str] = dataclasses.field(default=None, metadata=WRITTEN_WHEN_SET)
  # An optax name or a function: its other keyword arguments, fixed for every trial.
  kwargs: dict[str, Any] = dataclasses.field(default_factory=FrozenMapping,
                                             metadata=WRITTEN_WHEN_SET)
  weight_decay: Optional[LogUniform] = None  # adam: decoupled (adamw); others: L2; null: none
  weight_decay_mask: Literal["all", "kernels"] = "all"
  schedule: ScheduleConfig = ScheduleConfig()

  @property
  def tunes_momentum(self) -> bool:
    return self.momentum is not None or self.one_minus_momentum is not None

  def validate(self, key):
    if not re.fullmatch(r"[A-Za-z0-9_.+ ()-]+", self.label):
      raise ConfigError(f"config key '{key}.label': letters, digits, spaces and _.+()- only, "
                        f"got {self.label!r}")
    if self.momentum is not None:
      check_range(f"{key}.momentum", self.momentum, 0.0, 1.0, open_high=True)
    if self.one_minus_momentum is not None:
      if self.momentum is not None:
        raise ConfigError(f"config key '{key}.momentum': give momentum or one_minus_momentum, "
                          "not both")
      if self.one_minus_momentum.max > 1:
        raise ConfigError(f"config key '{key}.one_minus_momentum.max': at most 1 (momentum "
                          f">= 0), got {self.one_minus_momentum.max}")
    if self.name == "adam" and self.tunes_momentum:
      raise ConfigError(f"config key '{key}.momentum': adam's b1 stays optax's default (0.9); "
                        "to tune it, name optax.adam with momentum_argument: b1")
    if self.name in BUILT_IN:
      for field in ("kwargs", "momentum_argument"):
        if getattr(self, field):
          raise ConfigError(f"config key '{key}.{field}': only for an optax name or a "
                            f"'package.module:function', not '{self.name}'")
      return
    # An optax name or a function: checked as a trial's entry after parsing
    # (experiments/loading.py).


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  trials: int = 32  # N, the same for every space
  seed: int = 0  # the draws' generator
  training_seed: int = 0  # every trial's initialization and data order
  spaces: tuple[SearchSpace, ...] = ()

  def validate(self, key):
    check_positive(f"{key}.trials", self.trials)
    check_positive(f"{key}.seed", self.seed, minimum=0)
    labels = [s.label for s in self.spaces]
    for i, label in enumerate(labels):
      if labels.count(label) > 1:
        raise ConfigError(f"config key '{key}.spaces[{i}].label': {label!r} appears twice")


def trial_optimizer(space: SearchSpace, trial: dict, label: Optional[str] = None
                    ) -> OptimizerConfig:
  """The optimizer entry of one trial (e.g. the best, retrained)."""
  if space.name in BUILT_IN:
    momentum = None if space.name == "adam" else trial["momentum"]
  else:
    momentum = trial["momentum"] if space.tunes_momentum else None
  return OptimizerConfig(name=space.name, learning_rate=trial["learning_rate"],
                         momentum=momentum, momentum_argument=space.momentum_argument,
                         kwargs=space.kwargs, schedule=space.schedule,
                         weight_decay=trial["weight_decay"] or 0.0,
                         weight_decay_mask=space.weight_decay_mask, label=label)


LOSSES = ("cross_entropy", "dual_process")


@dataclasses.dataclass(frozen=True)
class WorkloadConfig:
  name: str
  config: str  # an experiment config file, relative to the suite file's folder
  # Validation accuracy that counts as reaching the workload's goal; null: the
  # suite's target rule.
  target: Optional[float] = None
  overrides: tuple[str, ...] = ()  # KEY=VALUE, as with --set
  clean_twin: Optional[str] = None  # for a label-noise workload: the clean one
  optional: bool = False  # skipped, with its reason, when its data files are absent
  margin: Optional[float] = None  # the equivalence margin; null: the suite's
  losses: Optional[tuple[Literal[LOSSES], ...]] = None  # null: the suite's

  def validate(self, key):
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", self.name):
      raise ConfigError(f"config key '{key}.name': letters, digits, '_', '-', '.' only, "
                        f"got {self.name!r}")
    if self.target is not None:
      check_range(f"{key}.target", self.target, 0.0, 1.0, open_low=True)
    if self.margin is not None:
      check_range(f"{key}.margin", self.margin, 0.0, 1.0, open_low=True)
    if self.losses is not None and not self.losses:
      raise ConfigError(f"config key '{key}.losses': at least one loss, or null")


@dataclasses.dataclass(frozen=True)
class SuiteConfig:
  workloads: tuple[WorkloadConfig, ...] = ()
  # The first is the reference every other row is compared with (the derived pair).
  optimizers: tuple[OptimizerConfig, ...] = ()
  seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
  eval_every: int = 1  # epochs between evaluations (the time-to-target resolution)
  # Each workload trains once per loss: cross_entropy (the author's), and our
  # dual_process loss as a second factor, reported apart.
  losses: tuple[Literal[LOSSES], ...] = ("cross_entropy",)
  validation_fraction: float = 0.1  # of the training set, stratified by class
  search: SearchConfig = SearchConfig()
  # The equivalence margin in accuracy (a workload may set its own), declared
  # before the run: the largest difference a practitioner would not act on.
  margin: float = 0.005
  alpha: float = 0.05  # each one-sided test's level; intervals are 1 - 2 alpha
  # A workload without a target: the best validation accuracy of any baseline
  # trial, less this, rounded down to 3 decimals (fixed before the final runs).
  target_slack: float = 0.01
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
    if not self.losses:
      raise ConfigError("config key 'losses': at least one loss")
    check_range("validation_fraction", self.validation_fraction, 0.0, 0.5, open_low=True)
    check_range("margin", self.margin, 0.0, 1.0, open_low=True)
    check_range("alpha", self.alpha, 0.0, 0.5, open_low=True, open_high=True)
    check_range("target_slack", self.target_slack, 0.0, 1.0)
    if not self.max_ratio > 1:
      raise ConfigError(f"config key 'max_ratio': must be above 1, got {self.max_ratio}")
