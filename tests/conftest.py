"""Shared test setup: deterministic hypothesis profile sized for a 2-core CI, one
compilation cache per test worker, and how many workers ``-n auto`` starts.

Many tests compile the same programs again (a reference run, then its resumed twin,
often in subprocesses); JAX's persistent cache, in a folder of this session that the
subprocesses inherit through the environment, lets them reuse what was compiled. It
changes no result: the same executable runs. Each pytest-xdist worker gets its own
folder, so that no worker reads an entry another is still writing.
"""

import os
import shutil
import tempfile

from hypothesis import settings

# The folder this process made (and removes at the end); None where it was inherited.
_CREATED = (None if os.environ.get("JAX_COMPILATION_CACHE_DIR")
            else tempfile.mkdtemp(prefix="jax-cache-"))
_BASE = _CREATED or os.environ["JAX_COMPILATION_CACHE_DIR"]
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(_BASE, _WORKER) if _WORKER else _BASE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("ci")


def pytest_xdist_auto_num_workers(config):
  """``-n auto``: one worker per CPU this process may use, at least 2 and at most 4.

  Most tests spend their time compiling (one core) or in subprocesses that wait on
  each other, so two workers fill a 2-core machine; more than 4 only adds memory.
  """
  del config
  return max(2, min(4, len(os.sched_getaffinity(0))))


def pytest_sessionfinish(session, exitstatus):
  """Removes the cache folder this process made (the controller's holds its workers')."""
  del session, exitstatus
  if _CREATED:
    shutil.rmtree(_CREATED, ignore_errors=True)
