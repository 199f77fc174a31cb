"""The user's code named in a config: ``"package.module:function"``, imported and looked up.

``dataset.name``, ``model.name`` and ``optimizer.name`` (and a search space's ``name``)
take such a target. Importing a module runs its code, as Hydra's ``_target_`` does, so
a config that names one runs it. Every way the lookup can fail is one line naming the
config key and the target.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable

from .errors import ConfigError


def is_target(name: str) -> bool:
  """Whether ``name`` has the form ``package.module:function``."""
  return ":" in name


def import_target(name: str, key: str, expected: str) -> Callable:
  """The callable ``name`` (``package.module:attribute``, the attribute possibly dotted)
  stands for.

  Args:
    name: the target, e.g. ``"my_models:resnet"`` or ``"my_package.models:Net.create"``.
    key: the config key that names it, for the messages (e.g. ``"model.name"``).
    expected: what the callable is for, for the message when it is not callable (e.g.
      ``"a factory returning an nnx.Module"``).

  Returns:
    The callable.

  Raises:
    ConfigError: ``name`` is not of that form; the module does not import (it is not on
      the Python path, or its own code raises); it has no such attribute (with the close
      names it has); the attribute is not callable.
  """
  where = f"config key '{key}': {name!r}"
  module_name, _, path = name.partition(":")
  if not all(part.isidentifier() for part in (*module_name.split("."), *path.split("."))):
    raise ConfigError(f"{where} is not 'package.module:function' (dotted Python names on "
                      "both sides)")
  try:
    found = importlib.import_module(module_name)
  except ModuleNotFoundError as error:
    if error.name and (module_name + ".").startswith(error.name + "."):
      raise ConfigError(f"{where}: cannot import module {module_name!r} (no module named "
                        f"{error.name!r} on the Python path)") from None
    raise ConfigError(f"{where}: cannot import module {module_name!r} "
                      f"({type(error).__name__}: {first_line(error)})") from None
  except Exception as error:  # the module's own code raised while it ran
    raise ConfigError(f"{where}: cannot import module {module_name!r} "
                      f"({type(error).__name__}: {first_line(error)})") from None
  for i, part in enumerate(path.split(".")):
    owner, found = found, getattr(found, part, None)
    if found is None:
      scope = ".".join([module_name, *path.split(".")[:i]])
      public = [n for n in dir(owner) if not n.startswith("_")]
      near = difflib.get_close_matches(part, public, n=3, cutoff=0.6)
      hint = f"; did you mean {either(near)}?" if near else ""
      raise ConfigError(f"{where}: {scope!r} has no attribute {part!r}{hint}")
  if not callable(found):
    raise ConfigError(f"{where}: {path!r} is not callable (it is a {type(found).__name__}); "
                      f"expected {expected}")
  return found


def first_line(error: BaseException) -> str:
  """The first line of an exception's message, for a one-line error."""
  text = str(error).strip()
  return text.splitlines()[0] if text else "no message"


def either(names: list[str]) -> str:
  """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
  quoted = [repr(n) for n in names]
  return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
