"""The user's own model: ``model.name: "package.module:factory"`` with ``model.kwargs``.

The factory is called as ``factory(input_shape=..., num_classes=..., rngs=nnx.Rngs(...),
**kwargs)`` and returns an ``nnx.Module`` whose call ``model(x)`` gives logits
``[batch, num_classes]``. It follows Flax NNX's own conventions, so a model written for
a Flax NNX tutorial works unchanged: ``nnx.Dropout`` and ``nnx.BatchNorm`` (and any
other non-parameter state) are switched by ``model.train()`` / ``model.eval()``
(``experiments/models/variables.py`` carries that state through training).

Naming a module imports it, and importing runs its code, as Hydra's ``_target_`` does:
name only code you trust. Every mistake is a :class:`ConfigError` of one line naming
``model.name`` or ``model.kwargs``: a module that does not import, a factory that is
missing or has the wrong signature (checked when the config is loaded, before any
output is written), a factory that returns no ``nnx.Module``, and logits whose shape is
not ``[batch, num_classes]`` (checked once with ``jax.eval_shape`` when the model is
created).
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
from flax import nnx

from .. import imports
from ..config import ModelConfig
from ..errors import ConfigError
from . import variables

REQUIRED = ("input_shape", "num_classes", "rngs")  # the arguments every factory takes


def is_own(name: str) -> bool:
  """Whether ``model.name`` names the user's factory (``package.module:factory``)."""
  return imports.is_target(name)


def factory(config: ModelConfig, key: str = "model"):
  """Imports the factory ``config.name`` names and checks its signature against the call.

  Args:
    config: the model section; ``config.name`` is ``package.module:factory`` (the
      factory may be a dotted attribute, e.g. ``module:Class.create``).
    key: the section's dotted path, for the messages.

  Returns:
    The factory (any callable).

  Raises:
    ConfigError: the module does not import, has no such attribute, the attribute is
      not callable, or it cannot be called with ``input_shape``, ``num_classes``,
      ``rngs`` and ``model.kwargs`` as keywords.
  """
  taken = [k for k in config.kwargs if k in REQUIRED]
  if taken:
    raise ConfigError(f"config key '{key}.kwargs': {', '.join(map(repr, taken))} is set by "
                      "the toolkit (input_shape and num_classes from the data, rngs from "
                      "train.seed)")
  target = imports.import_target(config.name, f"{key}.name",
                                 "a factory returning an nnx.Module")
  where = f"config key '{key}.name': {config.name!r}"
  attribute = config.name.partition(":")[2]
  try:
    signature = inspect.signature(target)
  except (TypeError, ValueError):
    return target  # a builtin or C callable without a signature: the call will tell
  arguments = {name: None for name in REQUIRED} | dict(config.kwargs)
  try:
    signature.bind(**arguments)
  except TypeError as error:
    takes = ", ".join(REQUIRED)
    names = set(signature.parameters)
    varkw = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    unknown = [k for k in config.kwargs if k not in names and not varkw]
    if unknown and all(k in names or varkw for k in REQUIRED):
      raise ConfigError(f"config key '{key}.kwargs': {attribute} takes no argument "
                        f"{', '.join(map(repr, unknown))} (its signature: "
                        f"{attribute}{signature})") from None
    raise ConfigError(f"{where}: the factory must take the keyword arguments {takes} "
                      f"(and model.kwargs): {error}; its signature is "
                      f"{attribute}{signature}") from None
  return target


def build(config: ModelConfig, input_shape: tuple, num_classes: int, seed: int,
          key: str = "model", sequence: bool = False) -> nnx.Module:
  """Calls the user's factory for one seed and checks what it returns.

  The factory runs eagerly, as in the user's own notebook; its ``rngs`` is
  ``nnx.Rngs(jax.random.key(seed))`` (one ``default`` stream, which serves every
  stream name a tutorial asks for: ``params``, ``dropout``).

  Args:
    config: the model section.
    input_shape: one example's shape.
    num_classes: the number of classes, the logits' last axis.
    seed: ``train.seed`` (or a sweep cell's seed).
    key: the section's dotted path, for the messages.
    sequence: the labels have a time axis (text): see :func:`check_logits`.

  Returns:
    The model, as the factory made it.

  Raises:
    ConfigError: see :func:`factory`; the factory returned no ``nnx.Module``; or the
      model's logits (in train and in eval mode) are not ``[batch, num_classes]``
      (``[batch, input_shape[0], num_classes]`` for ``sequence``).
  """
  made = factory(config, key)(input_shape=tuple(input_shape), num_classes=num_classes,
                              rngs=nnx.Rngs(jax.random.key(seed)), **dict(config.kwargs))
  if not isinstance(made, nnx.Module):
    raise ConfigError(f"config key '{key}.name': {config.name!r} returned "
                      f"{type(made).__name__}; expected an nnx.Module")
  check_logits(made, config.name, input_shape, num_classes, key, sequence)
  return made


def check_logits(model: nnx.Module, name: str, input_shape, num_classes: int,
                 key: str = "model", sequence: bool = False) -> None:
  """Traces the model on a batch of two (train and eval mode) with ``jax.eval_shape``.

  For ``sequence`` data (labels with a time axis: windows of ``input_shape = (T,)``
  tokens, a label per token) the batch is of ``int32`` token ids and the logits must be
  ``[2, T, num_classes]``; else the batch is ``float32`` and they must be
  ``[2, num_classes]``.

  Args:
    model: the user's model.
    name: ``model.name``, for the messages.
    input_shape: one example's shape.
    num_classes: the logits' expected last axis.
    key: the section's dotted path, for the messages.
    sequence: the labels have a time axis.

  Raises:
    ConfigError: the call fails, or the logits' shape is not the expected one.
  """
  graph, params, model_state = variables.split(model)
  x = jax.ShapeDtypeStruct((2, *input_shape), jnp.int32 if sequence else jnp.float32)
  expected = (2, *input_shape[:1], num_classes) if sequence else (2, num_classes)
  meaning = "[batch, context, vocab]" if sequence else "[batch, num_classes]"
  for mode, dropout_key in (("train", jax.random.key(0)), ("eval", None)):
    try:
      logits, state = jax.eval_shape(
          lambda p, s, x, k=dropout_key: variables.apply(graph, p, s, x, k),
          params, model_state, x)
    except Exception as error:
      raise ConfigError(f"config key '{key}.name': {name!r}: calling the model in {mode} "
                        f"mode on a batch of shape {x.shape} failed "
                        f"({type(error).__name__}: {imports.first_line(error)})") from None
    if jax.tree.structure(state) != jax.tree.structure(model_state):
      raise ConfigError(f"config key '{key}.name': {name!r}: calling the model in {mode} "
                        "mode adds or removes variables other than parameters; create every "
                        "nnx.Variable in __init__")
    shape = getattr(logits, "shape", None)
    if shape != expected:
      got = shape if shape is not None else type(logits).__name__
      raise ConfigError(f"config key '{key}.name': {name!r} gives logits of shape {got} "
                        f"in {mode} mode for a batch of shape {x.shape}; expected "
                        f"{meaning} = {expected}")
