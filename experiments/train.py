"""Training: a pure train step, an epoch as one scan of it, evaluation.

Read top to bottom: the loss and its two processes for a batch; one
optimizer step (``train_step``); an epoch of steps over a seeded shuffle of
device-resident data (``make_segment``/``make_epoch``, one ``lax.scan``, jitted
with the state donated); evaluation on the test set. ``run.py`` drives these and writes the
outputs; ``sweep.py`` vmaps the very same epoch over a grid of cells.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import NamedSharding, PartitionSpec

import dualprocess


class TrainState(NamedTuple):
  params: Any
  opt_state: Any
  step: jax.Array  # int32 scalar: optimizer steps taken


def decompose(logits, labels, loss_name: str) -> dualprocess.Decomposition:
  """Per-example loss and its entropy and divergence processes."""
  if loss_name == "dual_process":
    return dualprocess.dual_process_decomposition(logits, labels)
  one_hot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.float32)
  return dualprocess.cross_entropy_decomposition(logits, one_hot)


def all_finite(tree) -> jax.Array:
  """A scalar bool: every element of every leaf is finite."""
  return jnp.all(jnp.array([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def batch_metrics(logits, labels, decomposition) -> dict:
  probabilities = jax.nn.softmax(logits.astype(jnp.float32))
  p_correct = jnp.take_along_axis(probabilities, labels[:, None], axis=-1)[:, 0]
  return {
      "loss": decomposition.cross_entropy.mean(),
      "entropy": decomposition.entropy.mean(),
      "divergence": decomposition.divergence.mean(),
      "p_correct": p_correct.mean(),
      "accuracy": (jnp.argmax(logits, -1) == labels).mean(),
  }


def make_train_step(graphdef, tx: optax.GradientTransformation, loss_name: str,
                    batch_sharding: Optional[NamedSharding] = None) -> Callable:
  """Returns ``train_step(state, x, y) -> (state, metrics)``, a pure function."""

  def train_step(state: TrainState, x, y):
    if batch_sharding is not None:  # data parallel: each device takes a slice of the batch
      x = jax.lax.with_sharding_constraint(x, batch_sharding)
      y = jax.lax.with_sharding_constraint(y, batch_sharding)

    def loss_fn(params):
      logits = nnx.merge(graphdef, params)(x)
      decomposition = decompose(logits, y, loss_name)
      return decomposition.cross_entropy.mean(), (logits, decomposition)

    (_, (logits, decomposition)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = batch_metrics(logits, y, decomposition)
    metrics["update_finite"] = all_finite(updates)
    return TrainState(params, opt_state, state.step + 1), metrics

  return train_step


def steps_per_epoch(num_train: int, batch_size: int) -> int:
  return num_train // batch_size  # the remainder is dropped; the shuffle changes each epoch


def epoch_key(seed, epoch):
  """The data-order key of an epoch: a function of (seed, epoch) alone, so resumable."""
  return jax.random.fold_in(jax.random.key(seed), epoch)


def make_segment(train_step: Callable, num_train: int, batch_size: int,
                 length: int) -> Callable:
  """Returns ``segment(state, x, y, key, offset) -> (state, per-step metrics)``.

  Runs ``length`` consecutive steps of an epoch, starting at step ``offset``
  of that epoch's shuffle, as one ``lax.scan``. The shuffle is a function of
  the epoch's key alone, so an epoch cut into segments (to checkpoint inside
  it) takes exactly the batches of the uncut epoch.
  """
  num_steps = steps_per_epoch(num_train, batch_size)

  def segment(state, train_x, train_y, key, offset):
    order = jax.random.permutation(key, num_train)[:num_steps * batch_size]
    batches = jax.lax.dynamic_slice_in_dim(order.reshape(num_steps, batch_size), offset,
                                           length)

    def body(state, indices):
      return train_step(state, train_x[indices], train_y[indices])

    return jax.lax.scan(body, state, batches)

  return segment


def make_epoch(train_step: Callable, num_train: int, batch_size: int) -> Callable:
  """Returns ``epoch(state, x, y, key) -> (state, per-step metrics)``: a whole epoch."""
  segment = make_segment(train_step, num_train, batch_size,
                         steps_per_epoch(num_train, batch_size))
  return lambda state, train_x, train_y, key: segment(state, train_x, train_y, key, 0)


def make_evaluate(graphdef, loss_name: str, chunk_size: int = 2048) -> Callable:
  """Returns ``evaluate(params, x, y) -> metrics`` over the whole set, in chunks."""

  def evaluate(params, x, y):
    n = x.shape[0]
    chunks = -(-n // chunk_size)
    pad = chunks * chunk_size - n
    xs = jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape(chunks, chunk_size,
                                                                   *x.shape[1:])
    ys = jnp.pad(y, (0, pad)).reshape(chunks, chunk_size)
    valid = (jnp.arange(chunks * chunk_size) < n).reshape(chunks, chunk_size)
    model = nnx.merge(graphdef, params)

    def chunk_sums(args):
      xc, yc, vc = args
      logits = model(xc)
      d = decompose(logits, yc, loss_name)
      correct = jnp.argmax(logits, -1) == yc
      sums = [d.cross_entropy, d.entropy, d.divergence, correct.astype(jnp.float32)]
      return jnp.stack([jnp.sum(jnp.where(vc, s, 0.0)) for s in sums])

    totals = jax.lax.map(chunk_sums, (xs, ys, valid)).sum(0) / n
    return {"test_loss": totals[0], "test_entropy": totals[1], "test_divergence": totals[2],
            "test_accuracy": totals[3]}

  return evaluate


def init_state(model: nnx.Module, tx: optax.GradientTransformation):
  """Splits a model into its static graph and a TrainState of arrays."""
  graphdef, params = nnx.split(model, nnx.Param)
  return graphdef, TrainState(params, tx.init(params), jnp.zeros((), jnp.int32))


def data_mesh(devices) -> jax.sharding.Mesh:
  """A 1-D mesh over the devices with one axis, ``data``."""
  return jax.sharding.Mesh(devices, ("data",))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec("data"))
