"""Typed YAML: mappings in, frozen dataclasses out, every mistake one line naming its key.

The machinery behind :mod:`experiments.config` (which holds the schema): it
converts YAML values to the dataclass fields' annotated types (``Literal``,
``Optional``, unions, tuples, nested dataclasses, ``dict[str, X]`` mappings of
free-form names, kept as a read-only :class:`FrozenMapping`), applies ``--set KEY=VALUE``
overrides and writes a config back as YAML. Every mistake raises
:class:`ConfigError`, whose message is the line the command line prints before
exiting with code 2.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
import types
import typing
from typing import Literal, Union

import yaml

from .errors import ConfigError

_YAML11_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


# Field metadata: the field is written out (to_dict, dump) only where it differs from its
# default. A field added to a schema this way leaves every config that does not use it
# written as before, so an output folder from an earlier version, whose config.yaml is
# compared as text, still resumes.
WRITTEN_WHEN_SET = types.MappingProxyType({"written": "when set"})


class FrozenMapping(dict):
  """A read-only ``dict``: the value of a ``dict[str, X]`` field, so that a frozen config
  stays immutable and hashable (nested lists and mappings count by their contents)."""

  def _read_only(self, *args, **kwargs):
    raise TypeError("a config's mapping is read-only; use dataclasses.replace with a new one")

  __setitem__ = __delitem__ = __ior__ = _read_only
  clear = pop = popitem = setdefault = update = _read_only

  def __hash__(self):
    return hash(_hashable(self))

  def __reduce__(self):  # copy and pickle rebuild it whole instead of item by item
    return (type(self), (dict(self),))


def _hashable(value):
  if isinstance(value, dict):
    return tuple(sorted(((k, _hashable(v)) for k, v in value.items()), key=repr))
  if isinstance(value, (list, tuple)):
    return tuple(_hashable(v) for v in value)
  return value


def _plain_value(value):
  """A free-form YAML value (a ``dict[str, Any]`` entry) as written, except that a number
  PyYAML read as a string (``1e-3``: no dot) is the number it means, at any depth."""
  if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
    return float(value)
  if isinstance(value, list):
    return [_plain_value(v) for v in value]
  if isinstance(value, dict):
    return {k: _plain_value(v) for k, v in value.items()}
  return value


def check_positive(key, value, minimum=1):
  if value < minimum:
    what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    raise ConfigError(f"config key '{key}': must be {what}, got {value}")


def check_range(key, value, low, high, open_low=False, open_high=False):
  below = value <= low if open_low else value < low
  above = value >= high if open_high else value > high
  if math.isnan(value) or below or above:
    interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    raise ConfigError(f"config key '{key}': must lie in {interval}, got {value}")


def _type_name(tp) -> str:
  origin = typing.get_origin(tp)
  if origin is Literal:
    return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
  if origin in (Union, types.UnionType):
    return " or ".join(_type_name(a) for a in typing.get_args(tp))
  if origin is tuple:
    return f"a list of {_type_name(typing.get_args(tp)[0])}"
  if tp is type(None):
    return "null"
  if dataclasses.is_dataclass(tp):
    return "a mapping with keys " + ", ".join(f.name for f in dataclasses.fields(tp))
  if origin is dict or tp is dict:
    item = (typing.get_args(tp) or (str, typing.Any))[1]
    return "a mapping of names to " + ("values" if item is typing.Any else _type_name(item))
  return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _convert(tp, value, key):
  """Converts a YAML value to ``tp`` or raises a ConfigError naming ``key``."""
  origin = typing.get_origin(tp)
  if origin in (Union, types.UnionType):
    options = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(options) == 1:  # Optional[X]: null, or X's own error for anything else
      return None if value is None else _convert(options[0], value, key)
    # A mapping is a section and a list a list: that option's own error names the key.
    shaped = [o for o in options if (dataclasses.is_dataclass(o) and isinstance(value, dict))
              or (typing.get_origin(o) is tuple and isinstance(value, list))]
    if len(shaped) == 1:
      return _convert(shaped[0], value, key)
    for option in typing.get_args(tp):
      try:
        return _convert(option, value, key)
      except ConfigError:
        continue
    raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r}")
  if origin is Literal:
    if value in typing.get_args(tp) and not isinstance(value, bool):
      return value
    raise ConfigError(f"config key '{key}': unknown value {value!r}; allowed: "
                      + ", ".join(str(a) for a in typing.get_args(tp)))
  if origin is tuple:
    if not isinstance(value, list):
      raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r}")
    (item,) = typing.get_args(tp)[:1]
    return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
  if dataclasses.is_dataclass(tp):
    return build(tp, value, key)
  if origin is dict or tp is dict:
    names, item = typing.get_args(tp) or (str, typing.Any)
    if names is not str:
      raise TypeError(f"{key}: only dict[str, X] fields are supported, not {tp}")
    if not isinstance(value, dict):
      raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r}")
    for name in value:
      if not isinstance(name, str):
        raise ConfigError(f"config key '{key}': the names of its entries are strings, got "
                          f"{name!r}")
    return FrozenMapping({name: _plain_value(v) if item is typing.Any
                          else _convert(item, v, f"{key}.{name}") for name, v in value.items()})
  if tp is type(None):
    if value is None:
      return None
  elif tp is bool:
    if isinstance(value, bool):
      return value
  elif tp is int:
    if isinstance(value, int) and not isinstance(value, bool):
      return value
  elif tp is float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      return float(value)
    if isinstance(value, str) and _YAML11_FLOAT.fullmatch(value.strip()):
      return float(value)  # PyYAML reads 1e-3 (no dot) as a string; it means a number
  elif tp is str:
    if isinstance(value, str):
      return value
  raise ConfigError(f"config key '{key}': expected {_type_name(tp)}, got {value!r}")


def build(cls, data, key=""):
  """Builds dataclass ``cls`` from a mapping, checking every key and value."""
  where = f"config key '{key}'" if key else "config"
  if data is None:
    data = {}
  if not isinstance(data, dict):
    raise ConfigError(f"{where}: expected {_type_name(cls)}, got {data!r}")
  hints = typing.get_type_hints(cls)
  names = [f.name for f in dataclasses.fields(cls)]
  for name in data:
    if name not in names:
      dotted = f"{key}.{name}" if key else str(name)
      raise ConfigError(f"config key '{dotted}': unknown key; allowed: {', '.join(names)}")
  values = {name: _convert(hints[name], data[name], f"{key}.{name}" if key else name)
            for name in data}
  config = cls(**values)
  config.validate(key)
  return config


def load_yaml(path, schema) -> dict:
  """Reads a YAML file of sections; a mistake names the file (and the line)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise ConfigError(f"config file '{path}': not found (expected a YAML file)")
  try:
    data = yaml.safe_load(path.read_text())
  except yaml.YAMLError as error:
    mark = getattr(error, "problem_mark", None)
    line = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    raise ConfigError(f"config file '{path}'{line}: YAML syntax error: {problem}") from None
  except UnicodeDecodeError:
    raise ConfigError(f"config file '{path}': not a text file (expected YAML)") from None
  if data is None:
    return {}
  if not isinstance(data, dict):
    raise ConfigError(f"config file '{path}': expected a mapping of sections "
                      f"({', '.join(f.name for f in dataclasses.fields(schema))})")
  return data


def apply_overrides(data: dict, overrides) -> dict:
  """Applies ``KEY=VALUE`` strings (dotted keys, YAML values) to a config mapping."""
  data = _deep_copy(data)
  for override in overrides:
    dotted, sep, raw = override.partition("=")
    if not sep or not dotted:
      raise ConfigError(f"--set '{override}': expected KEY=VALUE, e.g. train.epochs=5")
    try:
      value = yaml.safe_load(raw)
    except yaml.YAMLError:
      raise ConfigError(f"config key '{dotted}': --set value {raw!r} is not valid YAML") \
          from None
    node = data
    parts = dotted.split(".")
    for i, part in enumerate(parts[:-1]):
      child = node.get(part)
      if child is None:
        child = node[part] = {}
      if not isinstance(child, dict):
        raise ConfigError(f"config key '{'.'.join(parts[:i + 1])}': is not a section, "
                          f"cannot set '{dotted}'")
      node = child
    node[parts[-1]] = value
  return data


def _deep_copy(data):
  if isinstance(data, dict):
    return {k: _deep_copy(v) for k, v in data.items()}
  if isinstance(data, list):
    return [_deep_copy(v) for v in data]
  return data




def to_dict(config) -> dict:
  """The resolved config as plain YAML-ready data."""
  def plain(value):
    if dataclasses.is_dataclass(value):
      return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
              if not _unset(f, getattr(value, f.name))}
    if isinstance(value, (tuple, list)):
      return [plain(v) for v in value]
    if isinstance(value, dict):  # a FrozenMapping too: YAML writes plain mappings only
      return {k: plain(v) for k, v in value.items()}
    return value
  return plain(config)


def _unset(field: dataclasses.Field, value) -> bool:
  """Whether ``field`` is written only when set and ``value`` is its default."""
  if field.metadata.get("written") != "when set":
    return False
  if field.default is not dataclasses.MISSING:
    return value == field.default
  return field.default_factory is not dataclasses.MISSING and value == field.default_factory()


def dump(config) -> str:
  return yaml.safe_dump(to_dict(config), sort_keys=False)
