"""Sphinx extension: the configuration reference, generated from the code at build time.

A document that holds the line ``% config-reference`` (a MyST comment, so the page
still reads without this extension) gets, in its place, the Markdown that
:func:`experiments.config_reference.markdown` writes from the config dataclasses.
Such a document is read again whenever a Python file of ``experiments/`` or
``dualprocess/`` (where the dataclasses and their allowed values live) has changed
since the last build, even when its own text has not, so the reference follows every
field added to or changed in a config dataclass.
"""

from __future__ import annotations

import pathlib

MARKER = "% config-reference"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _has_marker(text: str) -> bool:
  return any(line.strip() == MARKER for line in text.splitlines())


def _source_read(app, docname, source):
  if not _has_marker(source[0]):
    return
  from experiments import config_reference

  generated = config_reference.markdown(level=2)
  source[0] = "\n".join(generated if line.strip() == MARKER else line
                        for line in source[0].splitlines()) + "\n"


def _code_stamp():
  files = [*(ROOT / "experiments").rglob("*.py"), *(ROOT / "dualprocess").rglob("*.py")]
  return sorted((str(f), f.stat().st_mtime_ns) for f in files)


def _outdated_with_the_code(app, env, added, changed, removed):
  stamp = _code_stamp()
  if getattr(env, "config_reference_stamp", None) == stamp:
    return []
  env.config_reference_stamp = stamp
  outdated = []
  for docname in env.found_docs:
    try:
      text = pathlib.Path(env.doc2path(docname)).read_text(encoding="utf-8")
    except OSError:
      continue
    if _has_marker(text):
      outdated.append(docname)
  return outdated


def setup(app):
  app.connect("source-read", _source_read)
  app.connect("env-get-outdated", _outdated_with_the_code)
  return {"version": "2", "parallel_read_safe": True, "parallel_write_safe": True}
