"""The docs cannot drift: the configuration reference, the API page, the version.

The configuration reference (docs/configuration.md, filled in at build time by
experiments.config_reference) must list every field of every config dataclass, and a
field added to a dataclass must appear with its type, default, allowed values and
comment. The site itself is built, warnings as errors, by .ci/run.
"""

import dataclasses
import importlib.util
import pathlib
import re
import sys
import textwrap
import types
import typing

import pytest

import dualprocess
from experiments import config_reference
from experiments.config import ExperimentConfig, SuiteConfig, TransferConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent


def all_paths(schema, prefix=""):
  """{dotted key: its dataclasses.Field} of ``schema``, found without the generator:
  nested dataclasses directly, through Optional/Union, and as tuple items ('KEY[]')."""
  hints = typing.get_type_hints(schema)
  paths = {}
  for field in dataclasses.fields(schema):
    path = f"{prefix}.{field.name}" if prefix else field.name
    paths[path] = field
    tp = hints[field.name]
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    for option in typing.get_args(tp) if union else (tp,):
      item = typing.get_args(option)[0] if typing.get_origin(option) is tuple else None
      if dataclasses.is_dataclass(option):
        paths.update(all_paths(option, path))
      elif dataclasses.is_dataclass(item):
        paths.update(all_paths(item, path + "[]"))
  return paths


def literal_values(schema):
  hints = typing.get_type_hints(schema)
  values = set()
  for field in dataclasses.fields(schema):
    stack = [hints[field.name]]
    while stack:
      tp = stack.pop()
      if typing.get_origin(tp) is typing.Literal:
        values.update(typing.get_args(tp))
      else:
        stack.extend(a for a in typing.get_args(tp) if a is not Ellipsis)
        if dataclasses.is_dataclass(tp):
          values |= literal_values(tp)
  return values


@pytest.fixture(scope="module")
def reference():
  return config_reference.markdown()


TITLES = {ExperimentConfig: "Experiment configs", SuiteConfig: "Suite configs",
          TransferConfig: "Transfer-study configs"}
# A transfer study's sections that take a suite's or an experiment's entries: listed once,
# pointing there, their keys not repeated.
POINTED = ("workloads[]", "pair", "tuned", "search")


def table_rows(text, schema=None):
  """{dotted key: its table row} of a generated reference, of ``schema``'s part only
  where given (each config kind has a part of its own, under its title)."""
  if schema is not None:
    parts = re.split(r"^## ", text, flags=re.M)
    [text] = [p for p in parts if p.startswith(TITLES[schema] + "\n")]
  rows = {}
  for line in text.splitlines():
    found = re.match(r"\| `([^`]+)` \|", line)
    if found:
      assert found.group(1) not in rows, f"key {found.group(1)} listed twice"
      rows[found.group(1)] = line
  return rows


def expected_paths(schema) -> dict:
  paths = all_paths(schema)
  if schema is TransferConfig:
    paths = {k: v for k, v in paths.items() if not k.startswith(tuple(f"{p}." for p in POINTED))}
  return paths


@pytest.mark.parametrize("schema", [ExperimentConfig, SuiteConfig, TransferConfig],
                         ids=["ExperimentConfig", "SuiteConfig", "TransferConfig"])
def test_every_field_of_every_config_dataclass_is_in_the_reference(reference, schema):
  rows = table_rows(reference, schema)
  expected = expected_paths(schema)
  assert len(expected) > 10  # the walk found the fields
  missing = [path for path in expected if path not in rows]
  assert not missing, f"not in the configuration reference: {missing}"
  for value in sorted(v for v in literal_values(schema) if isinstance(v, str)):
    assert f"`{value!r}`" in reference, f"allowed value {value!r} not in the reference"


def test_the_reference_lists_exactly_the_fields_and_their_defaults(reference):
  for schema in TITLES:
    assert sorted(table_rows(reference, schema)) == sorted(expected_paths(schema)), schema
  rows = table_rows(reference, ExperimentConfig)
  transfer_rows = table_rows(reference, TransferConfig)
  for path in ("workloads", "pair", "tuned", "search"):
    assert "Its keys: as a" in transfer_rows[path], path
  default = ExperimentConfig()
  assert "`20`" in rows["train.epochs"].split("|")[3]  # TrainConfig's own default
  assert f"`{default.optimizer.name!r}`" in rows["optimizer.name"]
  assert "`'constant'`" in rows["optimizer.schedule.name"].split("|")[3]
  # A list entry's field without a default (a workload's name, say) is required.
  for schema in (ExperimentConfig, SuiteConfig):
    schema_rows = table_rows(reference, schema)
    for path, field in all_paths(schema).items():
      if (path.rsplit(".", 1)[0].endswith("[]") and field.default is dataclasses.MISSING
          and field.default_factory is dataclasses.MISSING):
        assert schema_rows[path].split("|")[3].strip() == "required", path


THROWAWAY = '''
from __future__ import annotations

import dataclasses
from typing import Literal, Optional, Union


@dataclasses.dataclass(frozen=True)
class Inner:
  """A nested section of the throwaway schema."""

  depth: int = 3  # how deep it goes


@dataclasses.dataclass(frozen=True)
class Throwaway:
  # How the frobnicator turns: 'left' or 'right',
  # never both.
  turn: Literal["left", "right"] = "right"
  count: Optional[int] = None  # null: as many as there are
  ratio: Union[float, Literal["auto"]] = "auto"
  inner: Inner = Inner(depth=5)
  many: tuple[Inner, ...] = ()
  tags: tuple[str, ...] = dataclasses.field(default_factory=lambda: ("a", "b"))
  label: str = dataclasses.field(default="x")  # set me
'''


@pytest.fixture
def throwaway(tmp_path, monkeypatch):
  """A dataclass schema in a module of its own, as a newly added config would be."""
  path = tmp_path / "throwaway_config.py"
  path.write_text(textwrap.dedent(THROWAWAY))
  spec = importlib.util.spec_from_file_location("throwaway_config", path)
  module = importlib.util.module_from_spec(spec)
  monkeypatch.setitem(sys.modules, "throwaway_config", module)
  spec.loader.exec_module(module)
  return module


def test_a_new_field_appears_with_its_type_default_allowed_values_and_comment(throwaway):
  keys = {key.path: key for key in config_reference.keys(throwaway.Throwaway)}
  assert list(keys) == ["turn", "count", "ratio", "inner", "inner.depth", "many",
                        "many[].depth", "tags", "label"]
  turn = keys["turn"]
  assert (turn.type, turn.default, turn.allowed) == ("string", "'right'",
                                                     ("'left'", "'right'"))
  assert turn.comment == "How the frobnicator turns: 'left' or 'right', never both."
  assert (keys["count"].type, keys["count"].default) == ("null or integer", "null")
  assert keys["count"].comment == "null: as many as there are"
  assert keys["ratio"].allowed == ("any number", "'auto'")
  assert keys["inner.depth"].default == "5"  # from the section's default instance
  assert keys["inner.depth"].comment == "how deep it goes"
  assert keys["many[].depth"].default == "3"  # a list's entries: the class default
  assert keys["inner"].comment == "A nested section of the throwaway schema."
  assert keys["tags"].default == "['a', 'b']"  # default_factory
  assert keys["label"].comment == "set me"

  text = config_reference.markdown([config_reference.Root("Throwaway", throwaway.Throwaway)])
  rows = table_rows(text)
  assert set(rows) == set(keys)
  assert "How the frobnicator turns: 'left' or 'right', never both." in rows["turn"]
  assert "### `many[]`" in text and "### `inner`" in text


def test_fields_without_source_or_default_are_listed_too():
  made = dataclasses.make_dataclass("Made", [("alpha", int), ("beta", float, 0.5)])
  keys = {key.path: key for key in config_reference.keys(made)}
  assert keys["alpha"].default == "required" and keys["alpha"].comment == ""
  assert keys["beta"].default == "0.5"


def test_comments_of_a_group_go_to_the_fields_they_name():
  comments = config_reference.field_comments(
      typing.get_type_hints(ExperimentConfig)["train"])
  assert "checkpoint_every steps" in comments["checkpoint_every"]  # named in the block
  assert comments["keep_checkpoints"] == ""  # in the group, but not named by it


def test_markdown_cells_escape_what_markdown_would_read():
  assert config_reference._text("KL2(e||u) [0, 1] a_b *x*") == \
      r"KL2(e\|\|u) \[0, 1\] a\_b \*x\*"


def test_every_public_symbol_is_on_the_api_page():
  page = (ROOT / "docs" / "api.md").read_text()
  documented = set(re.findall(r"\.\. auto\w+:: dualprocess\.(\w+)", page))
  assert set(dualprocess.__all__) <= documented, set(dualprocess.__all__) - documented


def test_the_version_has_one_source_and_a_changelog_entry():
  tomllib = pytest.importorskip("tomllib")  # Python 3.11+
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())
  assert "version" not in project["project"]
  assert "version" in project["project"]["dynamic"]
  assert project["tool"]["setuptools"]["dynamic"]["version"] == {
      "attr": "dualprocess.__version__"}
  changelog = (ROOT / "CHANGELOG.md").read_text()
  released = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
  assert released and released[0] == dualprocess.__version__
  assert "## [Unreleased]" in changelog
