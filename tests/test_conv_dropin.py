"""conv.Conv, conv.max_pool and conv.avg_pool as drop-ins for nnx.Conv, nnx.max_pool and
nnx.avg_pool: the same arguments, parameters, values and gradients (float32 tolerances)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from benchmarks import flax_example_conv
from experiments.models import conv

# (kernel, strides, padding, in, out, spatial): SAME (nnx's default), VALID and
# explicit pairs; strides 1 and 2; odd sizes; one and three input channels.
CONV_CASES = [
    ((3, 3), 1, "SAME", 1, 8, (13, 13)),
    ((3, 3), 2, "SAME", 3, 4, (13, 10)),
    ((5, 5), 1, "SAME", 1, 6, (11, 12)),
    ((3, 3), 1, "VALID", 3, 5, (9, 11)),
    ((3, 2), 2, "VALID", 1, 4, (13, 9)),
    ((3, 3), 2, [(1, 2), (0, 1)], 3, 4, (11, 11)),
    ((3, 3), 1, 1, 2, 3, (7, 8)),
    ((4, 4), 2, "SAME", 3, 2, (9, 9)),  # even window: SAME pads one more after
    ((5,), 2, "SAME", 3, 4, (21,)),  # 1-D
]


def value_and_grads(layer, x):
  graphdef, params = nnx.split(layer)

  def loss(params, x):
    return jnp.sum(jnp.sin(nnx.merge(graphdef, params)(x)))

  return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, x)


def assert_same(ours, theirs, x):
  np.testing.assert_allclose(jax.jit(lambda x: ours(x))(x), jax.jit(lambda x: theirs(x))(x),
                             rtol=1e-5, atol=1e-5)
  (value, grads), (ref_value, ref_grads) = value_and_grads(ours, x), value_and_grads(theirs, x)
  np.testing.assert_allclose(value, ref_value, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel, strides, padding, cin, cout, spatial", CONV_CASES)
def test_conv_equals_nnx_conv_in_values_and_gradients(kernel, strides, padding, cin, cout,
                                                       spatial):
  kwargs = dict(kernel_size=kernel, strides=strides, padding=padding)
  ours = conv.Conv(cin, cout, formulation="im2col", rngs=nnx.Rngs(0), **kwargs)
  theirs = nnx.Conv(cin, cout, rngs=nnx.Rngs(0), **kwargs)
  x = jax.random.normal(jax.random.key(1), (3, *spatial, cin))
  assert "conv_general_dilated" not in str(jax.make_jaxpr(lambda x: ours(x))(x))
  assert_same(ours, theirs, x)


def test_a_state_of_nnx_conv_loads_into_the_drop_in():
  theirs = nnx.Conv(3, 4, kernel_size=(3, 3), rngs=nnx.Rngs(7))
  ours = conv.Conv(3, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0))
  assert jax.tree.map(jnp.shape, nnx.state(ours)) == jax.tree.map(jnp.shape, nnx.state(theirs))
  nnx.update(ours, nnx.state(theirs))
  x = jax.random.normal(jax.random.key(2), (2, 9, 9, 3))
  np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(use_bias=False, kernel_dilation=2), (2, 11, 10, 3)),
    (dict(mask=jnp.tril(jnp.ones((3, 3, 3, 4)))), (2, 8, 8, 3)),
    ({}, (8, 8, 3)),  # no batch axis
    ({}, (2, 3, 8, 8, 3)),  # two batch axes
])
def test_conv_options_and_batch_axes_as_nnx_conv(kwargs, shape):
  ours = conv.Conv(3, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0), **kwargs)
  theirs = nnx.Conv(3, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0), **kwargs)
  assert_same(ours, theirs, jax.random.normal(jax.random.key(3), shape))


def test_cases_off_the_fast_path_are_nnx_conv_and_xla_is_xla():
  x = jax.random.normal(jax.random.key(4), (2, 8, 8, 4))
  for kwargs in (dict(padding="CIRCULAR"), dict(feature_group_count=2)):
    ours = conv.Conv(4, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0), **kwargs)
    theirs = nnx.Conv(4, 4, kernel_size=(3, 3), rngs=nnx.Rngs(0), **kwargs)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
  xla = conv.Conv(4, 8, kernel_size=(3, 3), formulation="xla", rngs=nnx.Rngs(0))
  assert "conv_general_dilated" in str(jax.make_jaxpr(lambda x: xla(x))(x))
  with pytest.raises(ValueError, match="auto, xla, im2col"):
    conv.Conv(4, 8, kernel_size=(3, 3), formulation="fast", rngs=nnx.Rngs(0))


# (window, strides, padding, shape): non-overlapping, overlapping, odd sizes that
# VALID crops, SAME and explicit padding, strides 1 (nnx's default), 1-D.
POOL_CASES = [
    ((2, 2), (2, 2), "VALID", (3, 13, 14, 3)),
    ((3, 3), (2, 2), "VALID", (2, 11, 12, 2)),
    ((3, 3), (2, 2), "SAME", (2, 11, 10, 2)),
    ((2, 2), None, "VALID", (2, 7, 6, 1)),
    ((3, 2), (1, 2), ((1, 1), (0, 1)), (2, 9, 8, 3)),
    ((2,), (2,), "VALID", (2, 9, 3)),
]


@pytest.mark.parametrize("window, strides, padding, shape", POOL_CASES)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_count_exclude_pad"])
def test_pooling_equals_nnx_in_values_and_gradients(kind, window, strides, padding, shape):
  extra = {"count_include_pad": False} if kind == "avg_count_exclude_pad" else {}
  ours = conv.max_pool if kind == "max" else conv.avg_pool
  theirs = nnx.max_pool if kind == "max" else nnx.avg_pool
  x = jax.random.normal(jax.random.key(5), shape)  # no ties: nnx's gradient is the same

  def value_and_grad(pool, formulation=None):
    kwargs = dict(extra, formulation=formulation) if formulation else extra
    loss = lambda x: jnp.sum(jnp.sin(pool(x, window, strides, padding, **kwargs)))
    return jax.jit(jax.value_and_grad(loss))(x)

  (value, grad), (ref_value, ref_grad) = value_and_grad(ours, "im2col"), value_and_grad(theirs)
  np.testing.assert_allclose(value, ref_value, rtol=1e-5)
  np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)
  jaxpr = str(jax.make_jaxpr(lambda x: ours(x, window, strides, padding, **extra,
                                            formulation="im2col"))(x))
  assert "reduce_window" not in jaxpr


def test_the_flax_example_benchmark_checks_agreement_and_times_both():
  result = flax_example_conv.main(["--smoke", "--json"])
  assert result["values_and_gradients_match"] is True
  assert result["loss_dropin"] == pytest.approx(result["loss_nnx_conv"], rel=1e-5)
  assert result["nnx_conv_s_per_step"] > 0 and result["dropin_s_per_step"] > 0
  assert result["speedup_vs_nnx_conv"] > 0 and result["formulation"] == "im2col"
