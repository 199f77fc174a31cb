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

from dualprocess.constants import NAMES as HYPERPARAMETER_SETS

from ..errors import ConfigError
from ..typed_yaml import WRITTEN_WHEN_SET, FrozenMapping, check_positive, check_range
from .sections import OptimizerConfig, ScheduleConfig

# Built-in names a space takes; dual_process only with a preset (the derived pair, its
# weight decay tuned).
BUILT_IN = ("sgd", "adam", "dual_process")


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
  # The peak under a schedule; null only with a preset, which sets it.
  learning_rate: Optional[LogUniform] = LogUniform(1e-4, 1.0)
  # dual_process only: a named set of dualprocess.hyperparameters (e.g. double_bayesian,
  # the derived pair) fixing the learning rate and momentum of every trial, so that the
  # search tunes the rest (its weight decay): the pair's own answer to regularization.
  preset: Optional[Literal[HYPERPARAMETER_SETS]] = dataclasses.field(
      default=None, metadata=WRITTEN_WHEN_SET)
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
  weight_decay: Optional[LogUniform] = None  # null: no weight decay
  # As optimizer.weight_decay_style: 'l2' (added to the gradient before the update),
  # 'decoupled' (after it, scaled by the learning rate and schedule, as SGDW/AdamW);
  # null: adam decoupled, every other l2.
  weight_decay_style: Optional[Literal["l2", "decoupled"]] = dataclasses.field(
      default=None, metadata=WRITTEN_WHEN_SET)
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
    self._validate_preset(key)
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

  def _validate_preset(self, key):
    """A preset fixes the learning rate and momentum; only dual_process takes one."""
    if (self.preset is None) != (self.name != "dual_process"):
      raise ConfigError(f"config key '{key}.preset': dual_process is searched with a preset "
                        "(e.g. double_bayesian) fixing its learning rate and momentum, and "
                        "only dual_process takes one")
    if self.preset is None:
      if self.learning_rate is None:
        raise ConfigError(f"config key '{key}.learning_rate': a log-uniform range "
                          "{min, max}; null only with a preset")
      return
    if self.learning_rate is not None or self.tunes_momentum:
      raise ConfigError(f"config key '{key}.preset': sets the learning rate and momentum; "
                        "leave learning_rate null and momentum unset")
    if self.weight_decay is None:
      raise ConfigError(f"config key '{key}.weight_decay': a preset leaves only the weight "
                        "decay to search; give its range")


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  trials: int = 32  # N, the same for every space
  seed: int = 0  # the draws' generator
  # Every trial trains once per seed, the seeds as lanes of one program; its score is
  # the mean validation accuracy over them (one seed's luck is not a trial's merit).
  # They must differ from the final runs' seeds, so a chosen trial is judged on fresh ones.
  trial_seeds: tuple[int, ...] = (1000, 1001, 1002)
  spaces: tuple[SearchSpace, ...] = ()

  def validate(self, key):
    check_positive(f"{key}.trials", self.trials)
    check_positive(f"{key}.seed", self.seed, minimum=0)
    if not self.trial_seeds or len(set(self.trial_seeds)) < len(self.trial_seeds):
      raise ConfigError(f"config key '{key}.trial_seeds': distinct seeds, at least one")
    for i, seed in enumerate(self.trial_seeds):
      check_positive(f"{key}.trial_seeds[{i}]", seed, minimum=0)
    labels = [s.label for s in self.spaces]
    for i, label in enumerate(labels):
      if labels.count(label) > 1:
        raise ConfigError(f"config key '{key}.spaces[{i}].label': {label!r} appears twice")


def trial_optimizer(space: SearchSpace, trial: dict, label: Optional[str] = None
                    ) -> OptimizerConfig:
  """The optimizer entry of one trial (e.g. the best, retrained)."""
  if space.preset is not None:
    return OptimizerConfig(name=space.name, preset=space.preset, schedule=space.schedule,
                           weight_decay=trial["weight_decay"] or 0.0,
                           weight_decay_style=space.weight_decay_style,
                           weight_decay_mask=space.weight_decay_mask, label=label)
  if space.name in BUILT_IN:
    momentum = None if space.name == "adam" else trial["momentum"]
  else:
    momentum = trial["momentum"] if space.tunes_momentum else None
  return OptimizerConfig(name=space.name, learning_rate=trial["learning_rate"],
                         momentum=momentum, momentum_argument=space.momentum_argument,
                         kwargs=space.kwargs, schedule=space.schedule,
                         weight_decay=trial["weight_decay"] or 0.0,
                         weight_decay_style=space.weight_decay_style,
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
  # The budgets this workload runs at, each one of the suite's budgets; null: all of
  # them. Declared before the run where cost forbids every budget for every workload.
  budgets: Optional[tuple[float, ...]] = dataclasses.field(default=None,
                                                           metadata=WRITTEN_WHEN_SET)

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
  # Of the training set, stratified by class: 20 %, so that a trial's validation score
  # resolves differences of a fraction of a point on the small workloads (0.1 left 180
  # digits, where one image is 0.56 points).
  validation_fraction: float = 0.2
  search: SearchConfig = SearchConfig()
  # Multiples of every workload's epochs; each workload is searched and retrained at each
  # (a workload's own budgets may name a subset), reported per budget. [1]: as configured.
  budgets: tuple[float, ...] = dataclasses.field(default=(1.0,), metadata=WRITTEN_WHEN_SET)
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
    self._validate_seeds_and_budgets()
    check_positive("eval_every", self.eval_every)
    if not self.losses:
      raise ConfigError("config key 'losses': at least one loss")
    check_range("validation_fraction", self.validation_fraction, 0.0, 0.5, open_low=True)
    check_range("margin", self.margin, 0.0, 1.0, open_low=True)
    check_range("alpha", self.alpha, 0.0, 0.5, open_low=True, open_high=True)
    check_range("target_slack", self.target_slack, 0.0, 1.0)
    if not self.max_ratio > 1:
      raise ConfigError(f"config key 'max_ratio': must be above 1, got {self.max_ratio}")

  def _validate_seeds_and_budgets(self):
    shared = sorted(set(self.seeds) & set(self.search.trial_seeds))
    if shared:
      raise ConfigError(f"config key 'seeds': {shared} also in search.trial_seeds; the final "
                        "runs need seeds the trials did not train on")
    if not self.budgets or len(set(self.budgets)) < len(self.budgets):
      raise ConfigError("config key 'budgets': distinct multiples of the epochs, at least one")
    for i, budget in enumerate(self.budgets):
      if not (math.isfinite(budget) and budget > 0):
        raise ConfigError(f"config key 'budgets[{i}]': must be a positive number, got {budget}")
    for i, w in enumerate(self.workloads):
      for budget in w.budgets or ():
        if budget not in self.budgets:
          raise ConfigError(f"config key 'workloads[{i}].budgets': {budget:g} is not one of "
                            f"the suite's budgets {list(self.budgets)}")

  def budgets_of(self, workload: WorkloadConfig) -> tuple[float, ...]:
    """The budgets ``workload`` runs at, in the suite's order."""
    return tuple(b for b in self.budgets if workload.budgets is None or b in workload.budgets)
