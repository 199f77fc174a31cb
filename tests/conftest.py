"""Shared test setup: deterministic hypothesis profile sized for a 2-core CI, and one
compilation cache for the whole session.

Many tests compile the same programs again (a reference run, then its resumed twin,
often in subprocesses); JAX's persistent cache, in a folder of this session that the
subprocesses inherit through the environment, lets them reuse what was compiled. It
changes no result: the same executable runs.
"""

import os
import tempfile

from hypothesis import settings

os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="jax-cache-"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("ci")
