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
