"""Convolution and max-pooling in the formulation that is fastest on the backend.

XLA's convolution (``lax.conv_general_dilated``, cuDNN on a GPU) is the right
kernel on an accelerator, but on the CPU a small convolution and its gradients
run far below the machine's matmul speed. There, ``im2col`` is faster: each
kernel offset is one strided slice of the padded input, the slices are
concatenated along the channels, and a single matmul contracts them with the
kernel, so the forward and both backward passes are matmuls, pads and adds.
Max-pooling with non-overlapping windows becomes a reshape and a ``max``,
whose gradient is an elementwise mask instead of XLA's ``select_and_scatter``.

``model.conv`` picks the formulation: ``auto`` (im2col on the CPU, XLA's
elsewhere), ``xla`` or ``im2col``. Both compute the same function with the
same parameters; ``tests/test_conv.py`` checks outputs and gradients against
``nnx.Conv`` and ``nnx.max_pool``.

One difference, at ties only: where several inputs of a pooling window share
the maximum, XLA's pooling gradient goes to one of them and the reshape form
splits it evenly among them (``jnp.max``'s rule). The sum over the window is
the same, so a bias, or a kernel whose input patches are equal there (a flat
background), gets the same gradient either way.
"""

from __future__ import annotations

import functools
import itertools
from typing import Literal

import jax
import jax.numpy as jnp
from flax import nnx

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


def columns(x: jax.Array, window, strides, padding) -> jax.Array:
  """im2col: ``[batch, *out_spatial, prod(window) * features]`` of shifted, strided slices.

  Offsets in row-major order over the window, features innermost: the order
  of ``kernel.reshape(-1, out_features)``.
  """
  x = jnp.pad(x, [(0, 0), *padding, (0, 0)])
  out = [(n - k) // s + 1 for n, k, s in zip(x.shape[1:-1], window, strides, strict=True)]
  patches = [x[(slice(None), *(slice(o, o + s * (m - 1) + 1, s)
                               for o, s, m in zip(offset, strides, out, strict=True)))]
             for offset in itertools.product(*(range(k) for k in window))]
  return patches[0] if len(patches) == 1 else jnp.concatenate(patches, axis=-1)


def conv_im2col(x: jax.Array, kernel: jax.Array, strides, padding) -> jax.Array:
  """An N-d convolution, channels last, as shifted slices and one matmul.

  Args:
    x: ``[batch, *spatial, in_features]``.
    kernel: ``[*window, in_features, out_features]`` (``nnx.Conv``'s layout).
    strides: one stride per spatial axis.
    padding: one ``(low, high)`` pair of zero padding per spatial axis.

  Returns:
    ``[batch, *out_spatial, out_features]`` with
    ``out = (n + low + high - window) // stride + 1`` per axis, as
    ``lax.conv_general_dilated`` computes it.
  """
  return _conv(x, kernel, tuple(int(s) for s in strides),
               tuple((int(lo), int(hi)) for lo, hi in padding))


def _contract(cols: jax.Array, kernel: jax.Array) -> jax.Array:
  return cols @ kernel.reshape(-1, kernel.shape[-1]).astype(cols.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv(x, kernel, strides, padding):
  return _contract(columns(x, kernel.shape[:-2], strides, padding), kernel)


def _conv_forward(x, kernel, strides, padding):
  # The input, not its columns (a 3x3 window makes 9 times as many), is kept.
  return _conv(x, kernel, strides, padding), (x, kernel)


def _conv_backward(strides, padding, residuals, g):
  """The kernel's gradient as ``columns^T @ g`` with the transpose written out; the
  input's as autodiff makes it (the columns' gradient through the slices' transposes).

  Autodiff leaves the kernel's gradient to a dot that contracts the columns'
  leading axis, which XLA's CPU dot runs slowly for a narrow input (one
  channel: a 9 x 50,176 operand); written out, the author's CNN trains about
  10 % faster on this CPU (0.90 of the time, median of 8 alternating pairs).
  """
  x, kernel = residuals
  cols, transpose = jax.vjp(lambda x: columns(x, kernel.shape[:-2], strides, padding), x)
  g2 = g.reshape(-1, g.shape[-1]).astype(cols.dtype)
  dkernel = cols.reshape(-1, cols.shape[-1]).T @ g2
  dcols = g2 @ kernel.reshape(-1, kernel.shape[-1]).astype(cols.dtype).T
  (dx,) = transpose(dcols.reshape(cols.shape))
  return dx, dkernel.reshape(kernel.shape).astype(kernel.dtype)


_conv.defvjp(_conv_forward, _conv_backward)


def max_pool_reshape(x: jax.Array, window: int) -> jax.Array:
  """Max-pooling of non-overlapping ``window``-wide blocks on every spatial axis.

  Trailing rows that do not fill a window are dropped, as in VALID pooling.
  """
  spatial = x.shape[1:-1]
  out = [n // window for n in spatial]
  x = x[(slice(None), *(slice(0, m * window) for m in out))]
  blocks = [x.shape[0], *(v for m in out for v in (m, window)), x.shape[-1]]
  return x.reshape(blocks).max(axis=tuple(range(2, 2 * len(out) + 1, 2)))


def max_pool(x: jax.Array, window: int, formulation: Formulation = "auto") -> jax.Array:
  """Max-pooling with window and stride ``window`` on every spatial axis."""
  if resolve(formulation) == "im2col":
    return max_pool_reshape(x, window)
  shape = (window,) * (x.ndim - 2)
  return nnx.max_pool(x, window_shape=shape, strides=shape)


class Conv(nnx.Conv):
  """``nnx.Conv`` (its parameters, initialization and layout) computed as ``formulation`` says.

  Only the plain case is rewritten: zero padding given as pairs, no dilation,
  one feature group, one batch axis; anything else is ``nnx.Conv``'s own.
  """

  def __init__(self, *args, formulation: Formulation = "auto", **kwargs):
    super().__init__(*args, **kwargs)
    resolve(formulation)  # refuse a bad name now, not at the first call
    self.formulation = formulation

  def _plain(self, inputs) -> bool:
    dims = len(self.kernel_size)
    ones = lambda v: v is None or v == 1 or tuple(v) == (1,) * dims
    pairs = (not isinstance(self.padding, str) and len(self.padding) == dims
             and all(len(p) == 2 for p in self.padding))
    return (inputs.ndim == dims + 2 and pairs and self.feature_group_count == 1
            and ones(self.kernel_dilation) and ones(self.input_dilation))

  def __call__(self, inputs: jax.Array) -> jax.Array:
    if resolve(self.formulation) == "xla" or not self._plain(inputs):
      return super().__call__(inputs)
    strides = self.strides if isinstance(self.strides, tuple) else (self.strides or 1,) * (
        len(self.kernel_size))
    if self.dtype is not None:  # mixed precision: float32 parameters, computed in dtype
      inputs = inputs.astype(self.dtype)
    y = conv_im2col(inputs, self.kernel[...], strides, self.padding)
    if self.bias is not None:
      y = y + self.bias[...].astype(y.dtype)
    return y
