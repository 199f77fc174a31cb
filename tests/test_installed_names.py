"""What a pip user reads names what a pip user has (issue 33, item 1).

After ``pip install``, the commands are the console scripts ``dualprocess-run``,
``-compare``, ``-sweep``, ``-suite``, ``-transfer`` (or ``python -m dualprocess_experiments.NAME``);
``python -m experiments.NAME`` exists only in a checkout. The docs pages (the results
records aside: pages and output folders that say how a past measurement was run) and the
commands' usage lines lead with the installed names, and the checkout form appears once,
as the developer's form, in the first section of docs/experiments.md.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from experiments import api, cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CHECKOUT_FORM = "python -m experiments."
COMMANDS = ("run", "compare", "sweep", "suite", "transfer")


def is_record(page: pathlib.Path) -> bool:
  """A results page or a page a command wrote into an output folder (one that holds its
  ``config.yaml``): how a past measurement was run, kept as written."""
  relative = page.relative_to(DOCS)
  return relative.parts[0] == "results" or (page.parent / "config.yaml").is_file() or any(
      (DOCS / folder / "config.yaml").is_file() for folder in relative.parts[:1])


def pages() -> list[pathlib.Path]:
  return [p for p in sorted(DOCS.rglob("*.md")) if "_build" not in p.parts and not is_record(p)]


def test_no_page_names_the_checkout_form_but_the_developers_note():
  found = {}
  for page in pages():
    for n, line in enumerate(page.read_text().splitlines(), 1):
      if CHECKOUT_FORM in line:
        found.setdefault(page.relative_to(DOCS).as_posix(), []).append(n)
  assert list(found) == ["experiments.md"], found
  (line,) = found["experiments.md"]
  text = (DOCS / "experiments.md").read_text().splitlines()
  first_section_ends = next(i for i, t in enumerate(text, 1) if t.startswith("## "))
  assert line < first_section_ends, "the developer's form belongs in the first section"
  assert "developer's form" in " ".join(text[line - 2:line + 1])


def test_the_pages_lead_with_the_console_scripts():
  for name, page in (("experiments", "experiments.md"), ("index", "index.md"),
                     ("own_workload", "own_workload.md")):
    text = (DOCS / page).read_text()
    assert "dualprocess-run" in text or "dualprocess-compare" in text, name
  assert len(pages()) >= 8


def test_the_api_docstrings_name_the_installed_commands():
  for function in (api.run, api.compare, api.sweep, api.suite, api.transfer):
    assert CHECKOUT_FORM not in function.__doc__
    assert f"dualprocess-{function.__name__}" in function.__doc__
  assert CHECKOUT_FORM not in api.__doc__ and "dualprocess_experiments import api" in api.__doc__


@pytest.mark.parametrize("argv0, shown", [
    ("/venv/bin/dualprocess-compare", "dualprocess-compare"),
    ("/x/experiments/compare.py", "python -m experiments.compare"),  # what was typed
])
def test_the_usage_line_shows_the_name_typed(monkeypatch, argv0, shown):
  monkeypatch.setattr(sys, "argv", [argv0])
  assert cli.program("compare") == shown


@pytest.mark.parametrize("command", COMMANDS)
def test_the_installed_console_scripts_print_their_own_name(command):
  script = pathlib.Path(sys.executable).parent / f"dualprocess-{command}"
  if not script.is_file():
    pytest.skip(f"{script}: the package is not installed in this environment")
  shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60,
                         cwd=ROOT.parent)
  assert shown.returncode == 0, shown.stderr
  assert shown.stdout.startswith(f"usage: dualprocess-{command} ")
  assert CHECKOUT_FORM not in shown.stdout


@pytest.mark.parametrize("module", ["config_reference", "analysis.sensitivity"])
def test_the_developer_tools_usage_names_the_package_run(module):
  shown = subprocess.run([sys.executable, "-m", f"dualprocess_experiments.{module}", "--help"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT.parent)
  if "No module named" in shown.stderr:
    pytest.skip("dualprocess_experiments is not installed in this environment")
  assert shown.stdout.startswith(f"usage: python -m dualprocess_experiments.{module}")
