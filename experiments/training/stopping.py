"""Stopping safely on SIGTERM (a preempting scheduler) and SIGINT (Ctrl-C).

A signal only sets a flag; the commands look at it between units of work (a
scanned segment of steps, a run, a chunk of a sweep, a suite group), save what
they have, and raise :class:`StopRequested`, which the command line turns into
one line and exit code 128 + the signal (143 for SIGTERM, 130 for SIGINT). A
second signal while that is under way exits at once: checkpoints and output
files are written atomically, so the ones already there stay readable.

In a multi-host job every process receives the signal, but not necessarily at
the same moment; :meth:`GracefulStop.requested` agrees across processes, so all
of them stop after the same step and write the same checkpoint.
"""

from __future__ import annotations

import os
import signal

import numpy as np

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequested(Exception):
  """A signal asked the command to stop; the message says where and how to resume."""

  def __init__(self, signum: int, message: str):
    super().__init__(message)
    self.signum = signum

  @property
  def exit_code(self) -> int:
    return 128 + self.signum


class GracefulStop:
  """Installs the handlers for SIGTERM and SIGINT while the command runs."""

  def __init__(self):
    self.signum = None  # the signal to stop for: this process's, or another host's
    self.received = False  # whether this process itself got one
    self._previous = {}

  def __enter__(self) -> GracefulStop:
    for signum in SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def install(self) -> None:
    """Takes the signals back: ``jax.distributed.initialize`` sets a SIGTERM handler of its own."""
    for signum in SIGNALS:
      signal.signal(signum, self._handle)

  def __exit__(self, *exc) -> None:
    if self.signum is not None:
      # Stopping: the process is about to exit, and a signal that comes during
      # its shutdown (another host's late first one, or a second one here)
      # must not kill it with the default action halfway through.
      return
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)

  def _handle(self, signum, frame) -> None:
    if self.received:  # the second signal to this process: no more waiting
      os._exit(128 + signum)
    self.received = True
    if self.signum is None:  # else already stopping, agreed with another host
      self.signum = signum

  def requested(self) -> bool:
    """Whether to stop now; in a multi-host job, whether any process was signalled."""
    import jax
    if jax.process_count() == 1:
      return self.signum is not None
    from jax.experimental import multihost_utils
    everyone = multihost_utils.process_allgather(np.int32(self.signum or 0))
    if self.signum is None and np.max(everyone) > 0:
      self.signum = int(np.max(everyone))
    return self.signum is not None

  def stop(self, message: str) -> StopRequested:
    """The exception to raise once the work in flight is saved."""
    name = signal.Signals(self.signum).name
    return StopRequested(self.signum, f"interrupted by {name} {message}")


class NeverStop:
  """The stand-in when no handler is installed (library calls): never asks to stop."""

  signum = None

  def requested(self) -> bool:
    return False


NEVER = NeverStop()
