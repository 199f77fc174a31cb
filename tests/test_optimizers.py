"""Optimizer entries of a config: what a name and a preset resolve to."""

import pytest

import dualprocess as dp
from experiments import optimizers
from experiments.config import OptimizerConfig


def test_dual_process_without_numbers_is_the_derived_pair():
  resolved = optimizers.resolve(OptimizerConfig(name="dual_process"))
  assert (resolved.learning_rate, resolved.momentum) == dp.hyperparameters("double_bayesian")
  # Six digits: the derived pair's label cannot be mistaken for the rounded quotation.
  assert resolved.label == "dual_process(lr=0.0158679, m=0.874032)"
  reported = optimizers.resolve(OptimizerConfig(name="dual_process", preset="reported"))
  assert reported.label == "dual_process(lr=0.016, m=0.874)"


@pytest.mark.parametrize("preset", dp.constants.NAMES)
@pytest.mark.parametrize("name", ["dual_process", "sgd"])
def test_every_preset_resolves_to_its_named_set(name, preset):
  resolved = optimizers.resolve(OptimizerConfig(name=name, preset=preset))
  assert (resolved.learning_rate, resolved.momentum) == dp.hyperparameters(preset)


def test_explicit_numbers_win_over_the_default():
  resolved = optimizers.resolve(OptimizerConfig(name="dual_process", learning_rate=0.1))
  assert (resolved.learning_rate, resolved.momentum) == (0.1, dp.hyperparameters().momentum)
