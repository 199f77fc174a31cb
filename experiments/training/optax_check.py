"""Refuses an optax name or function entry that cannot work, in one line naming its key.

An optimizer entry naming ``optax.NAME``, ``optax.contrib.NAME`` or
``package.module:function`` (``optax_names.py``) is checked here, after the config is
parsed (``experiments/loading.py``), in this order: a name that does not resolve, kwargs
or a momentum argument the factory does not take, a learning rate it has no argument for,
a required argument left out, then one call with the entry's numbers: a factory that
raises or returns no ``GradientTransformation``. It sits above both ``optax_names`` and
``optimizers``, since the call builds the entry's update as training would.
"""

from __future__ import annotations

import optax

from ..config import OptimizerConfig
from ..errors import ConfigError
from . import optax_names
from .optax_names import accepted, accepts, keywords_of, one_line, signature_of
from .optimizers import resolve, update_for

__all__ = ["check"]


def check(config: OptimizerConfig, key: str = "optimizer") -> None:
  """Raises :class:`ConfigError` for an optax name or function entry that cannot work.

  Args:
    config: the optimizer entry (``optimizer``, a comparison's row, a search's probe).
    key: its dotted key in the config, named by every message.
  """
  signature = signature_of(optax_names.factory(config.name, f"{key}.name"))
  _check_arguments(config, key, signature)
  argument = _check_momentum(config, key, signature)
  _check_required(config, key, signature, argument)
  _check_call(config, key, accepts(signature, "learning_rate"))


def _check_arguments(config: OptimizerConfig, key: str, signature) -> None:
  """kwargs and the momentum argument the factory takes."""
  name = config.name
  for argument in config.kwargs:
    if argument == "learning_rate":
      raise ConfigError(f"config key '{key}.kwargs.learning_rate': set {key}.learning_rate "
                        "instead (the schedule and the sweep scale it)")
    if not accepts(signature, argument):
      raise ConfigError(f"config key '{key}.kwargs.{argument}': {name} takes no argument "
                        f"{argument!r}; it takes: {accepted(signature, ('learning_rate',))}")
  if config.momentum_argument is not None:
    if not config.momentum_argument.isidentifier() or not accepts(signature,
                                                                    config.momentum_argument):
      raise ConfigError(f"config key '{key}.momentum_argument': {name} takes no argument "
                        f"{config.momentum_argument!r}; it takes: {_taken(signature)}")
    if config.momentum_argument == "learning_rate":
      raise ConfigError(f"config key '{key}.momentum_argument': not learning_rate (set by "
                        f"{key}.learning_rate); name the momentum-like argument, e.g. b1")


def _check_momentum(config: OptimizerConfig, key: str, signature):
  """The argument the momentum goes to (None: none), where it can go."""
  name, argument = config.name, optax_names.momentum_argument(config)
  if argument is not None and argument in config.kwargs:
    raise ConfigError(f"config key '{key}.kwargs.{argument}': {argument} is {name}'s "
                      f"momentum argument; set {key}.momentum instead (the sweep varies it)")
  if config.momentum is not None and argument is None:
    raise ConfigError(f"config key '{key}.momentum': {name} takes no argument 'momentum'; "
                      f"name its momentum-like one in {key}.momentum_argument (it takes: "
                      f"{accepted(signature, ('learning_rate',))})")
  if config.learning_rate is not None and not accepts(signature, "learning_rate"):
    raise ConfigError(f"config key '{key}.learning_rate': {name} takes no argument "
                      f"'learning_rate' (it takes: {_taken(signature) or 'none'}); leave it "
                      "unset")
  return argument


def _check_required(config: OptimizerConfig, key: str, signature, argument) -> None:
  """Every argument without a default is given."""
  name = config.name
  given = {*config.kwargs, "learning_rate" if config.learning_rate is not None else "",
           argument if config.momentum is not None else ""}
  missing = [n for n, p in (keywords_of(signature) or {}).items()
             if p.default is p.empty and n not in given]
  if argument in missing:
    raise ConfigError(f"config key '{key}.momentum': required for optimizer {name!r} (its "
                      f"momentum argument {argument} has no default)")
  if "learning_rate" in missing:
    raise ConfigError(f"config key '{key}.learning_rate': required for optimizer {name!r} "
                      "(its learning_rate has no default; a positive number)")
  if missing:
    raise ConfigError(f"config key '{key}.kwargs': {name} needs argument(s) "
                      f"{', '.join(missing)}; give them in {key}.kwargs")


def _check_call(config: OptimizerConfig, key: str, has_learning_rate: bool) -> None:
  """The schedule and the decay have something to act on, and one call builds the update."""
  name, resolved = config.name, resolve(config)
  if config.schedule.name != "constant" and resolved.learning_rate is None:
    raise ConfigError(f"config key '{key}.schedule': scales the learning rate, and {name} "
                      f"has none to scale ({'no default' if has_learning_rate else 'no argument'}"
                      " 'learning_rate'); use schedule 'constant'")
  if config.weight_decay and config.kwargs.get("weight_decay"):
    raise ConfigError(f"config key '{key}.weight_decay': {name} decays by its own "
                      f"kwargs.weight_decay; give one of the two")
  try:
    built = update_for(config, resolved.learning_rate, resolved.momentum)
  except Exception as error:  # the factory's own complaint about its arguments
    raise ConfigError(f"config key '{key}.name': {name}(...) with this entry's arguments "
                      f"raised {one_line(error)}") from None
  if not isinstance(built, optax.GradientTransformation):
    raise ConfigError(f"config key '{key}.name': {name} returned a {type(built).__name__}, "
                      "not an optax.GradientTransformation")


def _taken(signature) -> str:
  return ", ".join(n for n in (keywords_of(signature) or {}))
