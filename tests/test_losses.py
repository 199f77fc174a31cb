"""Loss decompositions against scipy, invariances, extremes, dtypes, bad input."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special, stats

import dualprocess as dp
from dualprocess import theory

# A few shapes only: each new shape is a new compilation.
SHAPES = st.sampled_from([(1, 2), (4, 3), (5, 10)])
jit_decomposition = jax.jit(dp.cross_entropy_decomposition)
jit_dual_decomposition = jax.jit(dp.dual_process_decomposition)


def random_soft_targets(rng, shape, zero_fraction=0.3):
  t = rng.random(shape)
  t[rng.random(shape) < zero_fraction] = 0.0
  t[..., 0] += 1e-3  # every row keeps some mass
  return t / t.sum(-1, keepdims=True)


def scipy_reference(logits, targets):
  log_q = special.log_softmax(logits.astype(np.float64), axis=-1)
  q = np.exp(log_q)
  entropy = stats.entropy(targets, axis=-1)
  divergence = stats.entropy(targets, q, axis=-1)
  cross_entropy = -np.sum(special.xlogy(targets, q), axis=-1)
  return cross_entropy, entropy, divergence


def test_decomposition_matches_scipy_on_soft_targets_with_zeros():
  rng = np.random.default_rng(0)
  logits = rng.normal(scale=3.0, size=(64, 10))
  targets = random_soft_targets(rng, (64, 10))
  assert (targets == 0).any()
  got = dp.cross_entropy_decomposition(jnp.asarray(logits, jnp.float32),
                                       jnp.asarray(targets, jnp.float32))
  for g, want in zip(got, scipy_reference(logits, targets), strict=True):
    np.testing.assert_allclose(g, want, rtol=2e-5, atol=2e-5)


def test_decomposition_matches_optax_cross_entropy():
  rng = np.random.default_rng(1)
  logits = jnp.asarray(rng.normal(size=(8, 5, 7)), jnp.float32)
  targets = jnp.asarray(random_soft_targets(rng, (8, 5, 7)), jnp.float32)
  d = dp.cross_entropy_decomposition(logits, targets)
  np.testing.assert_allclose(d.cross_entropy, optax.softmax_cross_entropy(logits, targets),
                             rtol=1e-5, atol=1e-6)


def test_decomposition_along_another_axis_and_with_mask():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(6, 4)).astype(np.float32)
  targets = random_soft_targets(rng, (6, 4)).astype(np.float32)
  moved = dp.cross_entropy_decomposition(logits.T, targets.T, axis=0)
  plain = dp.cross_entropy_decomposition(logits, targets)
  for a, b in zip(moved, plain, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  # Masking a class with zero target is the same as dropping the class.
  where = np.ones((6, 5), bool)
  where[:, -1] = False
  padded_logits = np.concatenate([logits, np.full((6, 1), 50.0, np.float32)], -1)
  padded_targets = np.concatenate([targets, np.zeros((6, 1), np.float32)], -1)
  masked = dp.cross_entropy_decomposition(padded_logits, padded_targets, where=where)
  for a, b in zip(masked, plain, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(
      masked.cross_entropy,
      optax.softmax_cross_entropy(padded_logits, padded_targets, where=where), rtol=1e-5)
  grads = jax.grad(lambda z: dp.cross_entropy_decomposition(z, padded_targets, where=where)
                   .cross_entropy.sum())(jnp.asarray(padded_logits))
  assert np.isfinite(grads).all()


@given(
    logits=hnp.arrays(np.float32, SHAPES, elements=st.floats(-1e4, 1e4, width=32)),
    shift=st.floats(-100.0, 100.0, width=32),
    seed=st.integers(0, 2**16),
)
def test_cross_entropy_is_entropy_plus_divergence_and_shift_invariant(logits, shift, seed):
  targets = random_soft_targets(np.random.default_rng(seed), logits.shape).astype(np.float32)
  d = jit_decomposition(logits, targets)
  shifted = jit_decomposition(logits + shift, targets)
  for part in (*d, *shifted):
    assert np.isfinite(part).all()
  scale = 1.0 + np.abs(d.cross_entropy)
  np.testing.assert_allclose(d.cross_entropy, d.entropy + d.divergence,
                             atol=1e-5 * scale.max())
  assert (d.divergence >= -1e-5 * scale).all()
  # Adding a constant changes a float32 logit by its rounding error only.
  tol = 1e-5 * scale.max() + 4 * np.spacing(np.abs(logits).max() + abs(shift))
  for a, b in zip(d, shifted, strict=True):
    np.testing.assert_allclose(a, b, atol=tol)


@given(
    logits=hnp.arrays(np.float32, SHAPES, elements=st.floats(-1e4, 1e4, width=32)),
    shift=st.floats(-100.0, 100.0, width=32),
    seed=st.integers(0, 2**16),
)
def test_dual_process_loss_matches_materialized_target_and_is_shift_invariant(
    logits, shift, seed):
  labels = np.random.default_rng(seed).integers(0, logits.shape[-1], logits.shape[0])
  targets = dp.equilibrium_targets(labels, logits.shape[-1])
  want = jit_decomposition(logits, targets)
  got = jit_dual_decomposition(logits, labels)
  shifted = jit_dual_decomposition(logits + shift, labels)
  scale = 1.0 + np.abs(want.cross_entropy).max()
  tol = 2e-5 * scale + 4 * np.spacing(np.abs(logits).max() + abs(shift))
  for a, b, c in zip(got, want, shifted, strict=True):
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, atol=tol)
    np.testing.assert_allclose(a, c, atol=tol)
  np.testing.assert_allclose(got.cross_entropy, dp.dual_process_loss(logits, labels), rtol=1e-6,
                             atol=1e-6)


def test_equilibrium_targets():
  t = dp.equilibrium_targets(jnp.array([[0, 2], [1, 1]]), 4)
  assert t.shape == (2, 2, 4)
  np.testing.assert_allclose(t.sum(-1), 1.0, rtol=1e-6)
  p = theory.equilibrium_probability()
  np.testing.assert_allclose(t[0, 1], [(1 - p) / 3] * 2 + [p, (1 - p) / 3], rtol=1e-6)


@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_dual_process_loss_minimum_is_exactly_at_equilibrium(k):
  label = jnp.array([k // 2])
  at_equilibrium = jnp.log(dp.equilibrium_targets(label, k)).astype(jnp.float64) \
      if jax.config.jax_enable_x64 else jnp.log(dp.equilibrium_targets(label, k))
  floor = theory.equilibrium_target_entropy(k)
  d = dp.dual_process_decomposition(at_equilibrium, label)
  assert float(d.cross_entropy[0]) == pytest.approx(floor, abs=1e-5)
  assert float(d.divergence[0]) == pytest.approx(0.0, abs=1e-5)
  grad = jax.grad(lambda z: dp.dual_process_loss(z, label).sum())(at_equilibrium)
  np.testing.assert_allclose(grad, 0.0, atol=1e-6)
  # Any move away from equilibrium raises the loss (the loss is convex in z).
  rng = np.random.default_rng(k)
  for _ in range(20):
    moved = at_equilibrium + 0.05 * rng.normal(size=at_equilibrium.shape)
    moved_loss = float(dp.dual_process_loss(moved, label)[0])
    assert moved_loss > float(d.cross_entropy[0])


def test_one_hot_labels_and_dual_loss_agree_on_gradient_direction():
  # dL/dz = softmax(z) - t_y: the gradient is zero exactly where q = t_y.
  z = jnp.array([[0.3, -1.0, 2.0]])
  g = jax.grad(lambda z: dp.dual_process_loss(z, jnp.array([2])).sum())(z)
  np.testing.assert_allclose(g, jax.nn.softmax(z) - dp.equilibrium_targets(jnp.array([2]), 3),
                             atol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
@pytest.mark.parametrize("magnitude", [1.0, 1e4])
def test_gradients_finite_at_extremes_and_low_precision(dtype, magnitude):
  rng = np.random.default_rng(3)
  logits = jnp.asarray(rng.choice([-magnitude, magnitude], size=(16, 10)), dtype)
  if dtype == jnp.float16:
    logits = jnp.clip(logits, -6e4, 6e4)
  labels = jnp.asarray(rng.integers(0, 10, 16))
  targets = jnp.asarray(random_soft_targets(rng, (16, 10)), dtype)
  for fn in (lambda z: dp.dual_process_loss(z, labels),
             lambda z: dp.cross_entropy_decomposition(z, targets).divergence,
             lambda z: dp.cross_entropy_decomposition(z, targets).cross_entropy):
    values = fn(logits)
    assert values.dtype == jnp.float32
    assert np.isfinite(values).all()
    grads = jax.grad(lambda z, fn=fn: fn(z).sum())(logits)
    assert grads.dtype == dtype
    assert np.isfinite(np.asarray(grads, np.float32)).all()


def test_low_precision_inputs_are_computed_in_float32():
  rng = np.random.default_rng(4)
  logits32 = jnp.asarray(rng.normal(size=(32, 10)), jnp.float32)
  logits16 = logits32.astype(jnp.bfloat16)
  labels = jnp.asarray(rng.integers(0, 10, 32))
  # Same values as float32 math on the rounded inputs: no bf16 arithmetic inside.
  np.testing.assert_allclose(dp.dual_process_loss(logits16, labels),
                             dp.dual_process_loss(logits16.astype(jnp.float32), labels),
                             rtol=1e-6)


def test_jit_vmap_grad():
  rng = np.random.default_rng(5)
  logits = jnp.asarray(rng.normal(size=(3, 8, 10)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 10, (3, 8)))
  eager = dp.dual_process_loss(logits, labels)
  jitted = jax.jit(dp.dual_process_loss)(logits, labels)
  mapped = jax.vmap(dp.dual_process_loss)(logits, labels)
  np.testing.assert_allclose(eager, jitted, rtol=1e-6)
  np.testing.assert_allclose(eager, mapped, rtol=1e-6)
  targets = dp.equilibrium_targets(labels, 10)
  dec = jax.jit(jax.vmap(dp.cross_entropy_decomposition))(logits, targets)
  np.testing.assert_allclose(dec.cross_entropy, eager, rtol=1e-5)
  assert np.isfinite(jax.jit(jax.grad(lambda z: dp.dual_process_loss(z, labels).mean()))(
      logits)).all()


def reference_dual_loss(logits, labels):
  """The loss against the materialized target, in float64 numpy."""
  targets = np.asarray(dp.equilibrium_targets(labels, logits.shape[-1]), np.float64)
  return -np.sum(targets * special.log_softmax(np.asarray(logits, np.float64), -1), -1)


@pytest.mark.parametrize("offset", [0.0, -1e4, 1e4])
@pytest.mark.parametrize("spread", [1.0, 60.0, 88.0, 89.0, 200.0, 1e4])
def test_dual_process_loss_on_both_sides_of_the_overflow(offset, spread):
  # In float32, exp(z_k - z_y) overflows once z_k - z_y passes about 88.7:
  # smaller spreads take the label-shifted pass, larger ones the max-shifted
  # form. Both must be exact, and so must the gradient.
  rng = np.random.default_rng(11)
  logits = np.float32(offset) + np.float32(spread) * rng.random((64, 1000), np.float32)
  labels = rng.integers(0, 1000, 64)
  got = jax.jit(dp.dual_process_loss)(logits, labels)
  want = reference_dual_loss(logits, labels)
  scale = 1.0 + np.abs(want).max()
  np.testing.assert_allclose(got, want, atol=2e-6 * scale + 4 * np.spacing(np.float32(
      abs(offset) + spread)))
  grad = jax.grad(lambda z: dp.dual_process_loss(z, labels).sum())(logits)
  q = special.softmax(np.asarray(logits, np.float64), -1)
  targets = np.asarray(dp.equilibrium_targets(labels, 1000))
  np.testing.assert_allclose(grad, q - targets, atol=1e-6)


@given(row=hnp.arrays(np.float32, (7,), elements=st.floats(-50, 50, width=32)),
       label=st.integers(0, 6), planted=st.integers(0, 6),
       height=st.floats(0.0, 1e4, width=32))
def test_label_shifted_loss_is_exact_whenever_finite(row, label, planted, height):
  # What lets dual_process_loss skip the max pass: the label-shifted loss is
  # either non-finite (and then replaced) or exact. A planted logit far above
  # the label's makes exp overflow somewhere along [0, 1e4].
  from dualprocess import losses
  row = row.copy()
  if planted != label:
    row[planted] = row[label] + height
  fast = float(losses._label_shifted_loss(jnp.asarray(row)[None], jnp.array([label]))[0])
  exact = float(reference_dual_loss(row[None], np.array([label]))[0])
  if math.isfinite(fast):
    assert abs(fast - exact) <= 2e-6 * (1 + exact) + 4 * np.spacing(np.float32(height + 50))
  else:
    assert height > 80  # only an overflowing exp may make it non-finite


def test_forward_mode_and_hessian_are_softmax_derivatives():
  # Second order and forward mode go through the custom derivative too:
  # the Hessian of L in z is diag(q) - q q^T, whatever the target.
  z = jnp.asarray(np.random.default_rng(12).normal(size=6), jnp.float32)
  label = jnp.array(2)
  loss = lambda z: dp.dual_process_loss(z[None], label[None])[0]  # noqa: E731
  q = special.softmax(np.asarray(z, np.float64))
  np.testing.assert_allclose(jax.hessian(loss)(z), np.diag(q) - np.outer(q, q), atol=1e-6)
  direction = jnp.arange(6.0)
  _, tangent = jax.jvp(loss, (z,), (direction,))
  np.testing.assert_allclose(tangent, jnp.dot(jax.grad(loss)(z), direction), rtol=1e-5)


def test_vmapped_loss_with_one_overflowing_member_has_finite_gradients():
  # Under vmap, lax.cond runs both paths and discards one; the discarded one
  # must not leak inf * 0 = NaN into the gradient.
  logits = jnp.zeros((2, 4, 10)).at[1, 0, 3].set(500.0)
  labels = jnp.zeros((2, 4), jnp.int32)
  loss = jax.vmap(dp.dual_process_loss)(logits, labels)
  np.testing.assert_allclose(loss, reference_dual_loss(logits, labels), rtol=1e-6)
  grad = jax.grad(lambda z: jax.vmap(dp.dual_process_loss)(z, labels).sum())(logits)
  want = special.softmax(np.asarray(logits, np.float64), -1) - np.asarray(
      dp.equilibrium_targets(labels, 10))
  np.testing.assert_allclose(grad, want, atol=1e-6)


def test_nan_propagates_to_its_own_example_only():
  logits = jnp.zeros((3, 4)).at[1, 2].set(jnp.nan)
  labels = jnp.array([0, 1, 2])
  loss = np.asarray(dp.dual_process_loss(logits, labels))
  assert np.isnan(loss[1]) and np.isfinite(loss[[0, 2]]).all()
  targets = jnp.full((3, 4), 0.25).at[2, 0].set(jnp.nan)
  d = dp.cross_entropy_decomposition(jnp.zeros((3, 4)), targets)
  for part in map(np.asarray, d):
    assert np.isnan(part[2]) and np.isfinite(part[:2]).all()


def test_negative_targets_are_not_silently_dropped():
  d = dp.cross_entropy_decomposition(jnp.zeros((1, 3)), jnp.array([[1.2, -0.2, 0.0]]))
  assert np.isnan(d.entropy[0]) and np.isnan(d.divergence[0])


def test_out_of_range_labels_under_jit_give_nan_not_a_silent_value():
  loss = jax.jit(dp.dual_process_loss)(jnp.zeros((3, 4)), jnp.array([0, 4, -1]))
  assert np.isfinite(loss[0]) and np.isnan(loss[1]) and np.isnan(loss[2])


@pytest.mark.parametrize("call, err, message", [
    (lambda: dp.dual_process_loss(jnp.zeros((4, 3)), jnp.zeros(5, jnp.int32)), ValueError,
     r"labels shape \(5,\) must equal the logits' batch shape \(4,\)"),
    (lambda: dp.dual_process_loss(jnp.zeros((4, 3)), jnp.zeros((4, 1), jnp.int32)), ValueError,
     "labels shape"),
    (lambda: dp.dual_process_loss(jnp.zeros((4, 3)), jnp.zeros(4)), TypeError,
     "labels must be integers"),
    (lambda: dp.dual_process_loss(jnp.zeros((4, 3)), jnp.array([0, 1, 2, 3])), ValueError,
     r"labels must lie in \[0, 2\]"),
    (lambda: dp.dual_process_loss(jnp.zeros((4, 3)), jnp.array([0, -1, 2, 0])), ValueError,
     "labels must lie"),
    (lambda: dp.dual_process_loss(jnp.zeros((4, 1)), jnp.zeros(4, jnp.int32)), ValueError,
     "at least 2"),
    (lambda: dp.dual_process_loss(jnp.float32(1.0), jnp.int32(0)), ValueError,
     "logits must have a class axis"),
    (lambda: dp.dual_process_loss(jnp.zeros((2, 3), jnp.int32), jnp.zeros(2, jnp.int32)),
     TypeError, "logits must be floating point"),
    (lambda: dp.cross_entropy_decomposition(jnp.zeros((4, 3)), jnp.zeros((4, 2))), ValueError,
     r"targets shape \(4, 2\) must equal logits shape \(4, 3\)"),
    (lambda: dp.cross_entropy_decomposition(jnp.zeros((4, 3)), jnp.zeros(3)), ValueError,
     "targets shape"),
    (lambda: dp.cross_entropy_decomposition(jnp.zeros((4, 3)), jnp.zeros((4, 3), jnp.int32)),
     TypeError, "targets must be floating-point"),
    (lambda: dp.equilibrium_targets(jnp.array([0]), 1), ValueError, "at least 2"),
    (lambda: dp.equilibrium_targets(jnp.array([0.0]), 3), TypeError, "labels must be integers"),
    (lambda: dp.equilibrium_targets(jnp.array([3]), 3), ValueError, "labels must lie"),
    (lambda: dp.equilibrium_targets(jnp.array([0]), 3.0), TypeError, "num_classes"),
])
def test_bad_input_raises_with_a_useful_message(call, err, message):
  with pytest.raises(err, match=message):
    call()


def test_equilibrium_floor_value_for_ten_classes():
  p = theory.equilibrium_probability()
  assert theory.equilibrium_target_entropy(10) == pytest.approx(
      -p * math.log(p) - (1 - p) * math.log((1 - p) / 9))


@given(
    dtype=st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16]),
    logits=hnp.arrays(np.float32, SHAPES, elements=st.floats(-6e4, 6e4, width=32)),
    seed=st.integers(0, 2**16),
)
def test_any_dtype_and_magnitude_is_float32_math_and_finite(dtype, logits, seed):
  rng = np.random.default_rng(seed)
  low = jnp.asarray(logits, dtype)
  targets = jnp.asarray(random_soft_targets(rng, logits.shape), dtype)
  labels = rng.integers(0, logits.shape[-1], logits.shape[0])
  for got, want in ((jit_decomposition(low, targets),
                     jit_decomposition(low.astype(jnp.float32), targets.astype(jnp.float32))),
                    (jit_dual_decomposition(low, labels),
                     jit_dual_decomposition(low.astype(jnp.float32), labels))):
    for a, b in zip(got, want, strict=True):
      assert a.dtype == jnp.float32
      assert np.isfinite(a).all()
      np.testing.assert_array_equal(a, b)


def test_per_token_logits_of_a_sequence_model_need_no_reshape():
  """``[batch, length, vocab]`` logits with ``[batch, length]`` labels give per-token
  values ``[batch, length]``, equal to the same tokens flattened into one batch."""
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 5, 7)), jnp.float32)
  labels = jnp.asarray(rng.integers(0, 7, size=(2, 5)), jnp.int32)
  flat_logits, flat_labels = logits.reshape(10, 7), labels.reshape(10)
  ce = dp.cross_entropy_decomposition(logits, jax.nn.one_hot(labels, 7))
  dual = dp.dual_process_decomposition(logits, labels)
  assert ce.cross_entropy.shape == dual.cross_entropy.shape == dual.entropy.shape == (2, 5)
  np.testing.assert_allclose(
      ce.cross_entropy, optax.softmax_cross_entropy_with_integer_labels(logits, labels),
      rtol=1e-6, atol=1e-6)
  flat = dp.dual_process_decomposition(flat_logits, flat_labels)
  for got, want in zip(dual, flat, strict=True):
    np.testing.assert_allclose(got.reshape(10), want, rtol=1e-6)
  np.testing.assert_allclose(dp.dual_process_loss(logits, labels).reshape(10),
                             dp.dual_process_loss(flat_logits, flat_labels), rtol=1e-6)
