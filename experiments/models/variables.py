"""A model as pure functions of its arrays: parameters, non-parameter state, train/eval mode.

Flax NNX keeps everything in the module: parameters (``nnx.Param``), batch statistics
(``nnx.BatchStat`` of ``nnx.BatchNorm``) and any other ``nnx.Variable``, and the RNG
streams that ``nnx.Dropout`` draws from (``nnx.RngState``). Training here is a pure,
jitted, scanned and vmapped function of arrays, so a model is split once into

- a :class:`Graph`: its static structure, its RNG streams (as a template) and whether
  it is a built-in model;
- ``params``: what the optimizer updates;
- ``model_state``: every other variable (batch statistics and the like), carried
  through each step beside the parameters, checkpointed with them, and used as it
  stands in evaluation.

:func:`apply` merges them back and calls the model in train mode (``model.train()``:
dropout on, batch statistics of the batch, running averages updated) when given a
dropout key, else in eval mode (``model.eval()``: no dropout, running averages), and
returns the logits and the new ``model_state``. The RNG streams are not carried: each
step re-seeds every stream of the model from the step's dropout key (the run's
``train.dropout_key`` folded with the step), so the masks are distinct per cell, seed,
fold and step, and a resumed run draws the masks of the uninterrupted one. Built-in
models take that key as ``model(x, dropout_key=...)`` instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
from flax import nnx

# Variables that are neither parameters, nor RNG streams, nor sown intermediates.
STATE = nnx.Not(nnx.Any(nnx.Param, nnx.RngState, nnx.Intermediate))


class Graph(NamedTuple):
  """A model's static part: what ``nnx.merge`` needs besides the arrays that train."""

  graphdef: Any
  rng_state: Any  # the RNG streams (keys and counts), re-seeded at every training call
  intermediates: Any  # sown values present at creation (usually none), kept as they are
  takes_dropout_key: bool  # a built-in model: called as model(x, dropout_key=...)


def split(model: nnx.Module) -> tuple[Graph, Any, Any]:
  """Splits ``model`` into its :class:`Graph`, parameters and non-parameter state.

  Args:
    model: any ``nnx.Module``.

  Returns:
    ``(graph, params, model_state)``; ``params`` and ``model_state`` are ``nnx.State``
    trees of arrays (``model_state`` is empty for a model without such variables).
  """
  graphdef, params, rng_state, intermediates, model_state = nnx.split(
      model, nnx.Param, nnx.RngState, nnx.Intermediate, ...)
  takes_dropout_key = bool(getattr(type(model), "takes_dropout_key", False))
  return Graph(graphdef, rng_state, intermediates, takes_dropout_key), params, model_state


def reseed(rng_state, key: jax.Array):
  """Every RNG stream of ``rng_state`` started afresh from ``key``: stream ``i``'s key is
  ``fold_in(key, i)`` (split to its shape) and its count is zero.

  Args:
    rng_state: an ``nnx.State`` of ``nnx.RngKey`` and ``nnx.RngCount`` variables.
    key: a typed PRNG key.

  Returns:
    The same tree with new keys and zero counts.
  """
  is_variable = lambda v: isinstance(v, nnx.Variable)
  leaves, treedef = jax.tree.flatten(rng_state, is_leaf=is_variable)
  fresh = []
  for i, variable in enumerate(leaves):
    value = variable[...] if is_variable(variable) else variable
    if isinstance(variable, nnx.RngKey) or jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
      typed = jnp.issubdtype(value.dtype, jax.dtypes.prng_key)
      shape = value.shape if typed else value.shape[:-1]  # raw uint32 keys: [..., 2]
      new = jax.random.fold_in(key, i)
      new = new if shape == () else jax.random.split(new, shape)
      value = new if typed else jax.random.key_data(new).astype(value.dtype)
    else:
      value = jnp.zeros_like(value)
    fresh.append(variable.replace(value=value) if is_variable(variable) else value)
  return jax.tree.unflatten(treedef, fresh)


def apply(graph: Graph, params, model_state, x: jax.Array,
          dropout_key: Optional[jax.Array] = None):
  """The model's logits on ``x`` and its state afterwards; a pure function.

  Args:
    graph: from :func:`split`.
    params: the parameters (traced under ``jax.grad`` in a train step).
    model_state: the non-parameter state (batch statistics and the like).
    x: a batch of examples.
    dropout_key: the step's dropout key: train mode (``model.train()``), the model's
      RNG streams re-seeded from it; ``None``: eval mode (``model.eval()``).

  Returns:
    ``(logits, model_state)``: the new state (running averages updated in train mode;
    in eval mode the one given, as the model leaves it).
  """
  training = dropout_key is not None
  rng_state = reseed(graph.rng_state, dropout_key) if training else graph.rng_state
  # copy: fresh Variables of this trace (the ones given may belong to an outer one, a
  # scan's carry, and NNX refuses to update those from inside jax.grad).
  model = nnx.merge(graph.graphdef, params, rng_state, graph.intermediates, model_state,
                    copy=True)
  if training:
    model.train()
  else:
    model.eval()
  logits = model(x, dropout_key=dropout_key) if graph.takes_dropout_key else model(x)
  return logits, nnx.state(model, STATE)
