"""Flax NNX models: logistic regression, an MLP, a 1-D/2-D CNN, a transformer, or the user's own.

Input shapes come from the dataset: ``[H, W, C]`` images or ``[L, C]`` signals
with any ``C``, or ``[F]`` tabular rows (not for the CNN, which needs spatial axes).
The transformer (``experiments/models/transformer.py``) reads windows of tokens
``[context]`` (``dataset.name: text``) and predicts the next token at every position:
logits ``[batch, context, vocab]``.
Every built-in model is called as ``model(x, dropout_key=None)``; the key is the step's
dropout randomness in training and ``None`` (no dropout) in evaluation.
Convolutions are computed by ``experiments/models/conv.py``, by backend. Its ``Conv``,
``max_pool`` and ``avg_pool`` are drop-ins for ``nnx.Conv``, ``nnx.max_pool`` and
``nnx.avg_pool`` in a user's own model: the same arguments and parameters, im2col
matmuls on the CPU, XLA's convolution on accelerators.

``model.name: "package.module:factory"`` builds the user's own ``nnx.Module``
(``experiments/models/own.py``; importing the module runs its code, as Hydra's
``_target_`` does). ``experiments/models/variables.py`` splits any model into
parameters and non-parameter state (batch statistics) and calls it in train or eval
mode.

Mixed precision (``train.compute_dtype: bfloat16``, built-in models): parameters are
float32 (``param_dtype``), every layer computes in bfloat16 (``dtype``) from inputs
cast to it, and the logits come out in bfloat16; the losses compute in float32.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from ..config import ModelConfig
from ..errors import ConfigError
from . import conv, own, transformer, variables
from .conv import Conv, avg_pool, max_pool

__all__ = ["CNN", "MLP", "Conv", "Logistic", "avg_pool", "create", "max_pool", "own",
           "variables"]

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}  # train.compute_dtype

ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "gelu": jax.nn.gelu,
               "sigmoid": jax.nn.sigmoid}


def initializers(init: str, fan_in: int) -> dict:
  """``kernel_init`` and ``bias_init`` of a layer with ``fan_in`` inputs, for ``init``.

  - ``default``: Flax's own (LeCun normal kernels, zero biases).
  - ``kaiming_uniform``: He et al.'s uniform initialization for ReLU,
    PyTorch's ``kaiming_uniform_(w, a=0, nonlinearity='relu')``: kernels from
    ``U(-b, b)`` with ``b = sqrt(6 / fan_in)``. A paper that names "Kaiming
    uniform" as its initialization most plausibly means this call (it is only
    worth naming when it departs from the layer default), made on the weights
    with the biases left at PyTorch's default, ``U(+-1/sqrt(fan_in))``.
  - ``torch_default``: what a PyTorch ``Conv2d``/``Linear`` does unasked,
    ``kaiming_uniform_(w, a=sqrt(5))``: ``b = 1/sqrt(fan_in)`` for kernels and
    biases alike.

  ``fan_in`` is ``in_features`` for a dense layer and ``in_features * prod(window)``
  for a convolution, as in PyTorch.
  """
  if init == "default":
    return {}
  bias_bound = 1.0 / math.sqrt(fan_in)

  def bias_init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bias_bound, bias_bound)

  # variance_scaling's uniform bound is sqrt(3 * scale / fan_in).
  scale = {"kaiming_uniform": 2.0, "torch_default": 1.0 / 3.0}[init]
  return {"kernel_init": jax.nn.initializers.variance_scaling(scale, "fan_in", "uniform"),
          "bias_init": bias_init}


def dense(in_features: int, out_features: int, init: str, rngs: nnx.Rngs,
          dtype=None) -> nnx.Linear:
  """``nnx.Linear`` with float32 parameters, computing in ``dtype`` (None: float32)."""
  return nnx.Linear(in_features, out_features, rngs=rngs, dtype=dtype,
                    param_dtype=jnp.float32, **initializers(init, in_features))


def cast(x: jax.Array, dtype) -> jax.Array:
  """``x`` in the compute dtype (None: as it is)."""
  return x if dtype is None else x.astype(dtype)


def dropout(x: jax.Array, rate: float, key) -> jax.Array:
  """Inverted dropout: zero a ``rate`` share of ``x``, scale the rest by ``1/(1 - rate)``."""
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0.0).astype(x.dtype)


class Logistic(nnx.Module):
  takes_dropout_key = True  # called as model(x, dropout_key=...) (models/variables.py)

  def __init__(self, input_shape, num_classes, init="default", *, rngs: nnx.Rngs,
               dtype=None):
    self.out = dense(math.prod(input_shape), num_classes, init, rngs, dtype)
    self.dtype = dtype

  def __call__(self, x, dropout_key=None):
    return self.out(cast(x, self.dtype).reshape(x.shape[0], -1))


class MLP(nnx.Module):
  takes_dropout_key = True

  def __init__(self, input_shape, num_classes, hidden_sizes, activation, init="default", *,
               rngs: nnx.Rngs, dtype=None):
    sizes = [math.prod(input_shape), *hidden_sizes]
    self.hidden = nnx.List([dense(a, b, init, rngs, dtype)
                            for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    self.out = dense(sizes[-1], num_classes, init, rngs, dtype)
    self.activation = ACTIVATIONS[activation]
    self.dtype = dtype

  def __call__(self, x, dropout_key=None):
    x = cast(x, self.dtype).reshape(x.shape[0], -1)
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
  conv + pool blocks and one dense layer. With ``channels=(16, 32)``,
  ``kernel_sizes=(3, 3)``, ``padding=1``, ``pool=2``, ``dropout=0.25`` and
  ``dense_sizes=(128,)`` it is the CNN of the author's MNIST grid search
  (206,922 parameters; ``configs/paper_mnist_grid.yaml``).
  """

  takes_dropout_key = True

  def __init__(self, input_shape, num_classes, channels, kernel_sizes, strides, padding,
               activation, pool=1, dense_sizes=(), dropout=0.0, init="default",
               formulation="auto", *, rngs: nnx.Rngs, dtype=None):
    *spatial, features = input_shape
    dims = len(spatial)
    self.convs = nnx.List()
    for out_features, kernel, stride in zip(channels, kernel_sizes, strides, strict=True):
      self.convs.append(conv.Conv(
          features, out_features, kernel_size=(kernel,) * dims, strides=(stride,) * dims,
          padding=[(padding, padding)] * dims, formulation=formulation, rngs=rngs,
          dtype=dtype, param_dtype=jnp.float32,
          **initializers(init, features * kernel**dims)))
      spatial = [(n + 2 * padding - kernel) // stride + 1 for n in spatial]
      spatial = [n // pool for n in spatial]
      features = out_features
    if min(spatial) < 1:
      raise ValueError("the convolutions shrink the input to nothing; use smaller strides, "
                       "kernels or pooling")
    sizes = [math.prod(spatial) * features, *dense_sizes]
    self.dense = nnx.List([dense(a, b, init, rngs, dtype)
                           for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    self.out = dense(sizes[-1], num_classes, init, rngs, dtype)
    self.activation = ACTIVATIONS[activation]
    self.pool = pool
    self.dropout = dropout
    self.formulation = formulation
    self.dtype = dtype

  def __call__(self, x, dropout_key=None):
    x = cast(x, self.dtype)
    for layer in self.convs:
      x = self.activation(layer(x))
      if self.pool > 1:
        x = conv.max_pool(x, self.pool, self.formulation)
    x = dropout(x.reshape(x.shape[0], -1), self.dropout, dropout_key)
    for layer in self.dense:
      x = self.activation(layer(x))
    return self.out(x)


def create(config: ModelConfig, input_shape, num_classes: int, seed: int,
           compute_dtype: str = "float32", sequence: bool = False) -> nnx.Module:
  """The model of ``config`` for one seed.

  A built-in model's parameters are initialized by one compiled program: Flax
  initializes eagerly, one XLA compilation per initializer call (17 for the main
  job's MLP, seconds on a CPU); inside ``jax.jit`` they are one program, and the
  values are bit-identical (threefry draws the same bits either way). The user's
  factory (``package.module:factory``) runs eagerly, as in their own code, and its
  logits' shape is checked (``experiments/models/own.py``).

  Args:
    config: the model section.
    input_shape: one example's shape.
    num_classes: the number of classes.
    seed: the initialization's seed.
    compute_dtype: ``train.compute_dtype``: ``float32``, or ``bfloat16`` for the
      forward pass of a built-in model (its parameters stay float32).
    sequence: the labels have a time axis (``Dataset.sequence``): the user's model's
      logits are checked to be ``[batch, input_shape[0], num_classes]``.

  Returns:
    The ``nnx.Module``.
  """
  _check_for_data(config, input_shape, compute_dtype)
  if own.is_own(config.name):
    return own.build(config, tuple(input_shape), num_classes, seed, sequence=sequence)
  graphdef, initialize = _initializer(config, tuple(input_shape), num_classes, compute_dtype)
  return nnx.merge(graphdef, initialize(seed))


def check(config: ModelConfig, input_shape, num_classes: int, seed: int,
          compute_dtype: str = "float32", sequence: bool = False) -> None:
  """Refuses, before anything is written, a model that cannot train on this data.

  What :func:`create` would refuse, found without training: a CNN on tabular rows, a
  compute dtype for the user's own model, and for the user's factory (called once
  and dropped) a result that is no ``nnx.Module`` or logits that are not
  ``[batch, num_classes]`` (``[batch, input_shape[0], num_classes]`` for ``sequence``).

  Args:
    config: the model section.
    input_shape: one example's shape.
    num_classes: the number of classes.
    seed: the initialization's seed.
    compute_dtype: ``train.compute_dtype``.
    sequence: the labels have a time axis (``Dataset.sequence``).

  Raises:
    ConfigError: one line naming the key.
  """
  _check_for_data(config, input_shape, compute_dtype)
  if own.is_own(config.name):
    own.build(config, tuple(input_shape), num_classes, seed, sequence=sequence)


def _check_for_data(config: ModelConfig, input_shape, compute_dtype: str) -> None:
  if own.is_own(config.name) and compute_dtype != "float32":
    raise ConfigError(f"config key 'train.compute_dtype': {compute_dtype!r} is for the "
                      f"built-in models; {config.name!r} sets its own dtypes (pass them in "
                      "model.kwargs, e.g. dtype and param_dtype of its layers)")
  if config.name == "cnn" and len(input_shape) < 2:
    raise ConfigError(f"config key 'model.name': 'cnn' convolves [L, C] or [H, W, C] "
                      f"examples; these have shape {tuple(input_shape)} (tabular rows: use "
                      "'mlp' or 'logistic')")


@functools.lru_cache(maxsize=16)
def _initializer(config: ModelConfig, input_shape: tuple, num_classes: int,
                 compute_dtype: str = "float32"):
  """The graph and a jitted ``seed -> parameters`` for one architecture (seeds share it)."""
  build = functools.partial(_build, config, input_shape, num_classes,
                            compute_dtype=compute_dtype)
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: build(0)))
  return graphdef, jax.jit(lambda seed: nnx.split(build(seed))[1])


def _build(config: ModelConfig, input_shape, num_classes: int, seed: int,
           compute_dtype: str = "float32") -> nnx.Module:
  rngs = nnx.Rngs(jax.random.key(seed))  # what Rngs makes of an int; a traced seed too
  dtype = None if compute_dtype == "float32" else DTYPES[compute_dtype]
  if config.name == "transformer":
    return transformer.transformer(input_shape, num_classes, rngs, dtype=dtype,
                                   width=config.width, depth=config.depth, heads=config.heads,
                                   mlp_ratio=config.mlp_ratio, dropout=config.dropout)
  if config.name == "logistic":
    return Logistic(input_shape, num_classes, config.init, rngs=rngs, dtype=dtype)
  if config.name == "mlp":
    return MLP(input_shape, num_classes, config.hidden_sizes, config.activation, config.init,
               rngs=rngs, dtype=dtype)
  return CNN(input_shape, num_classes, config.channels, config.kernel_sizes, config.strides,
             config.padding, config.activation, config.pool, config.dense_sizes,
             config.dropout, config.init, config.conv, rngs=rngs, dtype=dtype)
