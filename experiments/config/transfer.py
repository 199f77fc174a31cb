"""The transfer studies' schema: does a fixed learning rate hold when the batch or the data
changes? (``dualprocess-transfer``; the method: ``docs/methods.md``, "Transfer studies").

A study varies one thing, ``vary``: ``batch_size`` (the workload's batch, at a fixed epoch
budget) or ``train_size`` (the number of training examples, a nested subset of the
training part, at a fixed epoch budget and a fixed validation split). At every value it
trains three rows on the same seeds:

- the derived pair, unchanged (``pair``);
- the SGD tuned once at the ``reference`` value by a random search of ``search.trials``
  trials over ``tuned`` (learning rate and momentum), transferred unchanged;
- SGD with its learning rate re-tuned at this value: a random search of the same
  ``search.trials`` over ``tuned``'s learning-rate range, its momentum the tuned one.

Every row is compared with the re-tuned one by an equivalence test on final test
accuracy, paired by seed, at ``margin``, Holm-corrected over the workload's family.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..errors import ConfigError
from ..typed_yaml import check_positive, check_range
from .sections import OptimizerConfig
from .suite import LogUniform, SearchConfig, SearchSpace, WorkloadConfig

VARIED = ("batch_size", "train_size")
# What a study's JSON lists its values under, by what it varies.
VALUES_KEY = {"batch_size": "batch_sizes", "train_size": "train_sizes"}


def _tuned_sgd() -> SearchSpace:
  return SearchSpace(label="tuned sgd", name="sgd", learning_rate=LogUniform(1e-4, 1.0),
                     one_minus_momentum=LogUniform(1e-3, 1.0))


@dataclasses.dataclass(frozen=True)
class TransferConfig:
  # What changes from value to value: the batch size (at the workload's epochs), or the
  # number of training examples (nested subsets of the training part).
  vary: Literal[VARIED] = "batch_size"
  values: tuple[int, ...] = ()  # batch sizes or training-set sizes, ascending
  reference: int = 64  # the value the transferred SGD is tuned at: one of values
  workloads: tuple[WorkloadConfig, ...] = ()
  # The derived pair, unchanged at every value.
  pair: OptimizerConfig = OptimizerConfig(name="dual_process", preset="double_bayesian")
  # The tuned SGD's space: the learning rate and momentum, searched at the reference.
  # The re-tuned row searches its learning-rate range only, the tuned momentum fixed.
  tuned: SearchSpace = dataclasses.field(default_factory=_tuned_sgd)
  # N trials per search and the trial seeds; its spaces stay empty (tuned is the space).
  search: SearchConfig = SearchConfig(trials=8)
  # The final runs' seeds, the same for every row at every value; none of the trial seeds.
  seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
  eval_every: int = 1  # epochs between the final runs' evaluations (their curves)
  # Of the whole training set, stratified, held out once: every value is scored on the
  # same validation examples (a train_size subset is drawn from the rest).
  validation_fraction: float = 0.2
  # The equivalence margin in accuracy (a workload may set its own), declared before
  # the run: the largest difference from the re-tuned SGD a practitioner would not act on.
  margin: float = 0.01
  alpha: float = 0.05  # each one-sided test's level; intervals are 1 - 2 alpha

  def validate(self, key):
    if not self.workloads:
      raise ConfigError("config key 'workloads': a transfer study needs at least one workload")
    if len(self.values) < 2 or list(self.values) != sorted(set(self.values)):
      raise ConfigError(f"config key 'values': at least two distinct {self.vary} values in "
                        f"ascending order, got {list(self.values)}")
    for i, value in enumerate(self.values):
      check_positive(f"values[{i}]", value)
    if self.reference not in self.values:
      raise ConfigError(f"config key 'reference': {self.reference} is not one of values "
                        f"{list(self.values)}")
    names = [w.name for w in self.workloads]
    for i, w in enumerate(self.workloads):
      if names.count(w.name) > 1:
        raise ConfigError(f"config key 'workloads[{i}].name': {w.name!r} appears twice")
      if w.budgets or w.losses or w.clean_twin or w.target is not None:
        raise ConfigError(f"config key 'workloads[{i}]': a transfer study's workload takes "
                          "name, config, overrides, optional and margin only")
    if self.search.spaces:
      raise ConfigError("config key 'search.spaces': a transfer study searches 'tuned' only; "
                        "leave spaces empty")
    if self.tuned.name != "sgd" or self.tuned.schedule.name != "constant":
      raise ConfigError("config key 'tuned.name': the transfer study tunes constant-step "
                        "sgd (its learning rate is what transfers or not)")
    if not self.seeds or len(set(self.seeds)) < len(self.seeds):
      raise ConfigError("config key 'seeds': distinct seeds, at least one")
    shared = sorted(set(self.seeds) & set(self.search.trial_seeds))
    if shared:
      raise ConfigError(f"config key 'seeds': {shared} also in search.trial_seeds; the final "
                        "runs need seeds the trials did not train on")
    check_positive("eval_every", self.eval_every)
    check_range("validation_fraction", self.validation_fraction, 0.0, 0.5, open_low=True)
    check_range("margin", self.margin, 0.0, 1.0, open_low=True)
    check_range("alpha", self.alpha, 0.0, 0.5, open_low=True, open_high=True)

  @property
  def values_key(self) -> str:
    """``batch_sizes`` or ``train_sizes``: what the study's JSON lists its values under."""
    return VALUES_KEY[self.vary]
