"""The two errors a user is told about in one line: a config mistake and a divergence.

Every layer raises them and only the command line (``experiments/cli.py``) turns them
into exit codes: :class:`ConfigError` exits 2, :class:`Diverged` exits 3. They live in
the lowest layer so that raising one never imports the module that catches it.
"""

from __future__ import annotations

__all__ = ["ConfigError", "Diverged"]


class ConfigError(ValueError):
  """A config mistake; its message is the one line shown to the user."""


class Diverged(RuntimeError):
  """Training produced a non-finite loss or update; the summary says where."""
