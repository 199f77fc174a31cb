"""The house of ``experiments/``: one way down, no import circles, rooms of a readable size.

Every module is parsed with ``ast``; every import counts, at the top, inside functions
and under ``TYPE_CHECKING`` alike. A module may import modules of its own layer or of the
layers below it, never above, and the imports form no cycle.
"""

from __future__ import annotations

import ast
import fnmatch
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "experiments"

# Top to bottom. A module's layer is the first whose patterns match its dotted name
# (relative to experiments/; the package itself is '').
LAYERS = [
    ("entry", ["run", "compare", "sweep", "suite", "transfer", "cli", "config_reference"]),
    ("api", ["api"]),
    ("work", ["workflows", "workflows.*"]),
    ("check", ["loading"]),
    ("core", ["training", "training.*", "models", "models.*", "data", "data.*", "outputs",
              "plots"]),
    ("schema", ["config", "config.*"]),
    ("base", ["", "errors", "typed_yaml", "imports", "hosts", "console", "source_comments",
              "analysis", "analysis.*"]),
]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> dict[str, pathlib.Path]:
  modules = {}
  for path in ROOT.rglob("*.py"):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
      parts = parts[:-1]
    modules[".".join(parts)] = path
  return modules


MODULES = _modules()


def layer_of(name: str) -> int:
  for rank, (_, patterns) in enumerate(LAYERS):
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns):
      return rank
  raise AssertionError(f"experiments/{name}: in no layer of the table; add it to LAYERS")


def _target(module: str, is_package: bool, node: ast.ImportFrom, alias: str) -> str | None:
  """The module of ``experiments`` that ``from ... import alias`` reaches, if any."""
  if node.level:
    base = module.split(".") if module else []
    if not is_package:
      base = base[:-1]
    base = base[:len(base) - (node.level - 1)] if node.level > 1 else base
    origin = ".".join([*base, *([node.module] if node.module else [])])
  elif node.module and node.module.split(".")[0] in ("experiments", "dualprocess_experiments"):
    origin = node.module.partition(".")[2]
  else:
    return None
  child = f"{origin}.{alias}" if origin else alias
  return child if child in MODULES else origin


def imports_of(name: str) -> set[str]:
  """Every module of ``experiments`` that module ``name`` imports, anywhere in it."""
  path = MODULES[name]
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.ImportFrom):
      for alias in node.names:
        target = _target(name, path.name == "__init__.py", node, alias.name)
        if target is not None:
          found.add(target)
    elif isinstance(node, ast.Import):
      for alias in node.names:
        head, _, rest = alias.name.partition(".")
        if head in ("experiments", "dualprocess_experiments"):
          found.add(rest if rest in MODULES else "")
  found.discard(name)
  return {t for t in found if t in MODULES}


GRAPH = {name: imports_of(name) for name in MODULES}


def test_every_module_has_a_layer():
  for name in MODULES:
    layer_of(name)


def test_no_module_imports_a_layer_above_its_own():
  upward = [f"experiments/{a or '__init__'} ({LAYERS[layer_of(a)][0]}) imports {b} "
            f"({LAYERS[layer_of(b)][0]})"
            for a, targets in sorted(GRAPH.items()) for b in sorted(targets)
            if layer_of(b) < layer_of(a)]
  assert not upward, "\n".join(upward)


def test_the_imports_form_no_cycle():
  state, stack, cycles = {}, [], []

  def visit(name):
    state[name] = "open"
    stack.append(name)
    for target in sorted(GRAPH[name]):
      if state.get(target) == "open":
        cycles.append(" -> ".join(stack[stack.index(target):] + [target]))
      elif target not in state:
        visit(target)
    stack.pop()
    state[name] = "done"

  for name in sorted(GRAPH):
    if name not in state:
      visit(name)
  assert not cycles, "\n".join(cycles)


def test_no_module_is_over_the_size_limit():
  long = {f"experiments/{p.relative_to(ROOT)}": n for p in MODULES.values()
          if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
  assert not long, long


def test_no_function_is_over_the_size_limit():
  long = []
  for path in MODULES.values():
    for node in ast.walk(ast.parse(path.read_text())):
      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
          long.append(f"experiments/{path.relative_to(ROOT)}:{node.lineno} {node.name}: "
                      f"{length} lines")
  assert not long, "\n".join(long)


@pytest.mark.parametrize("source, expected", [
    ("from ..config import ExperimentConfig", {"config"}),
    ("from .. import outputs", {"outputs"}),
    ("def f():\n  from ..api import run", {"api"}),
    ("import typing\nif typing.TYPE_CHECKING:\n  from ..workflows import suite",
     {"workflows.suite"}),
])
def test_the_guard_sees_imports_anywhere(tmp_path, monkeypatch, source, expected):
  """The parser behind the guard finds imports at the top, in functions and under
  TYPE_CHECKING (here for a module placed at experiments/training/probe.py)."""
  probe = tmp_path / "probe.py"
  probe.write_text(source)
  monkeypatch.setitem(MODULES, "training.probe", probe)
  assert imports_of("training.probe") == expected
