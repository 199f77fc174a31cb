"""Random search over a declared space, every trial chosen and scored on validation.

A baseline's search space is declared in the suite config before any run
(``../shared/METHODS.md`` section 2): the learning rate log-uniform, momentum
as ``1 - m`` log-uniform (or fixed), weight decay log-uniform (or none). The
optimizer is ``sgd``, ``adam``, or any optax optimizer by name (``optax.adamw``,
``optax.contrib.muon``) or ``package.module:function``, with fixed ``kwargs``
and its momentum-like argument named in ``momentum_argument`` (e.g. ``b1``).
Trials are drawn by a seeded generator, one stream per space, and trained as
lanes of one compiled program (``experiments.training.lanes``) on the
training part of a validation split; each is scored by its final validation
accuracy. A diverged trial scores chance level, ``1 / num_classes``.

References: Bergstra and Bengio, "Random Search for Hyper-Parameter
Optimization", JMLR 2012; Schmidt, Schneider, Hennig, "Descending through a
Crowded Valley", ICML 2021 (the same random-search budget for every optimizer).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Literal, Optional, Union

import numpy as np

from . import data
from .config import ConfigError, OptimizerConfig, ScheduleConfig
from .training import lanes
from .typed_yaml import WRITTEN_WHEN_SET, FrozenMapping, check_positive, check_range

BUILT_IN = ("sgd", "adam")

DIVERGED_SCORE = "chance level (1 / num_classes)"


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
    # Checked as the entry of a trial at the ranges' edges: the optimizer's own checks
    # (imports, kwargs, the momentum argument, one call), naming this space's keys.
    from .training import optax_names

    probe = optimizer(self, {"learning_rate": self.learning_rate.max,
                             "momentum": (self.momentum if self.momentum is not None
                                          else 1.0 - self.one_minus_momentum.max
                                          if self.one_minus_momentum is not None else 0.0),
                             "weight_decay": None if self.weight_decay is None
                             else self.weight_decay.min})
    # The name first (a name that does not resolve), then the learning rate the range
    # sets, before check(), whose message for it would say to leave it unset.
    optax_names.factory(self.name, f"{key}.name")
    if not optax_names.takes_learning_rate(probe):
      raise ConfigError(f"config key '{key}.name': {self.name} takes no argument "
                        "'learning_rate', which the search's learning-rate range sets")
    optax_names.check(probe, key)


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


def draw(space: SearchSpace, trials: int, seed: int, stream: int) -> list[dict]:
  """``trials`` hyperparameter sets of ``space``, the same for the same seed and stream."""
  rng = np.random.default_rng([seed, stream])
  rates = space.learning_rate.draw(rng, trials)
  if space.one_minus_momentum is not None:
    momenta = 1.0 - space.one_minus_momentum.draw(rng, trials)
  else:
    momenta = np.full(trials, space.momentum or 0.0)
  decays = (space.weight_decay.draw(rng, trials) if space.weight_decay is not None
            else [None] * trials)
  return [{"learning_rate": float(lr), "momentum": float(m),
           "weight_decay": None if wd is None else float(wd)}
          for lr, m, wd in zip(rates, momenta, decays, strict=True)]


def optimizer(space: SearchSpace, trial: dict, label: Optional[str] = None) -> OptimizerConfig:
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


def run(config, held_out: data.Dataset, space: SearchSpace, trials: list[dict],
        training_seed: int, stop=None) -> list[dict]:
  """Trains every trial on ``held_out``'s training part; its 'test' part is the validation
  split. Returns the trials with ``validation_accuracy`` (chance level when diverged),
  ``diverged`` and ``score_note``."""
  template = OptimizerConfig(name=space.name, learning_rate=1.0, schedule=space.schedule,
                             weight_decay_mask=space.weight_decay_mask,
                             momentum_argument=space.momentum_argument, kwargs=space.kwargs)
  swept = dataclasses.replace(config, optimizer=template, sweep=None,
                              train=dataclasses.replace(config.train, progress=False))
  decays = space.weight_decay is not None
  cells = [lanes.Cell(t["learning_rate"], t["momentum"], training_seed, 0,
                      t["weight_decay"] if decays else None) for t in trials]
  kwargs = {} if stop is None else {"stop": stop}
  # An optax name or a function without a momentum range keeps its own momentum.
  results = lanes.train_cells(swept, held_out, cells, momentum_per_lane=(
      space.name in BUILT_IN or space.tunes_momentum), **kwargs)
  chance = 1.0 / held_out.num_classes
  return [{**t, "diverged": r["diverged"],
           "validation_accuracy": chance if r["diverged"] else r["test_accuracy"]}
          for t, r in zip(trials, results, strict=True)]


def best(trials: list[dict]) -> dict:
  """The trial with the highest validation accuracy (the first of equals)."""
  return max(trials, key=lambda t: t["validation_accuracy"])
