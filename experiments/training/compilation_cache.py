"""JAX's persistent compilation cache, on by default for the commands.

A command compiles the same programs every time it runs the same job (its
model's initialization, its training segment, its evaluation and a few small
eager operations). With the cache, a second run reads them from disk instead of
compiling them again. It changes no result: the same executable runs.

Where: ``$XDG_CACHE_HOME/dualprocess/jax-<jax version>-jaxlib-<jaxlib version>``
(``~/.cache/...`` without ``XDG_CACHE_HOME``). JAX keys every entry by the compiled
program, its compile options, the backend and devices and its own version, so an
entry is never used by the wrong program; the version in the folder's name keeps
each JAX release's entries apart, so an old release's folder can simply be
deleted (so can the whole folder, at any time). Every program is kept, however
small or quick to compile (minimum compile time and entry size 0, as measured in
issue 25): most of a job's programs compile in less than JAX's default threshold
of one second, and together they still cost seconds.

Opt-out: ``DUALPROCESS_COMPILATION_CACHE=0`` in the environment. A cache folder
the user gave JAX (``JAX_COMPILATION_CACHE_DIR``, or
``jax.config.update('jax_compilation_cache_dir', ...)`` before calling a
command's ``main``) is used instead of ours; so are the thresholds the user set
with ``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` and
``JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES``.
"""

from __future__ import annotations

import logging
import os
import pathlib
from typing import Optional

ENV = "DUALPROCESS_COMPILATION_CACHE"  # 0, false, no or off: no cache of ours
_OFF = ("0", "false", "no", "off")
_THRESHOLDS = {  # JAX's option: the environment variable a user would set it with
    "jax_persistent_cache_min_compile_time_secs": "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
    "jax_persistent_cache_min_entry_size_bytes": "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
}

_log = logging.getLogger(__name__)


def enabled() -> bool:
  """Whether the environment leaves the cache on (``DUALPROCESS_COMPILATION_CACHE``)."""
  return os.environ.get(ENV, "1").strip().lower() not in _OFF


def default_folder(jax_version: str, jaxlib_version: str) -> pathlib.Path:
  """The cache folder of these JAX and jaxlib versions in the user's cache directory."""
  base = os.environ.get("XDG_CACHE_HOME", "")
  if not os.path.isabs(base):  # the XDG spec: a relative path is to be ignored
    base = os.path.join(os.path.expanduser("~"), ".cache")
  return pathlib.Path(base, "dualprocess", f"jax-{jax_version}-jaxlib-{jaxlib_version}")


def setup() -> Optional[str]:
  """Turns the persistent cache on for this process; its folder, or None when off.

  Call before the first compilation (JAX decides at its first compilation
  whether a cache is used). Imports JAX. A folder that cannot be created or
  written turns the cache off (one INFO line); the command runs as before.
  """
  if not enabled():
    return None
  import jax

  folder = jax.config.jax_compilation_cache_dir  # the user's own, if set
  if not folder:
    import jaxlib

    folder = default_folder(jax.__version__, jaxlib.__version__)
    try:
      folder.mkdir(parents=True, exist_ok=True)
      writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError:
      writable = False
    if not writable:
      _log.info("compilation cache off: '%s' cannot be written (set %s=0 to silence this, "
                "or JAX_COMPILATION_CACHE_DIR to a folder that can)", folder, ENV)
      return None
    jax.config.update("jax_compilation_cache_dir", str(folder))
  for option, variable in _THRESHOLDS.items():
    if variable not in os.environ:
      jax.config.update(option, 0)
  return str(folder)
