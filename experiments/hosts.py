"""Which process of a multi-host job writes, and one value agreed on by all of them.

JAX is imported on first use, so that the layers that only read files import nothing
heavy; in a one-process job both answers need no communication.
"""

from __future__ import annotations

__all__ = ["agree", "is_writer"]


def is_writer() -> bool:
  """Whether this process writes the output files: process 0 of a multi-host job."""
  import jax

  return jax.process_index() == 0


def agree(value: int) -> int:
  """Process 0's ``value`` on every process (itself in a one-process job): for choices
  made from a clock, which differs between hosts but must not differ between their runs."""
  import jax

  if jax.process_count() == 1:
    return value
  import numpy as np
  from jax.experimental import multihost_utils

  return int(multihost_utils.broadcast_one_to_all(np.int64(value)))
