"""Seeds in one program equal the plain runner, seed by seed, whichever seeds share it."""

import dataclasses
import pathlib

import jax
import pytest

from experiments import config as config_lib
from experiments import data
from experiments.training import multiseed
from experiments.workflows import run as run_engine


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
    plain = run_engine.train_and_evaluate(dataclasses.replace(
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


@pytest.mark.skipif(jax.default_backend() != "cpu",
                    reason="accelerators vmap the seeds (lanes 'auto'); only mapped lanes are "
                    "bit-identical whatever their number")
def test_a_seeds_result_does_not_depend_on_the_seeds_beside_it(monkeypatch):
  """On the CPU the seeds are mapped lanes, so seed 2 trains to the same bits in a program
  of five seeds as in one of two. (Vmapped, these two programs differed in the first
  epoch's test loss, 1.9448625 against 1.9448622; the example suite's ResNet, over 5
  epochs, by up to 11 of 360 test images between 10 and 3 seeds.)"""
  monkeypatch.syspath_prepend(str(pathlib.Path(__file__).parent.parent / "examples"
                                  / "own_workload"))
  config = config_lib.load(None, [
      "model.name=my_models:resnet", "model.kwargs={width: 8, blocks: 1, dropout: 0.1}",
      "optimizer.name=adam", "optimizer.learning_rate=0.0253", "dataset.limit_train=600",
      "train.epochs=1", "train.progress=false"])
  dataset = data.load(config.dataset)
  five = multiseed.train_seeds(config, dataset, [0, 1, 2, 3, 4], eval_every=1)
  two = multiseed.train_seeds(config, dataset, [1, 2], eval_every=1)
  scores = lambda result: [(e["test_accuracy"], e["test_loss"]) for e in result["evaluations"]]
  assert five[2]["seed"] == two[1]["seed"] == 2
  assert scores(five[2]) == scores(two[1])  # bit for bit
  assert scores(five[1]) == scores(two[0]) != scores(two[1])
