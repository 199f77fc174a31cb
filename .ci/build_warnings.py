"""Fails on a warning in a ``python -m build`` log: CI's build must be clean.

Usage: ``python .ci/build_warnings.py BUILD_LOG``; exit 1, listing them, when the log has a
setuptools warning (``WARNING ...`` as build prints it, or ``...Warning: ...`` as Python's
warnings module does): a deprecated ``project.license`` table, a folder setuptools would
import but that ``packages`` leaves out, and the like. The distutils lines that say what
the environment turned off (``warning: build_py: byte-compiling is disabled``, under
``PYTHONDONTWRITEBYTECODE``) are notes, not warnings of the project's configuration.
"""

from __future__ import annotations

import pathlib
import re
import sys

WARNING = re.compile(r"^\s*WARNING\b|\b\w*Warning: ")


def warnings_in(log: str) -> list[str]:
  """The lines of ``log`` that are warnings of the build."""
  return [line.strip() for line in log.splitlines() if WARNING.search(line)]


def main(argv: list[str]) -> int:
  if len(argv) != 1:
    raise SystemExit(__doc__)
  found = warnings_in(pathlib.Path(argv[0]).read_text(errors="replace"))
  for line in found:
    print(f"build_warnings: {line}")
  return 1 if found else 0


if __name__ == "__main__":
  raise SystemExit(main(sys.argv[1:]))
