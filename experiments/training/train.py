"""Training: a pure train step, an epoch as one scan of it, evaluation.

Read top to bottom: the loss and its two processes for a batch; one
optimizer step (``train_step``); an epoch of steps over a seeded shuffle of
the run's training examples, held on the device (``make_segment``/
``make_epoch``, one ``lax.scan``, jitted with the state donated); evaluation
on the test set. ``runner.py`` compiles these for one run, which ``run.py``
drives; ``sweep.py`` vmaps the very same epoch over a grid of cells.

A run trains on ``indices`` into the training arrays (all of them, or the
folds other than its validation fold), and its dropout masks come from its own
key folded with the step number, so a resumed run draws the same masks.

The state carries the model's non-parameter variables (``model_state``: the
batch statistics of ``nnx.BatchNorm`` and the like) beside the parameters; a
step calls the model in train mode and keeps the state it leaves, evaluation
calls it in eval mode (``experiments/models/variables.py``).
"""

from __future__ import annotations

import zlib
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

import dualprocess

from ..models import variables


class TrainState(NamedTuple):
  params: Any
  opt_state: Any
  step: jax.Array  # int32 scalar: optimizer steps taken
  model_state: Any  # the model's non-parameter variables (empty for the built-in models)


def decompose(logits, labels, loss_name: str) -> dualprocess.Decomposition:
  """Per-example loss and its entropy and divergence processes."""
  if loss_name == "dual_process":
    return dualprocess.dual_process_decomposition(logits, labels)
  one_hot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
  return dualprocess.cross_entropy_decomposition(logits, one_hot)


def all_finite(tree) -> jax.Array:
  """A scalar bool: every element of every leaf is finite."""
  return jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


LN2 = float(np.log(2.0))  # nats per bit


def bits(logits, labels) -> jax.Array:
  """Each label's negative log-likelihood under the logits, in bits: the cross-entropy
  loss over ln 2, whatever the loss trained (the dual-process loss is another number)."""
  log_p = jax.nn.log_softmax(logits.astype(jnp.float32))
  return -jnp.take_along_axis(log_p, labels[..., None], axis=-1)[..., 0] / LN2


def batch_metrics(logits, labels, decomposition) -> dict:
  """A step's metrics, means over the batch's labels (for sequence labels ``[B, T]``,
  over its tokens); sequences add ``bits_per_token`` (:func:`bits`)."""
  probabilities = jax.nn.softmax(logits.astype(jnp.float32))
  p_correct = jnp.take_along_axis(probabilities, labels[..., None], axis=-1)[..., 0]
  metrics = {
      "loss": decomposition.cross_entropy.mean(),
      "entropy": decomposition.entropy.mean(),
      "divergence": decomposition.divergence.mean(),
      "p_correct": p_correct.mean(),
      "accuracy": (jnp.argmax(logits, -1) == labels).mean(),
  }
  if labels.ndim > 1:
    metrics["bits_per_token"] = bits(logits, labels).mean()
  return metrics


def make_train_step(graph: variables.Graph, tx: optax.GradientTransformation,
                    loss_name: str,
                    batch_sharding: Optional[NamedSharding] = None) -> Callable:
  """Returns ``train_step(state, x, y, dropout_key) -> (state, metrics)``, a pure function.

  ``graph`` is :func:`init_state`'s. ``dropout_key`` is the run's; the step's masks use
  it folded with the step number. The model runs in train mode; its new non-parameter
  state (running averages) goes into the returned state.
  """

  def train_step(state: TrainState, x, y, dropout_key):
    if batch_sharding is not None:  # data parallel: each device takes a slice of the batch
      x = jax.lax.with_sharding_constraint(x, batch_sharding)
      y = jax.lax.with_sharding_constraint(y, batch_sharding)
    step_key = jax.random.fold_in(dropout_key, state.step)

    def loss_fn(params):
      logits, model_state = variables.apply(graph, params, state.model_state, x, step_key)
      decomposition = decompose(logits, y, loss_name)
      return decomposition.cross_entropy.mean(), (logits, decomposition, model_state)

    (_, (logits, decomposition, model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    if jax.tree.leaves(model_state):  # a non-finite batch leaves the statistics as they were
      kept = all_finite(model_state)
      model_state = jax.tree.map(lambda new, old: jnp.where(kept, new, old), model_state,
                                 state.model_state)
    metrics = batch_metrics(logits, y, decomposition)
    metrics["update_finite"] = all_finite(updates)
    return TrainState(params, opt_state, state.step + 1, model_state), metrics

  return train_step


def steps_per_epoch(num_train: int, batch_size: int) -> int:
  return num_train // batch_size  # the remainder is dropped; the shuffle changes each epoch


def epoch_key(seed, epoch):
  """The data-order key of an epoch: a function of (seed, epoch) alone, so resumable."""
  return jax.random.fold_in(jax.random.key(seed), epoch)


_DROPOUT_STREAM = zlib.crc32(b"dropout")


def dropout_key(seed: int, fold: int = 0, learning_rate=None, momentum=None) -> jax.Array:
  """The key of a run's dropout masks, its own for each (seed, fold, learning rate, momentum).

  So the cells of a sweep and the folds of a grid draw different masks, and a
  sweep cell draws the masks of the plain run with the same numbers. The
  hyperparameters enter as their float32 bits (``None``: 0), as the sweep
  holds them.
  """
  bits = lambda v: 0 if v is None else int(np.float32(v).view(np.uint32))
  key = jax.random.fold_in(jax.random.key(seed), _DROPOUT_STREAM)
  for part in (fold, bits(learning_rate), bits(momentum)):
    key = jax.random.fold_in(key, part)
  return key


def make_segment(train_step: Callable, num_train: int, batch_size: int,
                 length: int) -> Callable:
  """Returns ``segment(state, x, y, key, offset, indices, dropout_key) -> (state, metrics)``.

  Runs ``length`` consecutive steps of an epoch, starting at step ``offset``
  of that epoch's shuffle, as one ``lax.scan``. The epoch visits the
  ``num_train`` training examples ``indices`` (into ``x`` and ``y``) in an
  order that is a function of the epoch's key alone, so an epoch cut into
  segments (to checkpoint inside it) takes exactly the batches of the uncut
  epoch. With ``indices = arange(len(x))`` the order is the permutation itself.
  """
  num_steps = steps_per_epoch(num_train, batch_size)

  def segment(state, train_x, train_y, key, offset, indices, dropout_key):
    order = indices[jax.random.permutation(key, num_train)[:num_steps * batch_size]]
    batches = jax.lax.dynamic_slice_in_dim(order.reshape(num_steps, batch_size), offset,
                                           length)

    def body(state, batch):
      return train_step(state, train_x[batch], train_y[batch], dropout_key)

    return jax.lax.scan(body, state, batches)

  return segment


def make_epoch(train_step: Callable, num_train: int, batch_size: int) -> Callable:
  """Returns ``epoch(state, x, y, key, indices, dropout_key) -> (state, per-step metrics)``."""
  segment = make_segment(train_step, num_train, batch_size,
                         steps_per_epoch(num_train, batch_size))
  return lambda state, train_x, train_y, key, indices, dropout_key: segment(
      state, train_x, train_y, key, 0, indices, dropout_key)


def evaluation_chunk() -> int:
  """Examples per evaluated chunk: 2048 on accelerators; 256 on the CPU, where a CNN's
  im2col columns of 2048 images (about 230 MB) leave the caches and run at half the speed."""
  return 256 if jax.default_backend() == "cpu" else 2048


def make_evaluate(graph: variables.Graph, loss_name: str,
                  chunk_size: Optional[int] = None) -> Callable:
  """Returns ``evaluate(params, x, y, indices=None, model_state=None) -> metrics``, in chunks.

  Over all of ``x`` and ``y``, or over the examples ``indices`` (a validation
  fold inside the training arrays), gathered one chunk at a time. The model runs in
  eval mode with ``model_state`` (the train state's: running averages), which may be
  left out only for a model without such state. With sequence labels ``y [N, T]`` every
  window's metrics are its tokens' means first, so that the results are means over the
  tokens (every window holds ``T``), and ``test_bits_per_token`` (:func:`bits`) is
  added.
  """
  chunk_size = chunk_size or evaluation_chunk()

  def evaluate(params, x, y, indices=None, model_state=None):
    if model_state is None:
      model_state = nnx.State({})
    if indices is None:
      indices = jnp.arange(x.shape[0])
    n = indices.shape[0]
    chunks = -(-n // chunk_size)
    pad = chunks * chunk_size - n
    index_chunks = jnp.pad(indices, (0, pad)).reshape(chunks, chunk_size)
    valid = (jnp.arange(chunks * chunk_size) < n).reshape(chunks, chunk_size)

    def chunk_sums(args):
      ic, vc = args
      xc, yc = x[ic], y[ic]
      logits, _ = variables.apply(graph, params, model_state, xc)
      d = decompose(logits, yc, loss_name)
      correct = jnp.argmax(logits, -1) == yc
      sums = [d.cross_entropy, d.entropy, d.divergence, correct.astype(jnp.float32)]
      if yc.ndim > 1:  # every window's means over its tokens
        sums = [s.reshape(s.shape[0], -1).mean(1) for s in [*sums, bits(logits, yc)]]
      return jnp.stack([jnp.sum(jnp.where(vc, s, 0.0)) for s in sums])

    totals = jax.lax.map(chunk_sums, (index_chunks, valid)).sum(0) / n
    metrics = {"test_loss": totals[0], "test_entropy": totals[1],
               "test_divergence": totals[2], "test_accuracy": totals[3]}
    if y.ndim > 1:
      metrics["test_bits_per_token"] = totals[4]
    return metrics

  return evaluate


def init_state(model: nnx.Module, tx: optax.GradientTransformation):
  """Splits a model into its static graph and a TrainState of arrays.

  Args:
    model: any ``nnx.Module`` (built-in or the user's).
    tx: the optimizer; it sees the parameters (``nnx.Param``) only.

  Returns:
    ``(graph, state)``: the :class:`variables.Graph` that :func:`make_train_step` and
    :func:`make_evaluate` take, and the TrainState at step 0.
  """
  graph, params, model_state = variables.split(model)
  return graph, TrainState(params, tx.init(params), jnp.zeros((), jnp.int32), model_state)


def data_mesh(devices) -> jax.sharding.Mesh:
  """A 1-D mesh over the devices with one axis, ``data``."""
  return jax.sharding.Mesh(devices, ("data",))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec("data"))
