"""Checks that the floors of pyproject.toml are what the running environment installed.

Usage: ``VENV/bin/python .ci/floors.py GROUP [GROUP ...]``, GROUP being ``dependencies``
(the ``[project]`` list) or the name of an optional-dependency list. Run it in a venv that
``uv pip install --resolution lowest-direct`` made (.ci/lowest.sh): each ``NAME>=FLOOR`` of
the groups must then be installed at exactly FLOOR. Where a dependency's own requirement
lifted it higher, the declared floor was never tested: raise it to the installed version.
References to this project's own extras (``dualprocess[...]``) are skipped.
"""

import importlib.metadata
import pathlib
import sys

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version


def floors(pyproject: dict, groups: list[str]) -> list[tuple[str, str, str]]:
  """(group, name, floor) for every ``>=`` requirement of the groups."""
  project = pyproject["project"]
  own = canonicalize_name(project["name"])
  rows = []
  for group in groups:
    reqs = (project["dependencies"] if group == "dependencies"
            else project["optional-dependencies"][group])
    for text in reqs:
      req = Requirement(text)
      if canonicalize_name(req.name) == own:
        continue
      lows = [s.version for s in req.specifier if s.operator == ">="]
      if len(lows) != 1:
        raise SystemExit(f"floors: {text!r} ({group}) has no single '>=' floor")
      rows.append((group, req.name, lows[0]))
  return rows


def main(argv: list[str]) -> int:
  if not argv:
    raise SystemExit(__doc__)
  root = pathlib.Path(__file__).resolve().parent.parent
  pyproject = tomllib.loads((root / "pyproject.toml").read_text())
  wrong = []
  for group, name, floor in floors(pyproject, argv):
    try:
      got = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      got = "(not installed)"
    same = got != "(not installed)" and Version(got) == Version(floor)
    print(f"floors: {group:12} {name:18} >= {floor:10} installed {got}"
          + ("" if same else "   <-- not the floor"))
    if not same:
      wrong.append(f"{name}>={floor} ({group}) installed {got}")
  if wrong:
    print("floors: the lowest resolution did not install these floors, so they are untested;"
          " raise each to the version installed (or find why it was lifted):\n  "
          + "\n  ".join(wrong))
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
