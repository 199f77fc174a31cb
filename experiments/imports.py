"""The user's code named in a config: ``"package.module:function"``, imported and looked up.

``dataset.name``, ``model.name`` and ``optimizer.name`` (and a search space's ``name``)
take such a target. Importing a module runs its code, as Hydra's ``_target_`` does, so
a config that names one runs it. Every way the lookup can fail is one line naming the
config key and the target.

Where the module is looked for, in this order (:func:`user_code`): the folder of the
config file that names it (a suite's folder, then its workloads' config folders), then
the working directory, as ``python -m`` does, and only then ``sys.path`` (installed
packages, ``PYTHONPATH``). A console script such as ``dualprocess-run`` has its own
folder first on ``sys.path``, not the working directory, so without this a module kept
beside the config would import under ``python -m`` and not under the console script.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import sys
from collections.abc import Callable, Iterator

from .errors import ConfigError

# The folders user_code put first on sys.path, as (what it is, path), while it is active.
_searched: list[tuple[str, str]] = []


def is_target(name: str) -> bool:
  """Whether ``name`` has the form ``package.module:function``."""
  return ":" in name


@contextlib.contextmanager
def user_code(config_folder=None) -> Iterator[None]:
  """While active, the config's folder (if given), then the working directory, are first
  on ``sys.path``: where a config's ``package.module:attr`` is imported from, both when the
  config is checked and while its code runs (a factory importing a sibling module at call
  time). Nested, an inner one adds its config folder to the outer's, after the config
  folders already there and before the working directory, and keeps it until the
  outermost ends (the API loads a config, then trains with it); the outermost removes
  what it put on ``sys.path``.
  """
  outermost = not _searched
  if outermost:
    _insert(0, "the working directory", os.getcwd())
  if config_folder is not None:
    folder = os.path.abspath(os.fspath(config_folder))
    if folder == _searched[-1][1]:  # the config is in the working directory
      _searched[-1] = ("the config's folder and the working directory", folder)
    elif folder not in (path for _, path in _searched):
      _insert(len(_searched) - 1, "the config's folder", folder)
  importlib.invalidate_caches()  # a module written since the folder was last listed
  try:
    yield
  finally:
    if outermost:
      for _, path in _searched:
        if path in sys.path:
          sys.path.remove(path)
      _searched.clear()


def _insert(index: int, what: str, folder: str) -> None:
  """``folder`` at ``index`` of the searched folders, and at that place on ``sys.path``."""
  before = _searched[index][1] if index < len(_searched) else None
  at = sys.path.index(before) if before in sys.path else 0
  sys.path.insert(at, folder)
  _searched.insert(index, (what, folder))


def searched() -> list[tuple[str, str]]:
  """``(what, folder)`` of the folders looked in before ``sys.path``, in order."""
  return list(_searched)


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
    ConfigError: ``name`` is not of that form; the module does not import (it is in
      none of the folders searched, or its own code raises); it has no such attribute
      (with the close names it has); the attribute is not callable.
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
      raise ConfigError(f"{where}: cannot import module {module_name!r}: "
                        + not_found(error.name)) from None
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


def not_found(module: str) -> str:
  """Where a module was looked for and how to make it importable, for the message."""
  places = [f"{folder} ({what})" for what, folder in _searched]
  looked = (", ".join(places) + " or " if places else "") + "on the Python path (sys.path)"
  file = module.replace(".", "/") + ".py"
  return (f"no module named {module!r} in {looked}; put {file} beside the config or in the "
          "folder you run from, or make it importable: pip install its project, or add its "
          "folder to PYTHONPATH")


def first_line(error: BaseException) -> str:
  """The first line of an exception's message, for a one-line error."""
  text = str(error).strip()
  return text.splitlines()[0] if text else "no message"


def either(names: list[str]) -> str:
  """``'a'``, ``'a' or 'b'``, ``'a', 'b' or 'c'``."""
  quoted = [repr(n) for n in names]
  return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
