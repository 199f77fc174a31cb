"""Several seeds of one configuration in one compiled program, evaluated as they train.

The per-seed train states are stacked and the epoch of ``train.py`` runs over them
as lanes, as in the sweep (``lanes.lanewise``: ``jax.vmap`` on accelerators,
``lax.map`` on the CPU, where a seed's result is then the same bits whichever seeds
train beside it); here the optimizer is the same for every lane (any optax
transformation: its state is stacked too) and the
seeds differ in initialization, data order and dropout masks, and each lane
carries its own non-parameter state (batch statistics). Every ``eval_every`` epochs
the test set is evaluated for each seed, which is what time-to-target needs.
A seed that diverges turns its own lane non-finite and no other.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .. import data
from ..config import ExperimentConfig
from ..data import splits
from . import lanes, optimizers
from . import train as train_lib


def train_seeds(config: ExperimentConfig, dataset: data.Dataset, seeds, eval_every: int,
                progress=None, validation=None) -> list[dict]:
  """Trains ``config`` for each seed at once; returns per-seed results with evaluations.

  Each result has ``seed``, ``diverged`` (a non-finite loss or update at some
  step), ``evaluations`` (``step``, ``epoch``, ``test_accuracy``,
  ``test_loss``, ``train_seconds``: the cumulative training time of the whole
  vmapped program, compilation and evaluation excluded), and the final
  ``test_accuracy`` and ``test_loss`` (None when diverged). With ``validation``
  (``(x, y)`` held out of ``dataset``'s training set) every evaluation also has
  ``validation_accuracy`` and ``validation_loss``, and so does the result.
  """
  split = splits.for_run(dataset.train_y, config.dataset)
  steps_per_epoch = train_lib.steps_per_epoch(len(split.train), config.train.batch_size)
  tx = optimizers.create(config.optimizer, config.train.epochs * steps_per_epoch)
  built = lanes.programs(config, dataset, tx, seeds, len(split.train))
  states = jax.tree.map(lambda *leaves: jnp.stack(leaves), *[built.initial[s] for s in seeds])
  run_epochs, test_metrics = _seed_programs(config, built, split, seeds)
  arrays = [jnp.asarray(a) for a in (dataset.train_x, dataset.train_y, dataset.test_x,
                                     dataset.test_y)]
  validation_arrays = (None if validation is None
                       else [jnp.asarray(a) for a in validation])
  evaluations = [[] for _ in seeds]
  finite = np.ones(len(seeds), bool)
  train_seconds, done, compiled = 0.0, 0, {}
  while done < config.train.epochs:
    length = min(eval_every, config.train.epochs - done)
    epochs = jnp.arange(done, done + length)
    if length not in compiled:  # compile outside the clock, once per chunk length
      compiled[length] = run_epochs.lower(states, arrays[0], arrays[1], epochs).compile()
    tic = time.perf_counter()
    states, chunk_finite = compiled[length](states, arrays[0], arrays[1], epochs)
    finite &= np.asarray(chunk_finite)
    train_seconds += time.perf_counter() - tic
    done += length
    tests = jax.device_get(test_metrics(states, arrays[2], arrays[3]))
    held_out = (None if validation is None
                else jax.device_get(test_metrics(states, *validation_arrays)))
    for i in range(len(seeds)):
      evaluations[i].append(_evaluation(done, done * steps_per_epoch, train_seconds,
                                        bool(finite[i]), tests, held_out, i))
    if progress is not None:
      progress(done)
  keys = ("test_accuracy", "test_loss") + (() if validation is None else
                                            ("validation_accuracy", "validation_loss"))
  return [{"seed": seed, "diverged": not bool(finite[i]), "evaluations": evaluations[i],
           **{k: evaluations[i][-1][k] for k in keys}}
          for i, seed in enumerate(seeds)]


def _seed_programs(config: ExperimentConfig, built: lanes.Programs, split, seeds):
  """``(run_epochs, test_metrics)``: the seeds' epochs as lanes (every lane's loss and
  updates checked finite) and every lane's evaluation."""
  seed_array = jnp.asarray(seeds)
  resolved = optimizers.resolve(config.optimizer)
  dropout_keys = jnp.stack([train_lib.dropout_key(s, split.fold, resolved.learning_rate,
                                                  resolved.momentum) for s in seeds])
  train_indices = jnp.asarray(split.train)

  @jax.jit
  def run_epochs(states, train_x, train_y, epochs):
    def one_epoch(states, epoch_index):
      keys = jax.vmap(lambda s: train_lib.epoch_key(s, epoch_index))(seed_array)
      states, metrics = lanes.lanewise(built.epoch, (0, None, None, 0, None, 0),
                                       built.vectorized)(
          states, train_x, train_y, keys, train_indices, dropout_keys)
      finite = jnp.all(jnp.isfinite(metrics["loss"]) & metrics["update_finite"], axis=1)
      return states, finite

    states, finite = jax.lax.scan(one_epoch, states, epochs)
    return states, jnp.all(finite, axis=0)

  @jax.jit
  def test_metrics(states, test_x, test_y):
    def one(state):
      params = optimizers.evaluation_params(config.optimizer, state.opt_state, state.params)
      return built.evaluate(params, test_x, test_y, model_state=state.model_state)
    return lanes.lanewise(one, (0,), built.vectorized)(states)

  return run_epochs, test_metrics


def _evaluation(epoch: int, step: int, train_seconds: float, ok: bool, tests: dict,
                held_out, lane: int) -> dict:
  """One evaluation record of one seed (its accuracies None once it has diverged)."""
  record = {"epoch": epoch, "step": step, "train_seconds": train_seconds,
            "test_accuracy": float(tests["test_accuracy"][lane]) if ok else None,
            "test_loss": float(tests["test_loss"][lane]) if ok else None}
  if held_out is not None:
    record["validation_accuracy"] = float(held_out["test_accuracy"][lane]) if ok else None
    record["validation_loss"] = float(held_out["test_loss"][lane]) if ok else None
  return record
