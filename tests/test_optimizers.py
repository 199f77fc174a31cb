"""Optimizer entries of a config: what a name and a preset resolve to."""

import pytest

import dualprocess as dp
from experiments import optimizers
from experiments.config import OptimizerConfig


def test_dual_process_without_numbers_is_the_reported_pair():
  resolved = optimizers.resolve(OptimizerConfig(name="dual_process"))
  assert (resolved.learning_rate, resolved.momentum) == (0.016, 0.874)
  assert resolved.label == "dual_process(lr=0.016, m=0.874)"


@pytest.mark.parametrize("preset", ["reported", "information", "golden_partition",
                                    "traditional"])
@pytest.mark.parametrize("name", ["dual_process", "sgd"])
def test_every_preset_resolves_to_its_named_set(name, preset):
  resolved = optimizers.resolve(OptimizerConfig(name=name, preset=preset))
  assert (resolved.learning_rate, resolved.momentum) == dp.hyperparameters(preset)


def test_explicit_numbers_win_over_the_default():
  resolved = optimizers.resolve(OptimizerConfig(name="dual_process", learning_rate=0.1))
  assert (resolved.learning_rate, resolved.momentum) == (0.1, 0.874)
