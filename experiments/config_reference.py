"""The configuration reference, generated from the config dataclasses.

``python -m experiments.config_reference [--out FILE]`` writes, as Markdown, every key of
an experiment config (:class:`experiments.config.ExperimentConfig`: ``run``, ``compare``,
``sweep``), of a suite config (:class:`experiments.config.SuiteConfig`) and of a transfer
study's (:class:`experiments.config.TransferConfig`): its dotted path, type, default,
allowed values and the comment written beside it in the source.
The docs build (``docs/_ext/config_reference.py``) calls :func:`markdown` every time it
runs, so the reference cannot drift from the code.

Nothing here names a key: the keys are found by walking ``dataclasses.fields``
recursively through ``Optional``, unions, tuples and nested dataclasses; the comments
are read from the source (``experiments/source_comments.py``: the block above a field,
or the one at the end of its line, as ``train.checkpoint_every`` is described above
``train.checkpoint_every_s`` and ``dataset.fold`` under ``dataset.folds``). A list of
sections is written ``KEY[]`` (``compare.optimizers[].name``: the ``name`` of each
entry). A section that takes another kind's entries (a transfer study's ``workloads``)
is listed once, pointing there.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import re
import sys
import types
import typing
from typing import Any, Literal, Union

from .source_comments import class_docstring, field_comments

__all__ = ["Key", "Root", "field_comments", "keys", "markdown", "roots"]

LIST_ITEM = "[]"  # the path suffix of "each entry of a list of sections"
REQUIRED = "required"  # the default shown for a field without one
SEE_BELOW = "see below"  # the default shown for a section whose keys follow
SEE_DESCRIPTION = "see description"  # ... for a section whose keys are described elsewhere


@dataclasses.dataclass(frozen=True)
class Key:
  """One config key, as the reference shows it."""

  path: str  # dotted, e.g. 'optimizer.schedule.name' or 'compare.optimizers[].label'
  type: str  # e.g. 'integer', 'null or number', 'list of integers', 'section'
  default: str  # as YAML ('null', '[0, 1, 2]', "'digits'"), or REQUIRED, or SEE_BELOW
  allowed: tuple[str, ...]  # the allowed values of a Literal (as YAML), else empty
  comment: str  # the field's comment in the source (one paragraph), or ''
  section: Any  # the nested dataclass whose keys follow this one, or None
  section_path: str  # the prefix of those keys: path, or path + '[]' for a list; or ''
  owner: type  # the dataclass that declares the field


@dataclasses.dataclass(frozen=True)
class Root:
  """A kind of config file: its title, schema and a sentence on where it is used."""

  title: str
  schema: type
  intro: str = ""
  # (section path, where its keys are described): sections that take another root's
  # entries, listed once with a pointer instead of their keys again.
  described_as: tuple[tuple[str, str], ...] = ()


def roots() -> list[Root]:
  """The config files the commands read: experiment, suite and transfer-study configs."""
  from .config import ExperimentConfig, SuiteConfig, TransferConfig

  return [
      Root("Experiment configs", ExperimentConfig,
           "Read by `dualprocess-run`, `dualprocess-compare` and "
           "`dualprocess-sweep` (`configs/*.yaml`; a suite's workloads are such files "
           "too). Schema: `experiments.config.ExperimentConfig`."),
      Root("Suite configs", SuiteConfig,
           "Read by `dualprocess-suite` (`configs/suite.yaml`, "
           "`configs/suite_quick.yaml`). Schema: `experiments.config.SuiteConfig`."),
      Root("Transfer-study configs", TransferConfig,
           "Read by `dualprocess-transfer` (`configs/transfer_batch_size.yaml`, "
           "`configs/transfer_data_size.yaml`, `configs/transfer_quick.yaml`). Schema: "
           "`experiments.config.TransferConfig`.",
           described_as=(("workloads[]", "a suite's workloads[] (name, config, overrides, "
                          "optional, margin)"),
                         ("pair", "an experiment config's optimizer section"),
                         ("tuned", "a suite's search.spaces[] entry (constant-step sgd)"),
                         ("search", "a suite's search (trials, seed, trial_seeds; "
                          "its spaces left empty)"))),
  ]


# ---------------------------------------------------------------------------------------
# Walking the dataclasses


def _type_hints(cls) -> dict[str, Any]:
  return typing.get_type_hints(cls)


def _union_args(tp) -> tuple | None:
  if typing.get_origin(tp) in (Union, types.UnionType):
    return typing.get_args(tp)
  return None


def _item_type(tp):
  """X of ``tuple[X, ...]``, ``tuple[X]`` or ``list[X]``; None for anything else."""
  if typing.get_origin(tp) in (tuple, list):
    args = [a for a in typing.get_args(tp) if a is not Ellipsis]
    if args:
      return args[0]
  return None


def _nested(tp) -> list[tuple[type, str]]:
  """The dataclasses whose keys sit under a field of type ``tp``, with the path suffix."""
  found = []
  for option in _union_args(tp) or (tp,):
    if dataclasses.is_dataclass(option):
      found.append((option, ""))
    elif dataclasses.is_dataclass(_item_type(option)):
      found.append((_item_type(option), LIST_ITEM))
  return found


_SCALARS = {int: ("integer", "integers"), float: ("number", "numbers"),
            bool: ("boolean", "booleans"), str: ("string", "strings"),
            type(None): ("null", "nulls"), Any: ("any value", "values")}


def _type_name(tp, plural=False) -> str:
  """A type as a reader of YAML says it: 'null or list of integers'."""
  if tp in _SCALARS:
    return _SCALARS[tp][plural]
  union = _union_args(tp)
  if union is not None:
    # null first, then the rest in their order; Literal options by their values' kind
    names = []
    for option in sorted(union, key=lambda a: a is not type(None)):
      name = _type_name(option, plural)
      if name not in names:
        names.append(name)
    return " or ".join(names)
  origin = typing.get_origin(tp)
  if origin is Literal:
    kinds = []
    for value in typing.get_args(tp):
      name = _type_name(type(value), plural)
      if name not in kinds:
        kinds.append(name)
    return " or ".join(kinds)
  if dataclasses.is_dataclass(tp):
    return "sections" if plural else "section"
  item = _item_type(tp)
  if item is not None:
    return ("lists" if plural else "list") + " of " + _type_name(item, plural=True)
  if origin is dict or tp is dict:
    args = typing.get_args(tp)
    what = "mappings" if plural else "mapping"
    return f"{what} of {_type_name(args[0])} to {_type_name(args[1], True)}" if args else what
  return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _yaml(value) -> str:
  """A default value as it would be written in a YAML config."""
  if value is None:
    return "null"
  if isinstance(value, bool):
    return "true" if value else "false"
  if isinstance(value, str):
    return repr(value)
  if isinstance(value, (tuple, list)):
    return "[" + ", ".join(_yaml(v) for v in value) + "]"
  if isinstance(value, dict):
    return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    return "{" + ", ".join(f"{f.name}: {_yaml(getattr(value, f.name))}"
                           for f in dataclasses.fields(value)) + "}"
  return repr(value)


def _allowed(tp) -> tuple[str, ...]:
  """The allowed values of a Literal (also inside a union), with 'any X' for the rest."""
  options = _union_args(tp) or (tp,)
  literals = [v for o in options if typing.get_origin(o) is Literal
              for v in typing.get_args(o)]
  if not literals:
    return ()
  others = [f"any {_type_name(o)}" for o in options
            if typing.get_origin(o) is not Literal and o is not type(None)]
  nulls = ["null"] if type(None) in options else []
  return tuple(others + [_yaml(v) for v in literals] + nulls)


_MISSING = dataclasses.MISSING


def _field_default(field, instance):
  if instance is not _MISSING:
    return getattr(instance, field.name)
  if field.default is not _MISSING:
    return field.default
  if field.default_factory is not _MISSING:
    return field.default_factory()
  return _MISSING


def keys(schema, prefix: str = "", defaults=_MISSING, _seen=()) -> list[Key]:
  """Every key of dataclass ``schema``, depth first, a section before its keys.

  ``defaults``: an instance of ``schema`` whose values are the defaults (a section's
  default, such as ``ScheduleConfig(name="warmup_cosine")``, sets its keys'); without
  it, the fields' own defaults.
  """
  hints = _type_hints(schema)
  comments = field_comments(schema)
  found = []
  for field in dataclasses.fields(schema):
    if not field.init:
      continue
    tp = hints[field.name]
    path = f"{prefix}.{field.name}" if prefix else field.name
    default = _field_default(field, defaults)
    nested = [(cls, suffix) for cls, suffix in _nested(tp) if cls not in _seen]
    section = nested[0][0] if nested else None
    if default is _MISSING:
      shown = REQUIRED
    elif (section is not None and dataclasses.is_dataclass(default)
          and not isinstance(default, type)):
      shown = SEE_BELOW  # its keys follow, each with its default
    else:
      shown = _yaml(default)
    comment = comments.get(field.name, "")
    if not comment and section is not None:
      comment = class_docstring(section)
    found.append(Key(path=path, type=_type_name(tp), default=shown, allowed=_allowed(tp),
                     comment=comment, section=section,
                     section_path=path + nested[0][1] if nested else "", owner=schema))
    for cls, suffix in nested:
      own = default if suffix == "" and isinstance(default, cls) else _MISSING
      found.extend(keys(cls, path + suffix, own, _seen + (schema,)))
  return found


# ---------------------------------------------------------------------------------------
# Comments from the source


# ---------------------------------------------------------------------------------------
# Markdown


_SPECIAL = re.compile(r"([\\`*_\[\]<>|$~{}])")


def _text(text: str) -> str:
  """Plain text for a Markdown table cell: every character Markdown could read escaped."""
  return _SPECIAL.sub(r"\\\1", text)


def _code(text: str) -> str:
  return "`" + text.replace("|", "\\|") + "`"


def _table(rows: list[Key]) -> list[str]:
  lines = ["| key | type | default | allowed values | description |",
           "|---|---|---|---|---|"]
  for key in rows:
    allowed = ", ".join(_code(v) if not v.startswith("any ") else v for v in key.allowed)
    default = (key.default if key.default in (REQUIRED, SEE_BELOW, SEE_DESCRIPTION)
               else _code(key.default))
    lines.append(f"| {_code(key.path)} | {key.type} | {default} | {allowed} | "
                 f"{_text(key.comment)} |")
  return lines


def _pointed(found: list[Key], described_as: dict[str, str]) -> list[Key]:
  """``found`` less the keys of the sections described elsewhere, each such section's own
  row pointing there."""
  kept = []
  for key in found:
    if any(key.path.startswith(f"{path}.") for path in described_as):
      continue
    note = described_as.get(key.section_path) or described_as.get(key.path)
    if note is not None:
      default = REQUIRED if key.default == REQUIRED else SEE_DESCRIPTION
      key = dataclasses.replace(key, section=None, default=default,
                                comment=f"{key.comment} Its keys: as {note}.".strip())
    kept.append(key)
  return kept


def markdown(chosen: list[Root] | None = None, level: int = 2) -> str:
  """The reference as Markdown: per root a heading, then a table per section.

  A section's table lists its own keys; its nested sections follow, each under its own
  heading, one level below the root's.
  """
  chosen = roots() if chosen is None else chosen
  out = []
  for root in chosen:
    out += ["#" * level + " " + root.title, ""]
    if root.intro:
      out += [root.intro, ""]
    everything = _pointed(keys(root.schema), dict(root.described_as))
    groups: dict[str, list[Key]] = {"": []}
    descriptions = {"": class_docstring(root.schema)}
    for key in everything:
      parent = key.path.rsplit(".", 1)[0] if "." in key.path else ""
      groups.setdefault(parent, []).append(key)
      if key.section is not None:
        groups.setdefault(key.section_path, [])
        descriptions[key.section_path] = class_docstring(key.section) or key.comment
    for group, rows in groups.items():
      if not rows:
        continue
      if group:
        out += ["#" * (level + 1) + " " + _code(group), ""]
        if descriptions.get(group):
          out += [_text(descriptions[group]), ""]
      elif descriptions[""]:
        out += [_text(descriptions[""]), ""]
      out += _table(rows) + [""]
  return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      prog=f"python -m {__package__}.config_reference",  # the package the user ran
      description="Write the configuration reference (every key of experiment and suite "
                  "configs, from the config dataclasses) as Markdown.")
  parser.add_argument("--out", type=pathlib.Path, help="a file to write (default: stdout)")
  args = parser.parse_args(argv)
  text = "# Configuration reference\n\n" + markdown()
  if args.out is None:
    sys.stdout.write(text)
  else:
    args.out.write_text(text)
  return 0


if __name__ == "__main__":
  sys.exit(main())
