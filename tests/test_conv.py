"""im2col convolutions and reshape pooling against nnx.Conv and nnx.max_pool, with gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from experiments.models import conv

# Every (dims, kernel, stride, padding, in, out, pool) the shipped configs use:
# the author's CNN, the LeNet-style CNN, MNIST-1D's ConvBase, the digits CNN,
# plus odd sizes that pooling must crop.
CASES = [
    (2, 3, 1, 1, 1, 16, 2), (2, 3, 1, 1, 16, 32, 2),  # paper_mnist_grid
    (2, 5, 1, 2, 1, 6, 2), (2, 5, 1, 2, 6, 16, 2),  # mnist_cnn (LeNet-style)
    (1, 5, 2, 1, 1, 25, 1), (1, 3, 2, 1, 25, 25, 1),  # mnist1d ConvBase
    (2, 3, 2, 0, 3, 4, 1), (2, 3, 1, 1, 2, 3, 3),  # stride 2, no padding; pool 3
]


def pair(dims, kernel, stride, padding, cin, cout):
  kwargs = dict(kernel_size=(kernel,) * dims, strides=(stride,) * dims,
                padding=[(padding, padding)] * dims)
  return (conv.Conv(cin, cout, formulation="im2col", rngs=nnx.Rngs(0), **kwargs),
          nnx.Conv(cin, cout, rngs=nnx.Rngs(0), **kwargs))


@pytest.mark.parametrize("dims, kernel, stride, padding, cin, cout, pool", CASES)
def test_outputs_and_gradients_match_nnx(dims, kernel, stride, padding, cin, cout, pool):
  ours, theirs = pair(dims, kernel, stride, padding, cin, cout)
  size = 13 if dims == 2 else 40
  x = jax.random.normal(jax.random.key(1), (3, *(size,) * dims, cin))
  # Random inputs have no ties inside a pooling window (conv.py: ties split).

  def value_and_grads(layer, pool_formulation):
    graphdef, params = nnx.split(layer)

    @jax.jit
    def loss(params, x):
      y = jax.nn.relu(nnx.merge(graphdef, params)(x))
      if pool > 1:
        y = conv.max_pool(y, pool, pool_formulation)
      return jnp.sum(jnp.sin(y))

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, x)

  outputs = [jax.jit(lambda x, layer=layer: layer(x))(x) for layer in (ours, theirs)]
  np.testing.assert_allclose(*outputs, rtol=1e-5, atol=1e-5)
  value, grads = value_and_grads(ours, "im2col")
  ref_value, ref_grads = value_and_grads(theirs, "xla")
  np.testing.assert_allclose(value, ref_value, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_the_im2col_path_has_no_convolution_and_xla_path_is_nnx():
  ours, _ = pair(2, 3, 1, 1, 4, 8)
  x = jnp.ones((2, 8, 8, 4))
  assert "conv_general_dilated" not in str(jax.make_jaxpr(lambda x: ours(x))(x))
  xla = conv.Conv(4, 8, kernel_size=(3, 3), padding=[(1, 1)] * 2, formulation="xla",
                  rngs=nnx.Rngs(0))
  assert "conv_general_dilated" in str(jax.make_jaxpr(lambda x: xla(x))(x))


def test_auto_is_im2col_on_the_cpu_and_bad_names_are_refused():
  assert conv.resolve("auto") == ("im2col" if jax.default_backend() == "cpu" else "xla")
  with pytest.raises(ValueError, match="auto, xla, im2col"):
    conv.resolve("cudnn")


def test_pooling_ties_share_the_gradient_and_the_window_sum_is_kept():
  x = jnp.array([[1.0, 1.0], [0.5, 1.0]])[None, :, :, None]  # a 2x2 window, three ties
  ours = jax.grad(lambda x: conv.max_pool(x, 2, "im2col").sum())(x)
  theirs = jax.grad(lambda x: conv.max_pool(x, 2, "xla").sum())(x)
  np.testing.assert_allclose(ours[0, :, :, 0], [[1 / 3, 1 / 3], [0, 1 / 3]], rtol=1e-6)
  assert float(ours.sum()) == pytest.approx(float(theirs.sum())) == pytest.approx(1.0)
