"""Random search over a declared space, every trial chosen and scored on validation.

A baseline's search space is declared in the suite config before any run
(``experiments/config/suite.py``; the method: ``docs/methods.md``): the learning rate
log-uniform, momentum as ``1 - m`` log-uniform (or fixed), weight decay log-uniform (or
none). The
optimizer is ``sgd``, ``adam``, or any optax optimizer by name (``optax.adamw``,
``optax.contrib.muon``) or ``package.module:function``, with fixed ``kwargs``
and its momentum-like argument named in ``momentum_argument`` (e.g. ``b1``).
Trials are drawn by a seeded generator, one stream per space, and trained as
lanes of one compiled program (``experiments.training.lanes``) on the
training part of a validation split, once per trial seed; each is scored by its final
validation accuracy, the mean over its seeds, a diverged seed at chance level,
``1 / num_classes``. The test accuracy of every trial is recorded beside, never used
to choose: what a search delivers on test is computed from it.

References: Bergstra and Bengio, "Random Search for Hyper-Parameter
Optimization", JMLR 2012; Schmidt, Schneider, Hennig, "Descending through a
Crowded Valley", ICML 2021 (the same random-search budget for every optimizer).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import data
from ..config import SearchSpace, trial_optimizer
from ..config.suite import BUILT_IN
from ..training import lanes

__all__ = ["DIVERGED_SCORE", "best", "draw", "optimizer", "run"]

# The optimizer entry of one trial (e.g. the best, retrained): the schema's, so that the
# check stage probes a space with the very entry a trial trains.
optimizer = trial_optimizer

DIVERGED_SCORE = "chance level (1 / num_classes)"


def draw(space: SearchSpace, trials: int, seed: int, stream: int) -> list[dict]:
  """``trials`` hyperparameter sets of ``space``, the same for the same seed and stream.
  A space with a preset draws its weight decay only; its learning rate and momentum are
  the preset's."""
  rng = np.random.default_rng([seed, stream])
  if space.preset is not None:
    import dualprocess

    rate, momentum = dualprocess.hyperparameters(space.preset)
    rates, momenta = np.full(trials, float(rate)), np.full(trials, float(momentum))
  else:
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


def run(config, training: data.Dataset, space: SearchSpace, trials: list[dict],
        trial_seeds, stop=None) -> list[dict]:
  """Trains every trial once per seed of ``trial_seeds`` on ``training``'s training part,
  all as lanes of one program, each scored on ``training.validation`` and, for the
  record only, on the test set.

  Returns:
    The trials, each with ``per_seed_validation_accuracy`` and ``per_seed_test_accuracy``
    (None where that seed diverged), ``validation_accuracy`` (the mean over seeds, a
    diverged seed at chance level: the score a trial is chosen by), ``test_accuracy``
    (the same mean on test: recorded, never used to choose), ``diverged`` (any seed)
    and ``diverged_seeds``.
  """
  seeds = list(trial_seeds)
  template = trial_optimizer(space, {"learning_rate": 1.0, "momentum": 0.0,
                                     "weight_decay": None})
  template = dataclasses.replace(template, preset=None, learning_rate=1.0, momentum=None)
  swept = dataclasses.replace(config, optimizer=template, sweep=None,
                              train=dataclasses.replace(config.train, progress=False))
  decays = space.weight_decay is not None
  cells = [lanes.Cell(t["learning_rate"], t["momentum"], seed, 0,
                      t["weight_decay"] if decays else None)
           for t in trials for seed in seeds]
  kwargs = {} if stop is None else {"stop": stop}
  # An optax name or a function without a momentum range keeps its own momentum.
  results = lanes.train_cells(swept, training, cells, momentum_per_lane=(
      space.name in BUILT_IN or space.tunes_momentum), validation=training.validation,
      **kwargs)
  chance = 1.0 / training.num_classes
  scored = []
  for i, trial in enumerate(trials):
    lanes_of_trial = results[i * len(seeds):(i + 1) * len(seeds)]
    validation = [None if r["diverged"] else r["validation_accuracy"] for r in lanes_of_trial]
    test = [None if r["diverged"] else r["test_accuracy"] for r in lanes_of_trial]
    scored.append({**trial, "seeds": seeds,
                   "per_seed_validation_accuracy": validation, "per_seed_test_accuracy": test,
                   "validation_accuracy": float(np.mean([chance if v is None else v
                                                         for v in validation])),
                   "test_accuracy": float(np.mean([chance if v is None else v for v in test])),
                   "diverged": any(r["diverged"] for r in lanes_of_trial),
                   "diverged_seeds": sum(r["diverged"] for r in lanes_of_trial)})
  return scored


def best(trials: list[dict]) -> dict:
  """The trial with the highest validation accuracy (the first of equals)."""
  return max(trials, key=lambda t: t["validation_accuracy"])
