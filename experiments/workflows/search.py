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
training part of a validation split; each is scored by its final validation
accuracy. A diverged trial scores chance level, ``1 / num_classes``.

References: Bergstra and Bengio, "Random Search for Hyper-Parameter
Optimization", JMLR 2012; Schmidt, Schneider, Hennig, "Descending through a
Crowded Valley", ICML 2021 (the same random-search budget for every optimizer).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import data
from ..config import OptimizerConfig, SearchSpace, trial_optimizer
from ..config.suite import BUILT_IN
from ..training import lanes

__all__ = ["DIVERGED_SCORE", "best", "draw", "optimizer", "run"]

# The optimizer entry of one trial (e.g. the best, retrained): the schema's, so that the
# check stage probes a space with the very entry a trial trains.
optimizer = trial_optimizer

DIVERGED_SCORE = "chance level (1 / num_classes)"


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
