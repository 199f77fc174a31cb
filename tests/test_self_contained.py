"""No file of the project points outside the repository: users have no ``../shared``.

The project states its own methods (``docs/methods.md``) and theory (``docs/theory.md``)
and finds real datasets in its own data folder (``experiments/data/download.py``).
Records that commands wrote (an output folder's ``config.yaml``, the JSON results and
benchmark measurements) say what a past run read, and are kept as written.
"""

from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKED = ("experiments", "docs", "configs", "benchmarks", "examples", "README.md",
           ".ci", "pyproject.toml")
OUTSIDE = ("../shared", "METHODS.md", "THEORY.md", "/work/shared")


def is_record(path: pathlib.Path) -> bool:
  """A file a command or a benchmark wrote: JSON results, an output folder's config."""
  relative = path.relative_to(ROOT)
  in_results = relative.parts[0] in ("docs", "benchmarks", "examples") and len(relative.parts) > 2
  return path.suffix == ".json" or (in_results and path.name == "config.yaml")


def checked_files():
  for name in CHECKED:
    top = ROOT / name
    paths = [top] if top.is_file() else sorted(top.rglob("*"))
    for path in paths:
      if (path.is_file() and not is_record(path) and "_build" not in path.parts
          and path.suffix not in (".png", ".npz", ".gz", ".pyc")):
        yield path


def test_no_file_names_a_path_outside_the_repository():
  found = []
  for path in checked_files():
    text = path.read_text(errors="replace")
    found += [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
              for n, line in enumerate(text.splitlines(), 1)
              if any(outside in line for outside in OUTSIDE)]
  assert not found, "\n".join(found)


@pytest.mark.parametrize("page", ["docs/methods.md", "docs/theory.md"])
def test_the_project_states_its_own_methods_and_theory(page):
  assert (ROOT / page).is_file()
