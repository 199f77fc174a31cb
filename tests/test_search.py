"""Random-search spaces (experiments/search.py): any optax optimizer as a tuned baseline,
and a trial trained in the search equal to its entry retrained on its own."""

import dataclasses

import pytest

from experiments import config as config_lib
from experiments import data, loading
from experiments.config import ConfigError
from experiments.workflows import run as run_engine
from experiments.workflows import search as search_engine
from experiments.workflows import suite as suite_engine


def space(**keys) -> config_lib.SearchSpace:
  search = {"spaces": [{"label": "s", **keys}]}
  return loading.build(config_lib.SearchConfig, search).spaces[0]


@pytest.mark.parametrize("keys, fragment", [
    ({"name": "optax.adamx"}, "'spaces[0].name': optax has no 'optax.adamx'; did you mean"),
    ({"name": "optax.adamw", "one_minus_momentum": {"min": 0.01, "max": 0.5}},
     "'spaces[0].momentum': optax.adamw takes no argument 'momentum'; name its "
     "momentum-like one in spaces[0].momentum_argument"),
    ({"name": "optax.adamw", "momentum_argument": "beta1", "momentum": 0.9},
     "'spaces[0].momentum_argument': optax.adamw takes no argument 'beta1'"),
    ({"name": "optax.adamw", "kwargs": {"bogus": 1}},
     "'spaces[0].kwargs.bogus': optax.adamw takes no argument 'bogus'"),
    ({"name": "optax.adamw", "kwargs": {"weight_decay": 0.1},
      "weight_decay": {"min": 1e-5, "max": 1e-2}},
     "'spaces[0].weight_decay': optax.adamw decays by its own kwargs.weight_decay"),
    ({"name": "optax.identity"}, "'spaces[0].name': optax.identity takes no argument "
     "'learning_rate', which the search's learning-rate range sets"),
    ({"name": "adam", "kwargs": {"b2": 0.99}},
     "'spaces[0].kwargs': only for an optax name or a 'package.module:function'"),
    ({"name": "adam", "momentum": 0.9}, "name optax.adam with momentum_argument: b1"),
    ({"name": "no_such_module:make"}, "'spaces[0].name': 'no_such_module:make': cannot import "
     "module 'no_such_module': no module named 'no_such_module' "),
])
def test_a_space_that_cannot_be_searched_is_one_line_naming_its_key(keys, fragment):
  with pytest.raises(ConfigError) as error:
    space(**keys)
  assert fragment in str(error.value) and "\n" not in str(error.value)


def test_an_optax_space_draws_its_momentum_argument_and_keeps_its_kwargs():
  adamw = space(name="optax.adamw", momentum_argument="b1", kwargs={"b2": 0.99},
                one_minus_momentum={"min": 0.01, "max": 0.5})
  trial = search_engine.draw(adamw, 1, 0, 0)[0]
  entry = search_engine.optimizer(adamw, trial, label="tuned adamw")
  assert entry.name == "optax.adamw" and entry.kwargs == {"b2": 0.99}
  assert entry.momentum_argument == "b1" and entry.momentum == trial["momentum"]
  assert 0.5 <= entry.momentum <= 0.99
  lion = space(name="optax.lion")  # no momentum range: lion keeps its own b1
  assert search_engine.optimizer(lion, search_engine.draw(lion, 1, 0, 0)[0]).momentum is None


SPACES = {
    "optax.adamw, b1 and L2 decay tuned": dict(
        name="optax.adamw", momentum_argument="b1", kwargs={"b2": 0.99},
        learning_rate={"min": 1e-3, "max": 3e-2}, one_minus_momentum={"min": 0.05, "max": 0.5},
        weight_decay={"min": 1e-4, "max": 1e-2}),
    "optax.lion, its own b1": dict(name="optax.lion", learning_rate={"min": 1e-4, "max": 1e-3}),
    "adam, decoupled decay tuned": dict(name="adam", learning_rate={"min": 1e-3, "max": 3e-2},
                                        weight_decay={"min": 1e-3, "max": 1e-1},
                                        weight_decay_mask="kernels"),
    "sgd under a schedule": dict(name="sgd", momentum=0.9,
                                 learning_rate={"min": 0.01, "max": 0.3},
                                 weight_decay={"min": 1e-4, "max": 1e-2},
                                 schedule={"name": "warmup_cosine"}),
}


@pytest.mark.parametrize("name", SPACES)
def test_a_trial_scores_what_its_retrained_entry_scores(name):
  """The search's lanes and the final run build one chain: a trial's validation accuracy
  is what its entry, trained alone with the search's seed, scores on the same split."""
  config = config_lib.load(None, ["dataset.limit_train=400", "model.hidden_sizes=[16]",
                                  "train.epochs=2", "train.progress=false"])
  training, held_out = suite_engine.validation_split(data.load(config.dataset), 0.25, seed=0)
  tuned = space(**SPACES[name])
  trials = search_engine.run(config, training, tuned, search_engine.draw(tuned, 2, 0, 0),
                             trial_seeds=[0, 1])
  for trial in trials:
    entry = search_engine.optimizer(tuned, trial)
    for i, seed in enumerate((0, 1)):
      alone = dataclasses.replace(config, optimizer=entry,
                                  train=dataclasses.replace(config.train, seed=seed))
      on_validation = run_engine.train_and_evaluate(alone, held_out, progress=False)
      on_test = run_engine.train_and_evaluate(alone, training, progress=False)
      assert trial["per_seed_validation_accuracy"][i] == pytest.approx(
          on_validation["test_accuracy"], abs=1e-6)
      assert trial["per_seed_test_accuracy"][i] == pytest.approx(on_test["test_accuracy"],
                                                                 abs=1e-6)
    assert not trial["diverged"] and trial["seeds"] == [0, 1]
    assert trial["validation_accuracy"] == pytest.approx(
        sum(trial["per_seed_validation_accuracy"]) / 2)
  assert trials[0]["validation_accuracy"] != trials[1]["validation_accuracy"]
