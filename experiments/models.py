"""Flax NNX classifiers: logistic regression, an MLP and a 1-D/2-D CNN.

Input shapes come from the dataset: ``[H, W, 1]`` images or ``[L, 1]`` signals.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from experiments.config import ModelConfig

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "gelu": jax.nn.gelu,
               "sigmoid": jax.nn.sigmoid}


class Logistic(nnx.Module):
  def __init__(self, input_shape, num_classes, *, rngs: nnx.Rngs):
    self.out = nnx.Linear(math.prod(input_shape), num_classes, rngs=rngs)

  def __call__(self, x):
    return self.out(x.reshape(x.shape[0], -1))


class MLP(nnx.Module):
  def __init__(self, input_shape, num_classes, hidden_sizes, activation, *, rngs: nnx.Rngs):
    sizes = [math.prod(input_shape), *hidden_sizes]
    self.hidden = nnx.List([nnx.Linear(a, b, rngs=rngs)
                            for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    self.out = nnx.Linear(sizes[-1], num_classes, rngs=rngs)
    self.activation = ACTIVATIONS[activation]

  def __call__(self, x):
    x = x.reshape(x.shape[0], -1)
    for layer in self.hidden:
      x = self.activation(layer(x))
    return self.out(x)


class CNN(nnx.Module):
  """Convolutions over the spatial axes (each optionally max-pooled), dense layers, classifier.

  With ``channels=(25, 25, 25)``, ``kernel_sizes=(5, 3, 3)``, ``strides=(2, 2,
  2)`` and ``padding=1`` on MNIST-1D's 40-sample signals this is the MNIST-1D
  benchmark's ``ConvBase`` (125 features into the classifier). With
  ``channels=(6, 16)``, ``kernel_sizes=(5, 5)``, ``padding=2``, ``pool=2``
  and ``dense_sizes=(120,)`` on 28x28 images it is a LeNet-style network: two
  conv + pool blocks and one dense layer.
  """

  def __init__(self, input_shape, num_classes, channels, kernel_sizes, strides, padding,
               activation, pool=1, dense_sizes=(), *, rngs: nnx.Rngs):
    *spatial, features = input_shape
    dims = len(spatial)
    self.convs = nnx.List()
    for out_features, kernel, stride in zip(channels, kernel_sizes, strides, strict=True):
      self.convs.append(nnx.Conv(features, out_features, kernel_size=(kernel,) * dims,
                                 strides=(stride,) * dims, padding=[(padding, padding)] * dims,
                                 rngs=rngs))
      spatial = [(n + 2 * padding - kernel) // stride + 1 for n in spatial]
      spatial = [n // pool for n in spatial]
      features = out_features
    if min(spatial) < 1:
      raise ValueError("the convolutions shrink the input to nothing; use smaller strides, "
                       "kernels or pooling")
    sizes = [math.prod(spatial) * features, *dense_sizes]
    self.dense = nnx.List([nnx.Linear(a, b, rngs=rngs)
                           for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    self.out = nnx.Linear(sizes[-1], num_classes, rngs=rngs)
    self.activation = ACTIVATIONS[activation]
    self.pool = pool

  def __call__(self, x):
    for conv in self.convs:
      x = self.activation(conv(x))
      if self.pool > 1:
        window = (self.pool,) * (x.ndim - 2)
        x = nnx.max_pool(x, window_shape=window, strides=window)
    x = x.reshape(x.shape[0], -1)
    for layer in self.dense:
      x = self.activation(layer(x))
    return self.out(x)


def create(config: ModelConfig, input_shape, num_classes: int, seed: int) -> nnx.Module:
  rngs = nnx.Rngs(seed)
  if config.name == "logistic":
    return Logistic(input_shape, num_classes, rngs=rngs)
  if config.name == "mlp":
    return MLP(input_shape, num_classes, config.hidden_sizes, config.activation, rngs=rngs)
  return CNN(input_shape, num_classes, config.channels, config.kernel_sizes, config.strides,
             config.padding, config.activation, config.pool, config.dense_sizes, rngs=rngs)
