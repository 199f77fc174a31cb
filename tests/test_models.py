"""Model output shapes for every model on every input layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import models
from experiments.config import ModelConfig

CASES = [
    (ModelConfig(name="logistic"), (8, 8, 1)),
    (ModelConfig(name="mlp", hidden_sizes=(32, 16), activation="tanh"), (8, 8, 1)),
    (ModelConfig(name="mlp", hidden_sizes=(100, 100)), (40, 1)),
    (ModelConfig(name="cnn"), (8, 8, 1)),
    (ModelConfig(name="cnn"), (28, 28, 1)),
    (ModelConfig(name="cnn", channels=(25, 25, 25), kernel_sizes=(5, 3, 3), strides=(2, 2, 2)),
     (40, 1)),
]


@pytest.mark.parametrize("config, input_shape", CASES)
def test_logits_shape(config, input_shape):
  model = models.create(config, input_shape, 10, seed=0)
  logits = model(jnp.zeros((3, *input_shape)))
  assert logits.shape == (3, 10)


def test_mnist1d_convbase_has_125_features():
  config = ModelConfig(name="cnn", channels=(25, 25, 25), kernel_sizes=(5, 3, 3),
                       strides=(2, 2, 2), padding=1)
  assert models.create(config, (40, 1), 10, seed=0).out.kernel.shape == (125, 10)


def test_cnn_that_shrinks_input_to_nothing_is_refused():
  config = ModelConfig(name="cnn", channels=(4, 4), kernel_sizes=(9, 9), strides=(1, 1),
                       padding=0)
  with pytest.raises(ValueError, match="shrink the input"):
    models.create(config, (8, 8, 1), 10, seed=0)


def test_lenet_style_cnn_of_the_shipped_configs():
  # Two conv + pool blocks (28 -> 14 -> 7), one dense layer of 120, the classifier.
  from experiments import config as config_lib
  config = config_lib.load("configs/mnist_cnn.yaml", ["dataset.path=/unused"]).model
  model = models.create(config, (28, 28, 1), 10, seed=0)
  assert [c.kernel.shape for c in model.convs] == [(5, 5, 1, 6), (5, 5, 6, 16)]
  assert [d.kernel.shape for d in model.dense] == [(7 * 7 * 16, 120)]
  assert model.out.kernel.shape == (120, 10)
  assert model(jnp.ones((2, 28, 28, 1))).shape == (2, 10)


def paper_cnn(**overrides):
  from experiments import config as config_lib
  return config_lib.load("configs/paper_mnist_grid.yaml",
                         [f"model.{k}={v}" for k, v in overrides.items()]).model


def test_the_authors_cnn_has_his_parameter_count_and_layers():
  from flax import nnx
  model = models.create(paper_cnn(), (28, 28, 1), 10, seed=0)
  params = nnx.state(model, nnx.Param)
  assert sum(leaf.size for leaf in jax.tree.leaves(params)) == 206_922
  assert [c.kernel.shape for c in model.convs] == [(3, 3, 1, 16), (3, 3, 16, 32)]
  assert [d.kernel.shape for d in model.dense] == [(7 * 7 * 32, 128)]
  assert model.dropout == 0.25


@pytest.mark.parametrize("init, kernel_bound", [("kaiming_uniform", lambda n: (6 / n) ** 0.5),
                                                ("torch_default", lambda n: n ** -0.5)])
def test_kaiming_uniform_bounds_follow_pytorch(init, kernel_bound):
  model = models.create(paper_cnn(init=init), (28, 28, 1), 10, seed=0)
  layers = [(model.convs[1], 16 * 3 * 3), (model.dense[0], 1568), (model.out, 128)]
  for layer, fan_in in layers:
    kernel, bias = np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])
    bound = kernel_bound(fan_in)
    # Uniform on (-bound, bound): inside it, and filling it (max near the bound).
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.97 * bound
    assert abs(kernel.std() - bound / 3**0.5) < 0.05 * bound  # a uniform's std
    assert np.abs(bias).max() <= fan_in**-0.5 and np.abs(bias).max() > 0  # PyTorch's bias
  default = models.create(paper_cnn(init="default"), (28, 28, 1), 10, seed=0)
  assert float(np.abs(default.out.bias[...]).max()) == 0.0  # Flax's zeros


def test_dropout_only_with_a_key_and_different_keys_differ():
  model = models.create(paper_cnn(), (28, 28, 1), 10, seed=0)
  x = jax.random.normal(jax.random.key(0), (4, 28, 28, 1))
  plain = model(x)
  np.testing.assert_array_equal(plain, model(x, dropout_key=None))
  a, b = model(x, dropout_key=jax.random.key(1)), model(x, dropout_key=jax.random.key(2))
  assert not np.allclose(a, plain) and not np.allclose(a, b)
  np.testing.assert_array_equal(a, model(x, dropout_key=jax.random.key(1)))
  features = jnp.ones((200, 1000))
  dropped = models.dropout(features, 0.25, jax.random.key(0))
  assert abs(float((dropped == 0).mean()) - 0.25) < 0.01  # the rate
  assert float(dropped.max()) == pytest.approx(1 / 0.75)  # inverted: the mean is kept


@pytest.mark.parametrize("config, input_shape", [CASES[1], CASES[5]])
def test_jitted_initialization_equals_flaxs_eager_one_bit_for_bit(config, input_shape):
  from flax import nnx
  for seed in (0, 7):
    eager = models._build(config, input_shape, 10, seed)  # Flax's own, one op at a time
    jitted = models.create(config, input_shape, 10, seed)
    for a, b in zip(jax.tree.leaves(nnx.state(eager, nnx.Param)),
                    jax.tree.leaves(nnx.state(jitted, nnx.Param)), strict=True):
      np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("config, input_shape", [
    (ModelConfig(name="logistic"), (8, 8, 1)),
    (ModelConfig(name="mlp", hidden_sizes=(16,)), (8, 8, 1)),
    (ModelConfig(name="cnn", channels=(4,), kernel_sizes=(3,), strides=(1,), pool=2,
                 dropout=0.25, conv="im2col"), (8, 8, 3)),
    (ModelConfig(name="cnn", channels=(4,), kernel_sizes=(3,), strides=(1,), conv="xla"),
     (12, 2)),
], ids=["logistic", "mlp", "cnn-im2col", "cnn-xla"])
def test_bfloat16_computes_in_bfloat16_on_float32_parameters(config, input_shape):
  from flax import nnx
  model = models.create(config, input_shape, 10, seed=0, compute_dtype="bfloat16")
  params = nnx.state(model, nnx.Param)
  assert {leaf.dtype for leaf in jax.tree.leaves(params)} == {jnp.dtype("float32")}
  x = jax.random.normal(jax.random.key(0), (4, *input_shape))
  logits = model(x, dropout_key=jax.random.key(1))
  assert logits.dtype == jnp.bfloat16 and logits.shape == (4, 10)
  # The same parameters in float32 give nearly the same logits.
  reference = models.create(config, input_shape, 10, seed=0)
  np.testing.assert_allclose(np.asarray(model(x), np.float32), reference(x), atol=0.1, rtol=0.05)

  def loss(params):
    merged = nnx.merge(nnx.graphdef(model), params)
    return merged(x).astype(jnp.float32).sum()

  grads = jax.grad(loss)(params)
  assert {leaf.dtype for leaf in jax.tree.leaves(grads)} == {jnp.dtype("float32")}
