"""Sphinx extension: line-break opportunities inside the long names of table cells.

The results tables name workloads and optimizers as identifiers (``mnist5k_mlp_noise20``,
``double_bayesian``) and theory.md prints values as Python does (a complex number is one
token, ``(-1.74+5.08j)``). A browser breaks a line only at a space, so such a token is as
wide as its column can get narrow: nine workload columns made the 0.3.0 suite's tables
wider than the page at 1280 px, and the theme's box then hid their right-hand columns
until scrolled sideways (tests/test_site_tables.py). ``overflow-wrap: anywhere`` would
fit them too, but by cutting a name or a number anywhere, also ``0.0158679`` in a narrow
column, and it cut code in the cells of theory.md's table to a few letters a line
(``theory.g|olden_|ratio()``). This extension adds a ``<wbr>`` (a break that shows
nothing, copies nothing and is taken only where a cell is too narrow) after each
underscore of a name, after the dot of an attribute and the ``(`` of a call, and after
the ``+`` between a complex number's parts, and keeps a ✓ on its number's line, in the
text of the tables of each HTML page. The source pages and the reports the commands
wrote stay as they are, and so does the search index, which is built from the document,
not from this HTML.
"""

from __future__ import annotations

import re

_TABLE = re.compile(r"<table\b.*?</table>", re.S)
_TEXT = re.compile(r">([^<]+)<")  # the text between two tags, never a tag's attributes
# After an underscore inside a name (a letter or digit on both sides: not __init__'s
# ends), after the dot of an attribute (theory.dual_root: a letter after it, never a
# number's point), after the ( of a call with arguments, and after the + of a complex
# number's parts (a digit before, a digit or '.' after).
_BREAK = re.compile(r"(?<=[A-Za-z0-9]_)(?=[A-Za-z0-9])|(?<=[A-Za-z_)]\.)(?=[A-Za-z_])"
                    r"|(?<=[A-Za-z0-9_]\()(?=[^)])|(?<=[0-9]\+)(?=[0-9.])")
# A result's mark stays on its number's line ("0.9805 ✓", the suite's targets reached).
_MARK = re.compile(r" (?=\u2713)")


def add_breaks(body: str) -> str:
  """``body`` with a ``<wbr>`` at each break opportunity in the text of its tables."""

  def in_text(text: re.Match) -> str:
    return ">" + _MARK.sub("\u00a0", _BREAK.sub("<wbr>", text.group(1))) + "<"

  return _TABLE.sub(lambda table: _TEXT.sub(in_text, table.group(0)), body)


def _page_context(app, pagename, templatename, context, doctree):
  if doctree is not None and "body" in context:
    context["body"] = add_breaks(context["body"])


def setup(app):
  app.connect("html-page-context", _page_context)
  return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
