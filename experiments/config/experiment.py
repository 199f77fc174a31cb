"""An experiment config: its sections, and the multi-run sections compare and sweep.

``ExperimentConfig`` is what ``run``, ``compare`` and ``sweep`` read; its ``validate``
checks what spans sections (folds named by compare or sweep need ``dataset.folds``; a
text and the transformer go together: ``text.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal, Optional, Union

from ..errors import ConfigError
from ..typed_yaml import WRITTEN_WHEN_SET, check_positive, check_range
from . import text
from .sections import (
  DatasetConfig,
  LossConfig,
  ModelConfig,
  OptimizerConfig,
  TrainConfig,
)


@dataclasses.dataclass(frozen=True)
class CompareConfig:
  seeds: tuple[int, ...] = (0, 1, 2)
  # With dataset.folds: the folds every optimizer trains on (null: all of them).
  folds: Optional[tuple[int, ...]] = None
  # The first entry is the reference: every other row gets an equivalence test
  # (TOST) against it over the matched runs, Holm-corrected over the rows.
  optimizers: tuple[OptimizerConfig, ...] = ()
  # The equivalence margin in accuracy, declared before the run: the largest
  # difference a practitioner would not act on (docs/methods.md).
  margin: float = 0.005
  alpha: float = 0.05  # each one-sided test's level; the interval is 1 - 2 alpha

  def validate(self, key):
    if not self.seeds:
      raise ConfigError(f"config key '{key}.seeds': needs at least one seed")
    if not self.optimizers:
      raise ConfigError(f"config key '{key}.optimizers': needs at least one optimizer")
    check_range(f"{key}.margin", self.margin, 0.0, 1.0, open_low=True)
    check_range(f"{key}.alpha", self.alpha, 0.0, 0.5, open_low=True, open_high=True)
    if self.folds is not None:
      if not self.folds or len(set(self.folds)) < len(self.folds):
        raise ConfigError(f"config key '{key}.folds': distinct folds, at least one, or null")
      for i, fold in enumerate(self.folds):
        check_positive(f"{key}.folds[{i}]", fold, minimum=0)


@dataclasses.dataclass(frozen=True)
class LogRange:
  min: float = 1e-3
  max: float = 1.0
  num: int = 8

  def validate(self, key):
    check_positive(f"{key}.num", self.num)
    if not (0 < self.min <= self.max and math.isfinite(self.max)):
      raise ConfigError(f"config key '{key}': needs 0 < min <= max, got min={self.min}, "
                        f"max={self.max}")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  # Log-spaced {min, max, num}, or the exact values as a list (an uneven grid).
  learning_rates: Union[LogRange, tuple[float, ...]] = LogRange()
  momenta: tuple[float, ...] = (0.0, 0.5, 0.9, 0.95, 0.99)
  seeds: tuple[int, ...] = (0, 1, 2)
  # With dataset.folds: the folds to train (null: all of them); every cell
  # trains once per fold and seed.
  folds: Optional[tuple[int, ...]] = None
  # A (learning rate, momentum) grid cell whose claim to be best is tested on
  # validation accuracy over folds (needs dataset.folds): its rank, and an
  # equivalence test (TOST) against the best cell with the margin below.
  reference: Optional[tuple[float, ...]] = None
  # The equivalence margin in accuracy: the largest difference a practitioner
  # would not act on, declared before the run (docs/methods.md).
  margin: float = 0.005
  # Cells trained at once; None: all of them. Either way a chunk that runs
  # out of device memory is retried at half the size.
  chunk_size: Optional[int] = None
  # How a chunk's cells share its one compiled program: vmap (lanes side by
  # side), map (one after another, lax.map) or auto: vmap on accelerators, map
  # on the CPU, where vmapping a CNN's matmuls only adds batch dimensions.
  lanes: Literal["auto", "vmap", "map"] = "auto"
  # An optax name or a function (optimizer.name): the argument the momentum axis is
  # passed as, e.g. b1 (optax.adamw, optax.lion) or beta (optax.contrib.muon); null:
  # optimizer.momentum_argument, or 'momentum' where the function takes one. Without
  # one the sweep needs momenta [0].
  momentum_argument: Optional[str] = dataclasses.field(default=None, metadata=WRITTEN_WHEN_SET)

  def validate(self, key):
    if self.momentum_argument is not None and not self.momentum_argument.isidentifier():
      raise ConfigError(f"config key '{key}.momentum_argument': must be an argument's name, "
                        f"got {self.momentum_argument!r}")
    for i, m in enumerate(self.momenta):
      check_range(f"{key}.momenta[{i}]", m, 0.0, 1.0, open_high=True)
    if isinstance(self.learning_rates, tuple):
      if not self.learning_rates:
        raise ConfigError(f"config key '{key}.learning_rates': needs at least one value")
      for i, lr in enumerate(self.learning_rates):
        if not (math.isfinite(lr) and lr > 0):
          raise ConfigError(f"config key '{key}.learning_rates[{i}]': must be a positive "
                            f"number, got {lr}")
    if not self.momenta or not self.seeds:
      raise ConfigError(f"config key '{key}': needs at least one momentum and one seed")
    for field in ("learning_rates", "momenta", "seeds", "folds"):
      values = getattr(self, field)
      if isinstance(values, tuple) and len(set(values)) < len(values):
        raise ConfigError(f"config key '{key}.{field}': a value appears twice")
    if self.folds is not None:
      if not self.folds:
        raise ConfigError(f"config key '{key}.folds': needs at least one fold, or null")
      for i, fold in enumerate(self.folds):
        check_positive(f"{key}.folds[{i}]", fold, minimum=0)
    if self.reference is not None and len(self.reference) != 2:
      raise ConfigError(f"config key '{key}.reference': expected [learning_rate, momentum], "
                        f"got {list(self.reference)}")
    check_range(f"{key}.margin", self.margin, 0.0, 1.0, open_low=True)
    if self.chunk_size is not None:
      check_positive(f"{key}.chunk_size", self.chunk_size)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
  dataset: DatasetConfig = DatasetConfig()
  model: ModelConfig = ModelConfig()
  loss: LossConfig = LossConfig()
  optimizer: OptimizerConfig = OptimizerConfig()
  train: TrainConfig = TrainConfig()
  compare: Optional[CompareConfig] = None
  sweep: Optional[SweepConfig] = None

  def validate(self, key):
    text.check_pairing(self.dataset, self.model)
    folds = self.dataset.folds
    if self.sweep is not None and self.sweep.reference is not None and folds is None:
      raise ConfigError("config key 'sweep.reference': the claim is judged on validation "
                        "folds; needs dataset.folds (the number of folds)")
    for section in ("sweep", "compare"):
      chosen = getattr(self, section)
      if chosen is None or chosen.folds is None:
        continue
      if folds is None:
        raise ConfigError(f"config key '{section}.folds': needs dataset.folds (the number of "
                          "folds)")
      for i, fold in enumerate(chosen.folds):
        if fold >= folds:
          raise ConfigError(f"config key '{section}.folds[{i}]': must lie in 0..{folds - 1} "
                            f"(dataset.folds = {folds}), got {fold}")
