"""Convolution and pooling in the formulation that is fastest on the backend, and
drop-ins for ``nnx.Conv``, ``nnx.max_pool`` and ``nnx.avg_pool`` that use it.

XLA's convolution (``lax.conv_general_dilated``, cuDNN on a GPU) is the right
kernel on an accelerator, but on the CPU a small convolution and its gradients
run far below the machine's matmul speed. There, these are faster:

- im2col: each kernel offset is one strided slice of the padded input, the
  slices are concatenated along the features, and one matmul contracts them
  with the kernel; the backward pass is two matmuls and the columns' gradient
  added back where each column was taken.
- pooling as the elementwise maximum (or sum) of the window's strided slices;
  max-pooling keeps one bit per window offset (where the maximum is) for its
  gradient, which is a few fused passes where XLA's is a ``select_and_scatter``
  and ``jnp.max``'s autodiff (the reshape form) five passes over the input.

A first layer with one input feature is still a matmul with a contraction of
only 9 (or 25) terms, which runs at a tenth of the CPU's matmul speed; written
as shifted multiply-adds instead it is four times faster alone, but XLA fuses
such an elementwise sum into every consumer (each pooling slice, each column of
the next layer's im2col) and computes it there again: slower in a network. As a
stride-2 matmul over 2 x 2 output blocks (contraction 16, 64 outputs) the matmul
is three times as fast, but rearranging its output costs about as much: no gain.

``formulation`` picks: ``auto`` (these on the CPU, XLA's elsewhere), ``xla`` or
``im2col``. Both compute the same function with the same parameters;
``tests/test_conv.py`` and ``tests/test_conv_dropin.py`` check values and
gradients against ``nnx.Conv``, ``nnx.max_pool`` and ``nnx.avg_pool``.

For a user's own model: ``conv.Conv`` takes ``nnx.Conv``'s arguments (plus
``formulation``) and holds the same parameters, so a state of one loads into the
other; ``conv.max_pool`` and ``conv.avg_pool`` take ``nnx.max_pool``'s and
``nnx.avg_pool``'s. Cases outside the fast path (feature groups, input dilation,
circular, reflect or causal padding, a custom ``conv_general_dilated``, a
``preferred_element_type``, an ``out_sharding``) are computed by nnx itself.

One difference, at ties only: where several inputs of a max-pooling window share
the maximum, XLA's gradient goes to one of them and this one splits it evenly
among them (``jnp.max``'s rule). The sum over the window is the same, so a bias,
or a kernel whose input patches are equal there (a flat background), gets the
same gradient either way; after a ReLU the tied zeros get no gradient either way.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from flax.nnx.nn.linear import canonicalize_padding
from jax import lax

Formulation = Literal["auto", "xla", "im2col"]
FORMULATIONS = ("auto", "xla", "im2col")


def resolve(formulation: Formulation) -> str:
  """``xla`` or ``im2col``: ``auto`` is im2col on the CPU and XLA's on accelerators."""
  if formulation not in FORMULATIONS:
    raise ValueError(f"conv formulation must be one of {', '.join(FORMULATIONS)}, got "
                     f"{formulation!r}")
  if formulation == "auto":
    return "im2col" if jax.default_backend() == "cpu" else "xla"
  return formulation


def _geometry(shape, window, strides, padding, dilation):
  """(offsets, output sizes) of a window sliding over ``[batch, *spatial, C]`` padded.

  The offsets are row-major over the window, in input positions (``dilation``
  apart): the order of ``kernel.reshape(-1, out_features)``'s rows.
  """
  offsets = [tuple(o * d for o, d in zip(offset, dilation, strict=True))
             for offset in itertools.product(*(range(k) for k in window))]
  out = [(n + lo + hi - (k - 1) * d - 1) // s + 1 for n, (lo, hi), k, d, s in
         zip(shape[1:-1], padding, window, dilation, strides, strict=True)]
  return offsets, out


def _take(x, offset, strides, out):
  """The strided slice ``x[:, offset + stride * i]`` (``i < out`` on every spatial axis)."""
  return x[(slice(None), *(slice(o, o + s * (m - 1) + 1, s)
                           for o, s, m in zip(offset, strides, out, strict=True)))]


def _put_back(parts, shape, offsets, strides, padding):
  """The transpose of taking ``parts`` at ``offsets`` of ``shape`` padded by ``padding``.

  Each part goes back where it was taken (zeros between strided positions, the
  padding cut off) and the parts are summed: one ``lax.pad`` each.
  """
  total = None
  for part, offset in zip(parts, offsets, strict=True):
    config = [(0, 0, 0)] + [
        (o - lo, n + lo - o - s * (m - 1) - 1, s - 1)
        for o, s, m, n, (lo, hi) in zip(offset, strides, part.shape[1:-1], shape[1:-1],
                                        padding, strict=True)] + [(0, 0, 0)]
    placed = lax.pad(part, jnp.zeros((), part.dtype), config)
    total = placed if total is None else total + placed
  return total


def columns(x, window, strides, padding, dilation=None) -> jax.Array:
  """im2col: ``[batch, *out_spatial, prod(window) * features]`` of shifted, strided slices.

  Offsets in row-major order over the window, features innermost: the order
  of ``kernel.reshape(-1, out_features)``.
  """
  dilation = dilation or (1,) * len(window)
  offsets, out = _geometry(x.shape, window, strides, padding, dilation)
  x = jnp.pad(x, [(0, 0), *padding, (0, 0)])
  patches = [_take(x, offset, strides, out) for offset in offsets]
  return patches[0] if len(patches) == 1 else jnp.concatenate(patches, axis=-1)


def conv_im2col(x: jax.Array, kernel: jax.Array, strides, padding,
                dilation=None) -> jax.Array:
  """An N-d convolution, channels last, as shifted slices and one matmul.

  Args:
    x: ``[batch, *spatial, in_features]``.
    kernel: ``[*window, in_features, out_features]`` (``nnx.Conv``'s layout), of
      ``x``'s dtype.
    strides: one stride per spatial axis.
    padding: one ``(low, high)`` pair of zero padding per spatial axis.
    dilation: one kernel dilation per spatial axis (None: 1).

  Returns:
    ``[batch, *out_spatial, out_features]`` with ``out = (n + low + high -
    dilation * (window - 1) - 1) // stride + 1`` per axis, as
    ``lax.conv_general_dilated`` computes it.
  """
  dims = len(strides)
  return _conv(x, kernel.astype(x.dtype), tuple(int(s) for s in strides),
               tuple((int(lo), int(hi)) for lo, hi in padding),
               tuple(int(d) for d in (dilation or (1,) * dims)))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, kernel, strides, padding, dilation):
  cols = columns(x, kernel.shape[:-2], strides, padding, dilation)
  return cols @ kernel.reshape(-1, kernel.shape[-1])


def _conv_forward(x, kernel, strides, padding, dilation):
  # The input, not its columns (a 3x3 window makes 9 times as many), is kept.
  return _conv(x, kernel, strides, padding, dilation), (x, kernel)


def _conv_backward(strides, padding, dilation, residuals, g):
  """The kernel's gradient as ``columns^T @ g``; the input's as ``g @ kernel^T``, each
  offset's columns added back where they were taken (XLA drops it for a first layer).

  Autodiff leaves the kernel's gradient to a dot that contracts the columns'
  leading axis, which XLA's CPU dot ran slowly for a narrow input (one channel:
  a 9 x 50,176 operand); written out, the author's CNN trained about 10 % faster.
  """
  x, kernel = residuals
  window, features = kernel.shape[:-2], x.shape[-1]
  offsets, _ = _geometry(x.shape, window, strides, padding, dilation)
  cols = columns(x, window, strides, padding, dilation)
  g2 = g.reshape(-1, g.shape[-1])
  flat = kernel.reshape(-1, kernel.shape[-1])
  dkernel = cols.reshape(-1, cols.shape[-1]).T @ g2
  dcols = (g2 @ flat.T).reshape(cols.shape)
  dx = _put_back([dcols[..., n * features:(n + 1) * features] for n in range(len(offsets))],
                 x.shape, offsets, strides, padding)
  return dx, dkernel.reshape(kernel.shape)


_conv.defvjp(_conv_forward, _conv_backward)


class Conv(nnx.Conv):
  """``nnx.Conv`` (its arguments, parameters, initialization and layout) computed as
  ``formulation`` says; a drop-in for ``nnx.Conv`` in a user's model.

  The fast path takes ``'SAME'``/``'VALID'``/explicit zero padding, any strides
  and kernel dilation, a ``mask``, ``dtype``/``param_dtype`` and any number of
  batch axes (none included), as ``nnx.Conv`` does; ``precision`` does not
  apply to it (a float32 matmul on the CPU is exact float32). Anything else is
  ``nnx.Conv``'s own call.
  """

  def __init__(self, *args, formulation: Formulation = "auto", **kwargs):
    super().__init__(*args, **kwargs)
    resolve(formulation)  # refuse a bad name now, not at the first call
    self.formulation = formulation

  def _fast_geometry(self, inputs, out_sharding):
    """(strides, padding pairs, dilation) for the fast path, or None for nnx's."""
    dims = len(self.kernel_size)
    if (resolve(self.formulation) == "xla" or out_sharding is not None
        or self.feature_group_count != 1 or inputs.ndim < dims + 1
        or self.conv_general_dilated is not lax.conv_general_dilated
        or self.preferred_element_type is not None
        or (self.mask is not None and self.mask.shape != self.kernel_shape)):
      return None
    spread = lambda v: (1 if v is None else v,) * dims if v is None or isinstance(
        v, int) else tuple(v)
    strides, dilation = spread(self.strides), spread(self.kernel_dilation)
    padding = self.padding
    if spread(self.input_dilation) != (1,) * dims:
      return None
    if isinstance(padding, str):
      if padding.upper() not in ("SAME", "SAME_LOWER", "VALID"):
        return None  # circular, reflect, causal: nnx pads them itself
      span = [(k - 1) * d + 1 for k, d in zip(self.kernel_size, dilation, strict=True)]
      padding = lax.padtype_to_pads(inputs.shape[-dims - 1:-1], span, strides, padding)
    padding = tuple((int(lo), int(hi)) for lo, hi in canonicalize_padding(padding, dims))
    if min(min(pair) for pair in padding) < 0:
      return None
    return strides, padding, dilation

  def __call__(self, inputs: jax.Array, out_sharding=None) -> jax.Array:
    geometry = self._fast_geometry(inputs, out_sharding)
    if geometry is None:
      return super().__call__(inputs, out_sharding=out_sharding)
    batch = inputs.shape[:inputs.ndim - len(self.kernel_size) - 1]
    x = inputs.reshape(-1, *inputs.shape[len(batch):])
    kernel = self.kernel[...]
    if self.mask is not None:
      kernel = kernel * self.mask
    bias = self.bias[...] if self.bias is not None else None
    x, kernel, bias = self.promote_dtype((x, kernel, bias), dtype=self.dtype)
    y = conv_im2col(x, kernel, *geometry)
    if bias is not None:
      y = y + bias
    return y.reshape(*batch, *y.shape[1:])


def _pool_geometry(inputs, window_shape, strides, padding, formulation):
  """(window, strides, padding pairs) of a pooling for the fast path, or None for nnx's."""
  window = tuple(window_shape)
  dims = len(window)
  strides = tuple(strides or (1,) * dims)
  if resolve(formulation) == "xla" or inputs.ndim < dims + 1 or len(strides) != dims:
    return None
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(inputs.shape[-dims - 1:-1], window, strides, padding)
  padding = tuple((int(lo), int(hi)) for lo, hi in padding)
  if min((p for pair in padding for p in pair), default=0) < 0:
    return None
  return window, strides, padding


def _batched(pool, inputs, dims):
  """``pool`` of a ``[batch, *spatial, C]`` array applied to ``inputs`` with any batch axes."""
  batch = inputs.shape[:inputs.ndim - dims - 1]
  y = pool(inputs.reshape(-1, *inputs.shape[len(batch):]))
  return y.reshape(*batch, *y.shape[1:])


def max_pool(inputs, window_shape, strides=None, padding="VALID", *,
             formulation: Formulation = "auto"):
  """``nnx.max_pool``, as ``formulation`` says; a drop-in for it.

  An int ``window_shape`` is the built-in CNN's form, ``max_pool(x, window,
  formulation)``: square windows of that size and stride, no padding.
  """
  if isinstance(window_shape, int):
    if isinstance(strides, str):
      formulation, strides = strides, None
    window_shape = (window_shape,) * (inputs.ndim - 2)
    strides = window_shape
  geometry = _pool_geometry(inputs, window_shape, strides, padding, formulation)
  if geometry is None or math.prod(geometry[0]) > 32:  # one bit per offset in a uint32
    return nnx.max_pool(inputs, tuple(window_shape), strides and tuple(strides), padding)
  return _batched(lambda x: _max_pool(x, *geometry), inputs, len(geometry[0]))


def avg_pool(inputs, window_shape, strides=None, padding="VALID", count_include_pad=True, *,
             formulation: Formulation = "auto"):
  """``nnx.avg_pool``, as ``formulation`` says; a drop-in for it."""
  geometry = _pool_geometry(inputs, window_shape, strides, padding, formulation)
  if geometry is None:
    return nnx.avg_pool(inputs, tuple(window_shape), strides and tuple(strides), padding,
                        count_include_pad)
  window, strides, padding = geometry
  spatial = inputs.shape[inputs.ndim - len(window) - 1:-1]
  if count_include_pad:
    divisor = math.prod(window)
  else:  # how many inputs, not padding, each window holds: fixed by the shapes
    ones = np.pad(np.ones(spatial, np.float32), padding)[None, ..., None]
    offsets, out = _geometry(ones.shape, window, strides, ((0, 0),) * len(window),
                             (1,) * len(window))
    divisor = sum(_take(ones, offset, strides, out) for offset in offsets)[0]
  return _batched(lambda x: _sum_pool(x, window, strides, padding), inputs,
                  len(window)) / jnp.asarray(divisor, inputs.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _sum_pool(x, window, strides, padding):
  offsets, out = _geometry(x.shape, window, strides, padding, (1,) * len(window))
  x = jnp.pad(x, [(0, 0), *padding, (0, 0)])
  return functools.reduce(jnp.add, (_take(x, offset, strides, out) for offset in offsets))


def _sum_pool_forward(x, window, strides, padding):
  return _sum_pool(x, window, strides, padding), x.shape


def _sum_pool_backward(window, strides, padding, shape, g):
  offsets, _ = _geometry(shape, window, strides, padding, (1,) * len(window))
  return (_put_back([g] * len(offsets), shape, offsets, strides, padding),)


_sum_pool.defvjp(_sum_pool_forward, _sum_pool_backward)


def _max_parts(x, window, strides, padding):
  offsets, out = _geometry(x.shape, window, strides, padding, (1,) * len(window))
  x = jnp.pad(x, [(0, 0), *padding, (0, 0)], constant_values=-jnp.inf)
  return offsets, [_take(x, offset, strides, out) for offset in offsets]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _max_pool(x, window, strides, padding):
  return functools.reduce(jnp.maximum, _max_parts(x, window, strides, padding)[1])


def _max_pool_forward(x, window, strides, padding):
  """The maximum, and as residual one bit per window offset: where the maximum is."""
  _, parts = _max_parts(x, window, strides, padding)
  y = functools.reduce(jnp.maximum, parts)
  bits = jnp.uint8 if len(parts) <= 8 else jnp.uint16 if len(parts) <= 16 else jnp.uint32
  where = functools.reduce(jnp.bitwise_or, [
      (part == y).astype(bits) << n for n, part in enumerate(parts)])
  return y, (where, x.shape)


def _max_pool_backward(window, strides, padding, residuals, g):
  """Each window's gradient split evenly among the offsets that hold its maximum."""
  where, shape = residuals
  offsets, _ = _geometry(shape, window, strides, padding, (1,) * len(window))
  share = g / lax.population_count(where).astype(g.dtype)
  zero = jnp.zeros((), g.dtype)
  parts = [jnp.where((where >> n) & 1 == 1, share, zero) for n in range(len(offsets))]
  return (_put_back(parts, shape, offsets, strides, padding),)


_max_pool.defvjp(_max_pool_forward, _max_pool_backward)
