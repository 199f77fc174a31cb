"""A small causal transformer for next-token prediction, in the style of the Flax examples.

``transformer(input_shape=(context,), num_classes=vocab_size, rngs=..., **kwargs)`` builds
:class:`Transformer`: a token embedding plus learned positions, ``depth`` pre-LayerNorm
blocks (causal self-attention through ``jax.nn.dot_product_attention(is_causal=True)``
from one fused query/key/value projection, then a GELU MLP of ``mlp_ratio * width``),
a final LayerNorm and a linear head. Called on tokens ``[batch, length]`` (``length <=
context``; integer ids, or floats holding them), it returns logits ``[batch, length,
vocab]``: position ``t``'s logits predict token ``t + 1`` from tokens ``0..t`` only.

``nnx.Dropout`` (after the embedding, the attention and the MLP) is switched by
``model.train()`` / ``model.eval()``, as in any Flax NNX model; it draws from the
``dropout`` stream of the ``rngs`` given (one ``default`` stream serves it).

``dtype`` is the compute dtype: ``None`` (float32) or ``bfloat16`` (a string is read by
``jnp.dtype``), with parameters in ``param_dtype`` (float32); the logits come out in the
compute dtype, as the toolkit's built-in models do (the losses compute in float32).

The default size (width 64, depth 2, 4 heads, MLP ratio 4: 141,312 parameters at
context 128 with a vocabulary of 256) trained 300 steps of batch 32 at context 128 on
the built-in ``python_stdlib`` bytes in 26 s on a 2-core CPU at load 1.5 (12 s at context 64),
the loss falling from 5.55 to 2.0 nats a byte with ``optax.sgd(0.1, momentum=0.9)``;
``benchmarks/transformer_step.py`` measures a step.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx

from ..errors import ConfigError

__all__ = ["Block", "Transformer", "transformer"]

INIT = jax.nn.initializers.normal(0.02)  # GPT-2's, as in the Flax examples' LM


class Block(nnx.Module):
  """One pre-LayerNorm block: ``x + attention(norm(x))``, then ``x + mlp(norm(x))``."""

  def __init__(self, width: int, heads: int, mlp_ratio: int, dropout: float, *,
               rngs: nnx.Rngs, dtype=None, param_dtype=jnp.float32):
    layer = {"dtype": dtype, "param_dtype": param_dtype, "rngs": rngs}
    linear = dict(layer, kernel_init=INIT)
    self.attention_norm = nnx.LayerNorm(width, **layer)
    self.qkv = nnx.Linear(width, 3 * width, **linear)
    self.out = nnx.Linear(width, width, **linear)
    self.mlp_norm = nnx.LayerNorm(width, **layer)
    self.up = nnx.Linear(width, mlp_ratio * width, **linear)
    self.down = nnx.Linear(mlp_ratio * width, width, **linear)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.heads = heads

  def __call__(self, x: jax.Array) -> jax.Array:
    batch, length, width = x.shape
    qkv = self.qkv(self.attention_norm(x)).reshape(batch, length, 3, self.heads,
                                                   width // self.heads)
    attended = jax.nn.dot_product_attention(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2],
                                            is_causal=True)
    x = x + self.dropout(self.out(attended.reshape(batch, length, width)))
    hidden = self.down(jax.nn.gelu(self.up(self.mlp_norm(x))))
    return x + self.dropout(hidden)


class Transformer(nnx.Module):
  """A causal transformer language model: tokens ``[batch, length]`` to logits
  ``[batch, length, vocab_size]``."""

  def __init__(self, vocab_size: int, *, context: int = 128, width: int = 64, depth: int = 2,
               heads: int = 4, mlp_ratio: int = 4, dropout: float = 0.0,
               rngs: nnx.Rngs, dtype=None, param_dtype=jnp.float32):
    """Creates the layers.

    Args:
      vocab_size: the number of token ids (the logits' last axis).
      context: the longest sequence (the number of learned positions).
      width: the model width, split over ``heads``.
      depth: the number of blocks.
      heads: attention heads; ``width`` is a multiple of it.
      mlp_ratio: the MLP's hidden width over ``width``.
      dropout: the dropout rate in train mode.
      rngs: the parameters' and dropout's randomness.
      dtype: the compute dtype (``None``: float32; ``bfloat16`` or its name).
      param_dtype: the parameters' dtype.
    """
    dtype = None if dtype is None else jnp.dtype(dtype)
    layer = {"dtype": dtype, "param_dtype": jnp.dtype(param_dtype), "rngs": rngs}
    self.embed = nnx.Embed(vocab_size, width, embedding_init=INIT, **layer)
    self.position = nnx.Embed(context, width, embedding_init=INIT, **layer)
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.blocks = nnx.List([Block(width, heads, mlp_ratio, dropout, **layer)
                            for _ in range(depth)])
    self.norm = nnx.LayerNorm(width, **layer)
    self.head = nnx.Linear(width, vocab_size, kernel_init=INIT, **layer)
    self.context = context

  def __call__(self, tokens: jax.Array) -> jax.Array:
    """The logits of the next token at every position.

    Args:
      tokens: ``[batch, length]`` ids (integers, or floats holding integers), ``length
        <= context``.

    Returns:
      ``[batch, length, vocab_size]`` logits in the compute dtype.
    """
    length = tokens.shape[-1]
    if length > self.context:
      raise ValueError(f"a sequence of {length} tokens is longer than the model's context "
                       f"{self.context}")
    x = self.embed(tokens.astype(jnp.int32)) + self.position(jnp.arange(length))
    x = self.dropout(x)
    for block in self.blocks:
      x = block(x)
    return self.head(self.norm(x))


def transformer(input_shape, num_classes: int, rngs: nnx.Rngs, *,
                dtype: Optional[str] = None, **kwargs) -> Transformer:
  """The toolkit's factory signature: a :class:`Transformer` for windows of
  ``input_shape = (context,)`` tokens and a vocabulary of ``num_classes``.

  Args:
    input_shape: ``(context,)``, one example's shape.
    num_classes: the vocabulary size.
    rngs: the parameters' and dropout's randomness.
    dtype: the compute dtype (``None``/``float32`` or ``bfloat16``).
    **kwargs: ``width``, ``depth``, ``heads``, ``mlp_ratio``, ``dropout``,
      ``param_dtype`` (``model.kwargs``).

  Returns:
    The model.

  Raises:
    ConfigError: ``input_shape`` is not ``(context,)``, ``context`` is given in
      ``model.kwargs``, or ``width`` is no multiple of ``heads``.
  """
  if len(tuple(input_shape)) != 1:
    raise ConfigError(f"config key 'model.name': the transformer reads windows of tokens "
                      f"[context]; these examples have shape {tuple(input_shape)}")
  if "context" in kwargs:
    raise ConfigError("config key 'model.kwargs': 'context' is set by the data (the "
                      "windows' length); leave it out")
  width, heads = kwargs.get("width", 64), kwargs.get("heads", 4)
  if heads < 1 or width % heads:
    raise ConfigError(f"config key 'model.kwargs': width {width} is no multiple of heads "
                      f"{heads}")
  dtype = None if dtype in (None, "float32") else dtype
  return Transformer(num_classes, context=int(input_shape[0]), rngs=rngs, dtype=dtype,
                     **kwargs)
