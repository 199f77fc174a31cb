"""One run's training programs, ready to drive: ``experiments.run`` steps through them.

:class:`Trainer` holds what ``train_and_evaluate`` would otherwise set up inline: the
devices and the data placed on them, the run's split of the training set, the
optimizer pipeline and the model (its initial :class:`~.train.TrainState`), the
segment programs (one compilation per segment length, ``segments.SegmentPlan``) and
the evaluation program, with the time spent compiling and training.
"""

from __future__ import annotations

import time

import jax
import numpy as np
import optax

from .. import models
from ..config import ExperimentConfig
from ..data import Dataset, splits
from ..errors import ConfigError
from ..hosts import agree
from . import optimizers, segments
from . import train as train_lib
from .devices import place, select_devices, to_host

# Large enough never to let a non-finite update through in a real run.
_MAX_SKIPPED_IN_A_ROW = 2**31 - 1


def build_optimizer(config: ExperimentConfig, total_steps: int) -> optax.GradientTransformation:
  """The config's optimizer pipeline; with ``train.skip_nonfinite``, a step whose update
  is not finite is skipped (``optax.apply_if_finite``)."""
  tx = optimizers.create(config.optimizer, total_steps)
  if config.train.skip_nonfinite:
    tx = optax.apply_if_finite(tx, max_consecutive_errors=_MAX_SKIPPED_IN_A_ROW)
  return tx


class Trainer:
  """The compiled programs and placed data of one run.

  Attributes:
    initial_state: the TrainState at step 0 (on the host until :meth:`place`).
    steps_per_epoch, total_steps, num_train: the run's length and training examples.
    devices: the devices the batch is split over.
    fold: the validation fold, or None.
    resolved: the optimizer's label and effective constants.
    compile_time, train_time, trained_steps: seconds compiling (the model's
      initialization included) and training, and the steps trained, so far.
  """

  def __init__(self, config: ExperimentConfig, dataset: Dataset):
    self.config = config
    self.devices = select_devices(config)
    mesh = train_lib.data_mesh(np.array(self.devices))
    self._replicated = train_lib.replicated(mesh)
    split = splits.for_run(dataset.train_y, config.dataset)
    self.fold = split.fold if split.validation is not None else None
    self.num_train = len(split.train)
    self.steps_per_epoch = train_lib.steps_per_epoch(self.num_train, config.train.batch_size)
    if self.steps_per_epoch == 0:
      raise ConfigError(f"config key 'train.batch_size': {config.train.batch_size} is larger "
                        f"than the {self.num_train} training examples")
    self.total_steps = config.train.epochs * self.steps_per_epoch
    tx = build_optimizer(config, self.total_steps)
    tic = time.perf_counter()  # one compiled initialization: counted as compile time
    model = models.create(config.model, dataset.input_shape, dataset.num_classes,
                          config.train.seed, config.train.compute_dtype,
                          sequence=dataset.sequence)
    self.compile_time = time.perf_counter() - tic
    graph, self.initial_state = train_lib.init_state(model, tx)
    self._step = train_lib.make_train_step(
        graph, tx, config.loss.name,
        train_lib.batch_sharded(mesh) if len(self.devices) > 1 else None)
    self._evaluate = train_lib.make_evaluate(graph, config.loss.name)
    self.plan = segments.SegmentPlan(self.steps_per_epoch, self.total_steps,
                                     config.train.checkpoint_every,
                                     config.train.segment_seconds,
                                     config.train.max_segment_steps)
    self._data = self.place((dataset.train_x, dataset.train_y, dataset.test_x,
                             dataset.test_y))
    self._train_indices = self.place(split.train)
    self._validation = None if split.validation is None else self.place(split.validation)
    self.resolved = optimizers.resolve(config.optimizer)
    self._dropout_key = train_lib.dropout_key(config.train.seed, split.fold,
                                              self.resolved.learning_rate,
                                              self.resolved.momentum)
    self._segments, self._evaluation = {}, None
    self.train_time, self.trained_steps = 0.0, 0

  def place(self, tree):
    """``tree`` replicated on the run's devices."""
    return place(tree, self._replicated)

  def compile(self, state, first_step: int) -> None:
    """Compiles the segment starting at ``first_step`` and the evaluation, so that
    neither counts as training time."""
    self._segment(self.plan.next_length(first_step), state)
    tic = time.perf_counter()
    self._evaluation = jax.jit(self._metrics).lower(state, *self._data,
                                                    self._validation).compile()
    self.compile_time += time.perf_counter() - tic

  def train(self, state, first_step: int):
    """Trains the segment that starts at ``first_step``.

    Returns:
      ``(state, metrics, length)``: the new state, the per-step metrics on the host and
      the segment's number of steps. The first segment's pace fixes the plan.
    """
    length = self.plan.next_length(first_step)
    segment = self._segment(length, state)
    epoch, offset = divmod(first_step, self.steps_per_epoch)
    train_x, train_y = self._data[:2]
    tic = time.perf_counter()
    state, metrics = segment(state, train_x, train_y,
                             train_lib.epoch_key(self.config.train.seed, epoch), offset,
                             self._train_indices, self._dropout_key)
    metrics = to_host(metrics)
    seconds = time.perf_counter() - tic
    self.train_time += seconds
    self.trained_steps += length
    if not self.plan.fixed:  # the same choice on every host
      self.plan.fix(agree(self.plan.proposal(length, seconds)), first_step + length)
    return state, metrics, length

  def evaluation_due(self, step: int) -> bool:
    """Whether ``step`` ends an epoch that ``train.eval_every`` evaluates (or the run)."""
    epochs, rest = divmod(step, self.steps_per_epoch)
    return rest == 0 and (epochs % self.config.train.eval_every == 0
                          or step == self.total_steps)

  def evaluate(self, state) -> dict:
    """Test metrics (and validation metrics where the run holds a fold out), as floats."""
    metrics = self._evaluation(state, *self._data, self._validation)
    return {key: float(value) for key, value in to_host(metrics).items()}

  def steps_taken(self, state) -> int:
    """The optimizer steps ``state`` has taken."""
    return int(to_host(state.step))

  def skipped_steps(self, state) -> int:
    """Steps whose update ``train.skip_nonfinite`` skipped."""
    if not self.config.train.skip_nonfinite:
      return 0
    return int(to_host(state.opt_state.total_notfinite))

  def _segment(self, length: int, state):
    """The compiled segment of ``length`` steps (compiled once; counted as compile time)."""
    if length not in self._segments:
      tic = time.perf_counter()
      segment = jax.jit(train_lib.make_segment(self._step, self.num_train,
                                               self.config.train.batch_size, length),
                        donate_argnums=0)
      self._segments[length] = segment.lower(
          state, *self._data[:2], train_lib.epoch_key(self.config.train.seed, 0), 0,
          self._train_indices, self._dropout_key).compile()
      self.compile_time += time.perf_counter() - tic
    return self._segments[length]

  def _metrics(self, state, train_x, train_y, test_x, test_y, validation):
    """Traced: the evaluation of ``state``'s evaluation parameters (a schedule-free
    optimizer's average) on the test set and on the validation fold, if any."""
    config = self.config
    opt_state = (state.opt_state.inner_state if config.train.skip_nonfinite
                 else state.opt_state)
    params = optimizers.evaluation_params(config.optimizer, opt_state, state.params)
    metrics = self._evaluate(params, test_x, test_y, model_state=state.model_state)
    if validation is not None:
      held_out = self._evaluate(params, train_x, train_y, validation, state.model_state)
      metrics.update({k.replace("test", "validation"): v for k, v in held_out.items()})
    return metrics
