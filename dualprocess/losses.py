"""Cross-entropy split into its two processes, and the dual-process loss.

Like ``optax.losses``, every function takes arrays and returns one value per
example; reducing over the batch is left to the caller. Everything is jit-,
vmap- and grad-safe. Low-precision inputs (bfloat16, float16) are computed in
float32 and returned in float32; float64 stays float64.

References:
  Jaeger, `A Dual Process Model for Optimizing Cross Entropy in Neural
  Networks <https://arxiv.org/abs/2104.13277>`_, 2021. The decomposition is
  standard information theory; the equilibrium target is this toolkit's
  formalization (``docs/theory.md``).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import chex
import jax
import jax.numpy as jnp
import numpy as np

from dualprocess import theory


class Decomposition(NamedTuple):
  """Per-example ``cross_entropy = entropy + divergence``, in nats."""

  cross_entropy: chex.Array
  entropy: chex.Array
  divergence: chex.Array


def _is_concrete(x) -> bool:
  return not isinstance(x, jax.core.Tracer)


def _compute_dtype(*arrays) -> jnp.dtype:
  """At least float32: low-precision inputs are upcast before any log or exp."""
  return jnp.promote_types(jnp.result_type(*arrays), jnp.float32)


def _check_logits(fn: str, logits) -> jax.Array:
  logits = jnp.asarray(logits)
  if logits.ndim == 0:
    raise ValueError(f"{fn}: logits must have a class axis, got a scalar")
  if not jnp.issubdtype(logits.dtype, jnp.floating):
    raise TypeError(f"{fn}: logits must be floating point, got dtype {logits.dtype}")
  return logits


def _check_labels(fn: str, labels, logits: jax.Array) -> jax.Array:
  """Integer labels of the logits' batch shape; values checked when concrete."""
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(
        f"{fn}: labels must be integers (class indices), got dtype {labels.dtype}; "
        "for probability targets use cross_entropy_decomposition")
  if labels.shape != logits.shape[:-1]:
    raise ValueError(
        f"{fn}: labels shape {labels.shape} must equal the logits' batch shape "
        f"{logits.shape[:-1]} (logits shape {logits.shape})")
  num_classes = theory.check_num_classes(logits.shape[-1], "the logits' class axis")
  if _is_concrete(labels) and labels.size:
    values = np.asarray(labels)
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= num_classes:
      raise ValueError(
          f"{fn}: labels must lie in [0, {num_classes - 1}] for {num_classes} classes, "
          f"got values in [{low}, {high}]")
  return labels


def cross_entropy_decomposition(
    logits: chex.Array,
    targets: chex.Array,
    axis: int = -1,
    where: Optional[chex.Array] = None,
) -> Decomposition:
  r"""Splits the softmax cross-entropy into entropy and divergence.

  For a target distribution :math:`t` and :math:`q = \mathrm{softmax}(z)`,

  .. math::
    H(t, q) = H(t) + \mathrm{KL}(t \| q), \quad
    H(t) = -\sum_k t_k \log t_k, \quad
    \mathrm{KL}(t \| q) = \sum_k t_k (\log t_k - \log q_k),

  with :math:`0 \log 0 = 0`. All three come from one log-softmax of the logits
  (never ``log(softmax)``), so they are finite for any finite logits. Negative
  or NaN targets give NaN for that example, never a silently dropped term.

  Args:
    logits: unnormalized log-probabilities, shape ``[..., K]``.
    targets: probabilities over the classes, the same shape as ``logits``.
    axis: the class axis.
    where: optional boolean mask of the classes to include (as in
      ``optax.softmax_cross_entropy``); masked classes are left out of the
      softmax and of every sum.

  Returns:
    ``Decomposition(cross_entropy, entropy, divergence)``, each of shape
    ``logits.shape`` without ``axis``, in nats.

  Examples:
    >>> import jax.numpy as jnp
    >>> from dualprocess import cross_entropy_decomposition
    >>> d = cross_entropy_decomposition(jnp.array([[2.0, 0.0, 0.0]]),
    ...                                 jnp.array([[0.5, 0.5, 0.0]]))
    >>> bool(jnp.allclose(d.cross_entropy, d.entropy + d.divergence))
    True
    >>> [round(float(x[0]), 4) for x in d]
    [1.2395, 0.6931, 0.5464]

  References:
    Cover and Thomas, Elements of Information Theory, 2nd ed., 2006, eq. 2.90.
  """
  fn = "cross_entropy_decomposition"
  logits = _check_logits(fn, logits)
  targets = jnp.asarray(targets)
  if targets.shape != logits.shape:
    raise ValueError(
        f"{fn}: targets shape {targets.shape} must equal logits shape {logits.shape}; "
        "for integer class labels use dual_process_loss or one-hot targets")
  if not jnp.issubdtype(targets.dtype, jnp.floating):
    raise TypeError(f"{fn}: targets must be floating-point probabilities, got dtype "
                    f"{targets.dtype}")
  if where is not None:
    where = jnp.broadcast_to(jnp.asarray(where, dtype=bool), logits.shape)
  dtype = _compute_dtype(logits, targets)
  logits = logits.astype(dtype)
  targets = targets.astype(dtype)

  log_q = jax.nn.log_softmax(logits, axis=axis, where=where)
  if where is not None:  # masked classes leave every sum; -inf there would poison grads
    log_q = jnp.where(where, log_q, 0.0)
    targets = jnp.where(where, targets, 0.0)
  # 0 log 0 = 0 without a select: log(0 + tiny) is finite, so 0 * it is 0, and
  # for any normal t, t + tiny == t. Negative or NaN targets still give NaN.
  t_log_t = targets * jnp.log(targets + jnp.finfo(dtype).tiny)
  t_log_q = targets * log_q
  entropy = -jnp.sum(t_log_t, axis=axis)
  cross_entropy = -jnp.sum(t_log_q, axis=axis)
  # Two reductions, not three: a third sum of (t log t - t log q) made XLA
  # materialize the elementwise terms, an extra memory pass that was several
  # times slower in benchmarks/loss_overhead.py. The price is rounding of
  # order eps * H(t) in the divergence.
  divergence = cross_entropy - entropy
  return Decomposition(cross_entropy, entropy, divergence)


def equilibrium_targets(labels: chex.Array, num_classes: int) -> jax.Array:
  r"""The equilibrium target distribution for integer labels.

  Puts :math:`p^* = 1/\varphi` on the label and spreads
  :math:`1 - p^* = 1/\varphi^2` evenly over the other :math:`K - 1` classes
  (``docs/theory.md`` section 3).

  Args:
    labels: integer class indices, any shape.
    num_classes: the number of classes ``K >= 2``.

  Returns:
    float32 probabilities of shape ``labels.shape + (num_classes,)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from dualprocess import equilibrium_targets
    >>> [round(float(t), 4) for t in equilibrium_targets(jnp.array([0]), 3)[0]]
    [0.618, 0.191, 0.191]
  """
  num_classes = theory.check_num_classes(num_classes)
  labels = jnp.asarray(labels)
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise TypeError(f"equilibrium_targets: labels must be integers, got dtype {labels.dtype}")
  if _is_concrete(labels) and labels.size:
    values = np.asarray(labels)
    if values.min() < 0 or values.max() >= num_classes:
      raise ValueError(
          f"equilibrium_targets: labels must lie in [0, {num_classes - 1}], got values in "
          f"[{values.min()}, {values.max()}]")
  on, off = _equilibrium_weights(num_classes)
  return jnp.where(jax.nn.one_hot(labels, num_classes, dtype=bool), on, off).astype(jnp.float32)


def _equilibrium_weights(num_classes: int) -> tuple[float, float]:
  p = theory.equilibrium_probability()
  return p, (1.0 - p) / (num_classes - 1)


def dual_process_loss(logits: chex.Array, labels: chex.Array, axis: int = -1) -> jax.Array:
  r"""Cross-entropy against the equilibrium target, in closed form.

  With :math:`p = 1/\varphi` on the label and :math:`r = (1 - p)/(K - 1)`
  elsewhere, the weights sum to one, so

  .. math::
    L(z, y) = -\sum_k t_k \log q_k
            = \mathrm{logsumexp}(z) - (p - r)\, z_y - r \sum_k z_k,

  one logsumexp and one sum over the logits; the target is never built. Both
  are taken in one fused pass with each row shifted by its label's logit; a
  batch where some :math:`\exp(z_k - z_y)` overflows is redone with the row
  max as the shift (``lax.cond``; under ``vmap`` both run). Gradients, of any
  order and in either mode, are those of the max-shifted form,
  :math:`\nabla_z L = \mathrm{softmax}(z) - t_y`.

  Its minimum over ``z`` is the entropy floor ``H(t_y)``, reached exactly when
  ``softmax(z) = t_y``. Labels outside ``[0, K)`` raise when known eagerly and
  give NaN under ``jit``.

  Args:
    logits: unnormalized log-probabilities, shape ``[..., K]`` with ``K >= 2``.
    labels: integer class indices of shape ``logits.shape`` without ``axis``.
    axis: the class axis.

  Returns:
    The per-example loss in nats, shape ``labels.shape``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from dualprocess import dual_process_loss, equilibrium_targets
    >>> from dualprocess import theory
    >>> at_equilibrium = jnp.log(equilibrium_targets(jnp.array([3]), 10))
    >>> loss = dual_process_loss(at_equilibrium, jnp.array([3]))
    >>> round(float(loss[0]), 4), round(theory.equilibrium_target_entropy(10), 4)
    (1.5043, 1.5043)

  References:
    Jaeger, 2021; this toolkit's formalization, ``docs/theory.md`` section 3.
  """
  fn = "dual_process_loss"
  logits = _check_logits(fn, logits)
  logits = jnp.moveaxis(logits, axis, -1)
  labels = _check_labels(fn, labels, logits)
  return _dual_process_loss_last_axis(logits, labels)


@jax.jit  # also keeps eager calls from recompiling the cond's branches every time
def _dual_process_loss_last_axis(logits: jax.Array, labels: jax.Array) -> jax.Array:
  num_classes = logits.shape[-1]
  z = logits.astype(_compute_dtype(logits))
  loss = _equilibrium_cross_entropy(z, labels)
  out_of_range = (labels < 0) | (labels >= num_classes)
  return jnp.where(out_of_range, jnp.nan, loss)


@jax.custom_jvp
def _equilibrium_cross_entropy(z: jax.Array, labels: jax.Array) -> jax.Array:
  """``L`` per row: one fused pass when it cannot overflow, the max-shifted form if not."""
  # The weights sum to one, so L is unchanged by a shift of each row. Shifted
  # by the label's logit, both sums take one pass and no row max is needed; it
  # is exact whenever it is finite, i.e. unless some exp(z_k - z_y) overflows
  # (or the row holds a NaN, which the max-shifted form keeps in that row).
  fast = _label_shifted_loss(z, labels)
  return jax.lax.cond(jnp.all(jnp.isfinite(fast)), lambda: fast,
                      lambda: _max_shifted_loss(z, labels))


@_equilibrium_cross_entropy.defjvp
def _equilibrium_cross_entropy_jvp(primals, tangents):
  # Derivatives come from the max-shifted form alone: its gradient is
  # softmax(z) - t in one pass, and no cond (whose untaken branch could hold an
  # overflow) is ever differentiated, under vmap or not. The labels have none.
  z, labels = primals
  return jax.jvp(lambda z: _max_shifted_loss(z, labels), (z,), (tangents[0],))


def _label_shifted_loss(z: jax.Array, labels: jax.Array) -> jax.Array:
  r"""``L`` shifted by the label's logit, :math:`\log\sum_k e^{z_k - z_y} + r\sum_k (z_y - z_k)`.

  Exact whenever it is finite. The two sums are written on ``z - z_y`` and
  ``z_y - z`` so that XLA fuses them into one pass over the logits rather than
  materializing the difference.
  """
  off = _equilibrium_weights(z.shape[-1])[1]
  z_label = jnp.take_along_axis(z, labels[..., None], axis=-1, mode="clip")
  sum_exp = jnp.sum(jnp.exp(z - z_label), axis=-1)
  sum_neg = jnp.sum(z_label - z, axis=-1)
  return jnp.log(sum_exp) + off * sum_neg


def _max_shifted_loss(z: jax.Array, labels: jax.Array) -> jax.Array:
  """``L`` with each row shifted by its max: one pass more, never overflows."""
  off = _equilibrium_weights(z.shape[-1])[1]
  z_label = jnp.take_along_axis(z, labels[..., None], axis=-1, mode="clip")
  z_max = jax.lax.stop_gradient(jnp.max(z, axis=-1, keepdims=True))
  log_partition = jnp.log(jnp.sum(jnp.exp(z - z_max), axis=-1))  # z - max <= 0 with a 0
  sum_neg = jnp.sum(z_label - z, axis=-1)
  return log_partition + (z_max - z_label)[..., 0] + off * sum_neg


def dual_process_decomposition(
    logits: chex.Array, labels: chex.Array, axis: int = -1) -> Decomposition:
  r"""The dual-process loss split into its two processes, at the loss's cost.

  The entropy of the equilibrium target is known in closed form,
  :math:`H(t_y) = -p \log p - (1 - p) \log\frac{1 - p}{K - 1}`, so

  .. math::
    \mathrm{KL}(t_y \| \mathrm{softmax}\, z) = L(z, y) - H(t_y).

  The divergence is the distance from equilibrium; it is zero (up to
  rounding) exactly at the minimum.

  Args:
    logits: unnormalized log-probabilities, shape ``[..., K]``.
    labels: integer class indices of shape ``logits.shape`` without ``axis``.
    axis: the class axis.

  Returns:
    ``Decomposition(cross_entropy, entropy, divergence)`` per example.

  Examples:
    >>> import jax.numpy as jnp
    >>> from dualprocess import dual_process_decomposition
    >>> d = dual_process_decomposition(jnp.zeros((1, 10)), jnp.array([0]))
    >>> round(float(d.entropy[0]), 4), round(float(d.divergence[0]), 4)
    (1.5043, 0.7983)
  """
  cross_entropy = dual_process_loss(logits, labels, axis=axis)
  num_classes = jnp.shape(logits)[axis]
  entropy = jnp.full_like(cross_entropy, theory.equilibrium_target_entropy(num_classes))
  return Decomposition(cross_entropy, entropy, cross_entropy - entropy)
