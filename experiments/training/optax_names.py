"""Any optax optimizer by name, or the user's function: ``optimizer.name: optax.adamw``.

Besides the built-in names, an optimizer entry (and a search space) takes
``optax.NAME`` or ``optax.contrib.NAME`` (``optax.adamw``, ``optax.lion``,
``optax.contrib.muon``), with ``kwargs``, or ``"package.module:function"``, a function
returning an ``optax.GradientTransformation``. Such a *factory* is called with
``learning_rate`` (the schedule scales it), its momentum-like argument
(``momentum_argument``, e.g. ``b1``) set to the entry's ``momentum``, and the kwargs
(``optimizers.update_for``). **Naming a module imports it and runs its code**, when the
config is loaded, as Hydra's ``_target_`` does: name only code you trust.

:func:`check` refuses, in one line naming the key, a name that does not exist (with the
close ones), a module that does not import, kwargs the factory does not take (with the
ones it does), a learning rate or momentum it has no argument for, and a factory that
does not return a GradientTransformation. :func:`swept_momentum_argument` says where a
sweep's momentum axis goes, or why it cannot.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Optional

import optax
from optax import contrib

from .. import imports
from ..config import MOMENTUM_OPTIMIZERS, OPTIMIZERS, ConfigError, OptimizerConfig

_OPTAX_MODULES = {"optax": optax, "optax.contrib": contrib}


def is_factory(config: OptimizerConfig) -> bool:
  """Whether the entry names an optax optimizer or a ``module:function``, not a built-in."""
  return config.name not in OPTIMIZERS


def factory(name: str, key: str = "optimizer.name") -> Callable:
  """The function ``name`` stands for: ``optax.NAME``, ``optax.contrib.NAME`` or
  ``package.module:function`` (imported: the module's code runs). A name that does not
  resolve is a ConfigError naming ``key``, with the close names where there are some."""
  if imports.is_target(name):
    return imports.import_target(name, key, "a function returning an "
                                 "optax.GradientTransformation")
  module_name, _, attribute = name.rpartition(".")
  module = _OPTAX_MODULES.get(module_name)
  if module is None or not attribute.isidentifier():
    allowed = ", ".join(OPTIMIZERS)
    near = _optax_near(name.rpartition(".")[2]) if name.strip() else []
    hint = f" (did you mean {imports.either(near)}?)" if near else ""
    raise ConfigError(f"config key '{key}': unknown value {name!r}; allowed: {allowed}, "
                      f"'optax.NAME', 'optax.contrib.NAME' or 'package.module:function'{hint}")
  found = None if attribute.startswith("_") else getattr(module, attribute, None)
  if found is None:
    near = _optax_near(attribute)
    hint = f"; did you mean {imports.either(near)}?" if near else " (nor a close name)"
    raise ConfigError(f"config key '{key}': optax has no {name!r}{hint}")
  if not callable(found) or inspect.isclass(found):
    raise ConfigError(f"config key '{key}': {name!r} is not an optimizer (a function "
                      "returning an optax.GradientTransformation)")
  return found


def _optax_functions() -> dict[str, list[str]]:
  """{function name: its full names} of optax and optax.contrib."""
  names = {}
  for module_name, module in _OPTAX_MODULES.items():
    for attribute in dir(module):
      if not attribute.startswith("_") and inspect.isfunction(getattr(module, attribute)):
        names.setdefault(attribute, []).append(f"{module_name}.{attribute}")
  return names


def _optax_near(attribute: str) -> list[str]:
  functions = _optax_functions()
  near = difflib.get_close_matches(attribute, list(functions), n=3, cutoff=0.6)
  return [full for name in near for full in functions[name]][:3]


def _one_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _signature(function) -> Optional[inspect.Signature]:
  """``function``'s signature; None where Python cannot read one (it takes anything)."""
  try:
    return inspect.signature(function)
  except (TypeError, ValueError):
    return None


def _keywords(signature: Optional[inspect.Signature]) -> Optional[dict]:
  """{name: parameter} of the arguments a call can pass by keyword; None: any name."""
  if signature is None or any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
    return None
  return {n: p for n, p in signature.parameters.items()
          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def number_default(config: OptimizerConfig, argument: Optional[str]) -> Optional[float]:
  """The factory's default for ``argument`` where it is a plain number (None otherwise):
  the effective value of an unset learning rate or momentum."""
  return _number_default(_signature(factory(config.name)), argument)


def takes_learning_rate(config: OptimizerConfig) -> bool:
  """Whether an optax name or a function takes ``learning_rate`` (what a search tunes)."""
  return _takes(_signature(factory(config.name)), "learning_rate")


def _takes(signature, name: str) -> bool:
  keywords = _keywords(signature)
  return keywords is None or name in keywords


def _number_default(signature, name: Optional[str]) -> Optional[float]:
  """The argument's default where it is a plain number (shown as the effective value)."""
  keywords = _keywords(signature) or {}
  parameter = keywords.get(name) if name else None
  default = None if parameter is None else parameter.default
  if isinstance(default, (int, float)) and not isinstance(default, bool):
    return float(default)
  return None


def momentum_argument(config: OptimizerConfig) -> Optional[str]:
  """The factory's argument ``optimizer.momentum`` goes to: ``momentum_argument``, or
  ``momentum`` where the factory takes an argument of that name; None: it has none."""
  if config.momentum_argument is not None:
    return config.momentum_argument
  keywords = _keywords(_signature(factory(config.name)))
  return "momentum" if keywords is not None and "momentum" in keywords else None


def swept_momentum_argument(config: OptimizerConfig, sweep=None) -> Optional[str]:
  """The argument a sweep's momentum axis sets (``sweep`` is the config's SweepConfig, or
  None): for an optax name or a function ``sweep.momentum_argument``, else
  :func:`momentum_argument`; None for a built-in name, which takes its momentum itself.
  A ConfigError where the axes cannot reach the optimizer: a factory without
  ``learning_rate``, a momentum argument it does not take, one set by its kwargs too, or
  a momentum axis that varies (more than one value, or one not 0) with nowhere to go."""
  named = None if sweep is None else sweep.momentum_argument
  varies = sweep is not None and (len(sweep.momenta) > 1 or any(sweep.momenta))
  if not is_factory(config):
    if named is not None:
      raise ConfigError(f"config key 'sweep.momentum_argument': only for an optax name or a "
                        f"'package.module:function' (optimizer.name), not '{config.name}'")
    if varies and config.name not in MOMENTUM_OPTIMIZERS:
      raise ConfigError(f"config key 'sweep.momenta': optimizer '{config.name}' takes no "
                        "momentum; sweep momenta [0], or name an optax optimizer (e.g. "
                        "optax.adam) with sweep.momentum_argument (e.g. b1)")
    return None
  name = config.name
  signature = _signature(factory(name))
  if not _takes(signature, "learning_rate"):
    raise ConfigError(f"config key 'optimizer.name': {name} takes no argument "
                      "'learning_rate', which the sweep's learning-rate axis sets")
  if named is not None and not _takes(signature, named):
    raise ConfigError(f"config key 'sweep.momentum_argument': {name} takes no argument "
                      f"{named!r}; it takes: {_takes_list(signature, ('learning_rate',))}")
  argument = named or momentum_argument(config)
  if argument is None and varies:
    raise ConfigError(f"config key 'sweep.momentum_argument': {name} takes no argument "
                      "'momentum'; name the one the momentum axis sets (it takes: "
                      f"{_takes_list(signature, ('learning_rate',))}), or sweep momenta [0]")
  if argument is not None and argument in config.kwargs:
    raise ConfigError(f"config key 'sweep.momentum_argument': {name}'s {argument} is set by "
                      f"optimizer.kwargs.{argument} too; the momentum axis sets it, leave it "
                      "out of the kwargs")
  return argument


def _takes_list(signature, leave_out=()) -> str:
  keywords = _keywords(signature)
  if keywords is None:
    return "any keyword"
  names = [n for n in keywords if n not in leave_out]
  return ", ".join(names) if names else "none"


def check(config: OptimizerConfig, key: str = "optimizer") -> None:
  """Refuses an optax name or function entry that cannot work, in one line naming the key:
  a name that does not resolve, kwargs or a momentum argument the factory does not take, a
  learning rate it has no argument for, a required argument left out, and (one call with
  the entry's numbers) a factory that raises or returns no GradientTransformation."""
  name = config.name
  signature = _signature(factory(name, f"{key}.name"))
  takes = ", ".join(n for n in (_keywords(signature) or {}))
  for argument in config.kwargs:
    if argument == "learning_rate":
      raise ConfigError(f"config key '{key}.kwargs.learning_rate': set {key}.learning_rate "
                        "instead (the schedule and the sweep scale it)")
    if not _takes(signature, argument):
      raise ConfigError(f"config key '{key}.kwargs.{argument}': {name} takes no argument "
                        f"{argument!r}; it takes: {_takes_list(signature, ('learning_rate',))}")
  if config.momentum_argument is not None:
    if not config.momentum_argument.isidentifier() or not _takes(signature,
                                                                   config.momentum_argument):
      raise ConfigError(f"config key '{key}.momentum_argument': {name} takes no argument "
                        f"{config.momentum_argument!r}; it takes: {takes}")
    if config.momentum_argument == "learning_rate":
      raise ConfigError(f"config key '{key}.momentum_argument': not learning_rate (set by "
                        f"{key}.learning_rate); name the momentum-like argument, e.g. b1")
  argument = momentum_argument(config)
  if argument is not None and argument in config.kwargs:
    raise ConfigError(f"config key '{key}.kwargs.{argument}': {argument} is {name}'s "
                      f"momentum argument; set {key}.momentum instead (the sweep varies it)")
  if config.momentum is not None and argument is None:
    raise ConfigError(f"config key '{key}.momentum': {name} takes no argument 'momentum'; "
                      f"name its momentum-like one in {key}.momentum_argument (it takes: "
                      f"{_takes_list(signature, ('learning_rate',))})")
  has_learning_rate = _takes(signature, "learning_rate")
  if config.learning_rate is not None and not has_learning_rate:
    raise ConfigError(f"config key '{key}.learning_rate': {name} takes no argument "
                      f"'learning_rate' (it takes: {takes or 'none'}); leave it unset")
  keywords = _keywords(signature) or {}
  given = {*config.kwargs, "learning_rate" if config.learning_rate is not None else "",
           argument if config.momentum is not None else ""}
  missing = [n for n, p in keywords.items() if p.default is p.empty and n not in given]
  if argument in missing:
    raise ConfigError(f"config key '{key}.momentum': required for optimizer {name!r} (its "
                      f"momentum argument {argument} has no default)")
  if "learning_rate" in missing:
    raise ConfigError(f"config key '{key}.learning_rate': required for optimizer {name!r} "
                      "(its learning_rate has no default; a positive number)")
  if missing:
    raise ConfigError(f"config key '{key}.kwargs': {name} needs argument(s) "
                      f"{', '.join(missing)}; give them in {key}.kwargs")
  from .optimizers import resolve, update_for  # they call this module's factories
  resolved = resolve(config)
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
                      f"raised {_one_line(error)}") from None
  if not isinstance(built, optax.GradientTransformation):
    raise ConfigError(f"config key '{key}.name': {name} returned a {type(built).__name__}, "
                      "not an optax.GradientTransformation")
