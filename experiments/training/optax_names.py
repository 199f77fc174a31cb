"""Any optax optimizer by name, or the user's function: ``optimizer.name: optax.adamw``.

Besides the built-in names, an optimizer entry (and a search space) takes
``optax.NAME`` or ``optax.contrib.NAME`` (``optax.adamw``, ``optax.lion``,
``optax.contrib.muon``), with ``kwargs``, or ``"package.module:function"``, a function
returning an ``optax.GradientTransformation``. Such a *factory* is called with
``learning_rate`` (the schedule scales it), its momentum-like argument
(``momentum_argument``, e.g. ``b1``) set to the entry's ``momentum``, and the kwargs
(``optimizers.update_for``). **Naming a module imports it and runs its code**, when the
config is loaded, as Hydra's ``_target_`` does: name only code you trust.

:func:`factory` refuses, in one line naming the key, a name that does not exist (with the
close ones) or a module that does not import; ``optax_check.check`` refuses the rest of
an entry that cannot work. :func:`swept_momentum_argument` says where a sweep's momentum
axis goes, or why it cannot.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Optional

import optax
from optax import contrib

from .. import imports
from ..config import MOMENTUM_OPTIMIZERS, OPTIMIZERS, OptimizerConfig
from ..errors import ConfigError

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


def one_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def signature_of(function) -> Optional[inspect.Signature]:
  """``function``'s signature; None where Python cannot read one (it takes anything)."""
  try:
    return inspect.signature(function)
  except (TypeError, ValueError):
    return None


def keywords_of(signature: Optional[inspect.Signature]) -> Optional[dict]:
  """{name: parameter} of the arguments a call can pass by keyword; None: any name."""
  if signature is None or any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
    return None
  return {n: p for n, p in signature.parameters.items()
          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def number_default(config: OptimizerConfig, argument: Optional[str]) -> Optional[float]:
  """The factory's default for ``argument`` where it is a plain number (None otherwise):
  the effective value of an unset learning rate or momentum."""
  return _number_default(signature_of(factory(config.name)), argument)


def takes_learning_rate(config: OptimizerConfig) -> bool:
  """Whether an optax name or a function takes ``learning_rate`` (what a search tunes)."""
  return accepts(signature_of(factory(config.name)), "learning_rate")


def accepts(signature, name: str) -> bool:
  keywords = keywords_of(signature)
  return keywords is None or name in keywords


def _number_default(signature, name: Optional[str]) -> Optional[float]:
  """The argument's default where it is a plain number (shown as the effective value)."""
  keywords = keywords_of(signature) or {}
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
  keywords = keywords_of(signature_of(factory(config.name)))
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
  signature = signature_of(factory(name))
  if not accepts(signature, "learning_rate"):
    raise ConfigError(f"config key 'optimizer.name': {name} takes no argument "
                      "'learning_rate', which the sweep's learning-rate axis sets")
  if named is not None and not accepts(signature, named):
    raise ConfigError(f"config key 'sweep.momentum_argument': {name} takes no argument "
                      f"{named!r}; it takes: {accepted(signature, ('learning_rate',))}")
  argument = named or momentum_argument(config)
  if argument is None and varies:
    raise ConfigError(f"config key 'sweep.momentum_argument': {name} takes no argument "
                      "'momentum'; name the one the momentum axis sets (it takes: "
                      f"{accepted(signature, ('learning_rate',))}), or sweep momenta [0]")
  if argument is not None and argument in config.kwargs:
    raise ConfigError(f"config key 'sweep.momentum_argument': {name}'s {argument} is set by "
                      f"optimizer.kwargs.{argument} too; the momentum axis sets it, leave it "
                      "out of the kwargs")
  return argument


def accepted(signature, leave_out=()) -> str:
  keywords = keywords_of(signature)
  if keywords is None:
    return "any keyword"
  names = [n for n in keywords if n not in leave_out]
  return ", ".join(names) if names else "none"
