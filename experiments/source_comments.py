"""Comments of a dataclass's fields, read from its source: what the configuration
reference (``experiments/config_reference.py``) shows beside each key.

A field's comment is the comment block right above it, or the comment at the end of its
line, or both; a field with neither takes the block above an earlier field of the class
that names it, or, failing that, the block of the field right above it when the two
stand together and their names share a stem. Read with ``ast`` and ``tokenize``; a class
made at run time, or without a source file, has none.
"""

from __future__ import annotations

import ast
import inspect
import io
import os
import re
import textwrap
import tokenize


def _source(cls) -> str | None:
  try:
    return textwrap.dedent(inspect.getsource(cls))
  except (OSError, TypeError):  # made at run time (dataclasses.make_dataclass) or no file
    return None


def _class_node(source: str, cls) -> ast.ClassDef | None:
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
      return node
  return None


def class_docstring(cls) -> str:
  """The class's own docstring (not the one dataclasses writes), as one paragraph."""
  source = _source(cls)
  node = _class_node(source, cls) if source else None
  text = ast.get_docstring(node) if node else None
  return " ".join(text.split()) if text else ""


def field_comments(cls) -> dict[str, str]:
  """Each field's comment in ``cls``'s source (the rules: the module docstring)."""
  source = _source(cls)
  node = _class_node(source, cls) if source else None
  if node is None:
    return {}
  comments, code = {}, set()
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.COMMENT:
      comments[token.start[0]] = token.string.lstrip("#").strip()
    elif token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                            tokenize.DEDENT, tokenize.ENDMARKER):
      code.update(range(token.start[0], token.end[0] + 1))

  fields = [n for n in node.body
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
  above, after = {}, {}
  for field in fields:
    name = field.target.id
    line, block = field.lineno - 1, []
    while line in comments and line not in code:
      block.insert(0, comments[line])
      line -= 1
    above[name] = " ".join(block)
    after[name] = " ".join(comments[n] for n in range(field.lineno, field.end_lineno + 1)
                           if n in comments)

  result = {}
  for i, field in enumerate(fields):
    name = field.target.id
    own = " ".join(t for t in (above[name], after[name]) if t)
    if not own:
      # A block above an earlier field that names this one, the nearest first.
      for earlier in reversed(fields[:i]):
        if above[earlier.target.id] and re.search(rf"\b{re.escape(name)}\b",
                                                  above[earlier.target.id]):
          own = above[earlier.target.id]
          break
    if not own and i:
      # The block of the field right above, when nothing stands between the two and
      # their names share a stem (warmup_steps, warmup_fraction; folds, fold).
      previous = fields[i - 1]
      stem = len(os.path.commonprefix([previous.target.id, name]))
      if (above[previous.target.id] and previous.end_lineno == field.lineno - 1
          and stem >= 4):
        own = above[previous.target.id]
    result[name] = own
  return result
