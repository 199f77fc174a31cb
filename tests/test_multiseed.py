"""Seeds in one vmapped program equal the plain runner, seed by seed."""

import dataclasses

import pytest

from experiments import config as config_lib
from experiments import data, run
from experiments.training import multiseed


@pytest.fixture(scope="module")
def tiny():
  config = config_lib.load(None, ["dataset.limit_train=256", "model.hidden_sizes=[16]",
                                  "train.epochs=4", "train.progress=false"])
  return config, data.load(config.dataset)


# The default, and one whose evaluation parameters differ from its training ones.
@pytest.mark.parametrize("optimizer", [{}, {"name": "schedule_free_sgd"}])
def test_each_seed_equals_the_plain_runner(tiny, optimizer):
  config, dataset = tiny
  config = dataclasses.replace(config, optimizer=config_lib.build(
      config_lib.OptimizerConfig, optimizer, "optimizer"))
  results = multiseed.train_seeds(config, dataset, [0, 3], eval_every=3)
  for result in results:
    assert [e["epoch"] for e in result["evaluations"]] == [3, 4]  # every 3, and the end
    assert [e["step"] for e in result["evaluations"]] == [24, 32]
    plain = run.train_and_evaluate(dataclasses.replace(
        config, train=dataclasses.replace(config.train, seed=result["seed"])), dataset,
        progress=False)
    assert not result["diverged"]
    assert result["test_accuracy"] == pytest.approx(plain["test_accuracy"], abs=1e-6)
    assert result["test_loss"] == pytest.approx(plain["test_loss"], rel=1e-5)
  assert results[0]["test_accuracy"] != results[1]["test_accuracy"] or \
      results[0]["test_loss"] != results[1]["test_loss"]


def test_a_diverging_optimizer_is_flagged_per_seed(tiny):
  config, dataset = tiny
  config = dataclasses.replace(config, optimizer=config_lib.OptimizerConfig(
      name="sgd", learning_rate=1e30, momentum=0.9))
  results = multiseed.train_seeds(config, dataset, [0, 1], eval_every=2)
  for result in results:
    assert result["diverged"] and result["test_accuracy"] is None
    assert all(e["test_accuracy"] is None for e in result["evaluations"])
