"""Model output shapes for every model on every input layout."""

import jax.numpy as jnp
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
