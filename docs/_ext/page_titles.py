"""Sphinx extension: a title for pages the commands write without one.

``comparison.md`` (``experiments.compare``) and ``grid.md`` (``experiments.sweep``) are
outputs kept as they were written, and they start with a line of text, not a heading;
Sphinx cannot link a page without a title from a table of contents. ``page_titles`` in
``conf.py`` maps such a page (its docname) to a title, which this extension puts on
top of the page when it is read, unless the page has a title of its own by then. A
page in a folder of ``docs/`` that has neither (a new command's report, say) is titled
by its folder and name, so that a new results folder never breaks the build.
"""

from __future__ import annotations


def _has_title(text: str) -> bool:
  in_fence = False
  for line in text.splitlines():
    stripped = line.strip()
    if stripped.startswith(("```", "~~~")):
      in_fence = not in_fence
    elif not in_fence and stripped.startswith("# "):
      return True
  return False


def _source_read(app, docname, source):
  title = app.config.page_titles.get(docname)
  if title is None and "/" in docname:
    title = docname.replace("/", ": ").replace("_", " ")
  if title and not _has_title(source[0]):
    source[0] = f"# {title}\n\n{source[0]}"


def setup(app):
  app.add_config_value("page_titles", {}, "env")
  app.connect("source-read", _source_read)
  return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
