"""Checkpoints with Orbax: atomic saves, the last few kept, resume from the newest that reads.

Saves are written in the background (Orbax's asynchronous checkpointing) while
training goes on: ``save`` returns once the state is copied to the host. The
integrity record of a save is written when it has committed, which the next
``save`` or ``close`` waits for. A kill before that leaves either Orbax's
temporary folder, which Orbax never takes for a checkpoint, or a committed
checkpoint without a record, which Orbax's own reading then judges. In a
multi-host job saves stay synchronous, so that no host leaves a commit behind.

The train state is saved as its flat list of leaves and rebuilt on the
structure of a freshly initialized state, so any optax state, NNX params or
wrapper round-trips exactly. Data order needs no saved RNG: it is a function of
(seed, epoch) and the position in the epoch, both known from the saved step.
A checkpoint that cannot be read (truncated or missing files, garbled
metadata) is named in one line, moved to ``damaged_checkpoints/`` beside the
folder, and the next older one is tried.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import pathlib
import shutil
import weakref

import jax
import numpy as np
import orbax.checkpoint as ocp

from .. import outputs
from ..errors import ConfigError


class Checkpointer:
  def __init__(self, directory, keep: int, asynchronous: bool = True):
    self.directory = pathlib.Path(directory).resolve()
    self.keep = keep
    self.asynchronous = asynchronous and jax.process_count() == 1
    self.pending = None  # the step of a save that may still be writing
    self.discard_temporary()  # a killed or failed save's leftovers; the command holds the lock
    # Orbax logs a failed save's traceback through absl, from its background
    # thread, before our one line says what failed; quiet while this is open.
    self._absl = logging.getLogger("absl")
    self._absl_level = self._absl.level
    self._absl.setLevel(logging.CRITICAL)
    self.manager = self._open()
    _open.add(self)
    outputs.on_release(finish_open)  # a command's end commits this before its lock goes

  def finish_quietly(self) -> None:
    """``finish`` for a command that is failing already: what cannot commit is discarded."""
    try:
      self.finish()
    except Exception:
      self.discard_temporary()

  def _open(self) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(max_to_keep=self.keep, create=True,
                                           enable_async_checkpointing=self.asynchronous)
    return ocp.CheckpointManager(self.directory, options=options)

  def save(self, step: int, state) -> None:
    """Starts saving ``state`` at ``step``; returns once it is copied off the device."""
    self.finish()
    leaves = {str(i): np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state))}
    try:
      self.manager.save(step, args=ocp.args.StandardSave({"leaves": leaves}), force=True)
    except Exception:
      self.discard_temporary()
      raise
    self.pending = step
    if not self.asynchronous:
      self.finish()

  def finish(self) -> None:
    """Waits for the save in flight to commit, then writes its integrity record."""
    if self.pending is None:
      return
    step, self.pending = self.pending, None
    try:
      self.manager.wait_until_finished()
    except Exception:  # a full disk, say: free what the failed save took
      self.discard_temporary()
      raise
    if outputs.is_writer():  # after Orbax's commit: every process's shards are there
      outputs.write_json(self.directory / str(step) / INTEGRITY, _fingerprint(
          self.directory / str(step)))

  def discard_temporary(self) -> None:
    """Removes Orbax's temporary folders (saves that never committed)."""
    if outputs.is_writer():
      for path in self.directory.glob("*.orbax-checkpoint-tmp*"):
        shutil.rmtree(path, ignore_errors=True)

  def damage(self, step: int):
    """What is wrong with the checkpoint at ``step`` by its integrity record, or None.

    A checkpoint without a record (a kill between Orbax's commit and the
    record) is not damaged by that alone: Orbax's own reading then decides.
    """
    folder = self.directory / str(step)
    try:
      recorded = outputs.read_json(folder / INTEGRITY)
    except FileNotFoundError:
      return None
    except (OSError, ValueError):
      return f"its {INTEGRITY} is unreadable"
    if recorded != _fingerprint(folder):
      return "its files differ from the ones saved: missing, truncated or changed"
    return None

  def latest_step(self):
    """The newest complete checkpoint's step, or None (Orbax skips unfinished ones)."""
    return self.manager.latest_step()

  def restore(self, step: int, like):
    """Restores the state saved at ``step`` into the structure of ``like``."""
    leaves, treedef = jax.tree.flatten(like)
    target = {"leaves": {str(i): np.asarray(leaf) for i, leaf in enumerate(leaves)}}
    restored = self.manager.restore(step, args=ocp.args.StandardRestore(target))
    values = [restored["leaves"][str(i)] for i in range(len(leaves))]
    return jax.tree.unflatten(treedef, [jax.numpy.asarray(v, dtype=np.asarray(leaf).dtype)
                                        for v, leaf in zip(values, leaves, strict=True)])

  def restore_newest(self, like, say):
    """(state, step) of the newest checkpoint that reads, or (like, None) if there is none.

    Damaged checkpoints newer than the one restored are named through ``say``,
    one line each, and moved to ``damaged_checkpoints/``. When checkpoints
    exist but none reads, nothing is moved and a ConfigError names the folder
    and ``--force``.
    """
    steps = sorted(self.manager.all_steps(), reverse=True)
    damaged = []
    for step in steps:
      # Checked before Orbax opens anything: on some damage its reader threads
      # print tracebacks even when the error is caught.
      problem = self.damage(step)
      if problem is None:
        try:
          with _quiet_orbax():
            state = self.restore(step, like)
        except Exception as error:  # damage the record cannot see: caught all the same
          problem = f"Orbax: {type(error).__name__}"
        else:
          self._set_aside(damaged, say)
          return state, step
      damaged.append((step, problem))
    if steps:
      raise ConfigError(f"checkpoint folder '{self.directory}': no checkpoint in it can be "
                        "read; use --force to start the run over")
    return like, None

  def _set_aside(self, damaged, say) -> None:
    for step, problem in damaged:
      aside = self.directory.parent / "damaged_checkpoints" / str(step)
      say(f"warning: checkpoint '{self.directory / str(step)}' cannot be read ({problem}); "
          f"moved to '{aside}', resuming from an older one")
      if outputs.is_writer():
        aside.parent.mkdir(exist_ok=True)
        shutil.rmtree(aside, ignore_errors=True)
        shutil.move(str(self.directory / str(step)), aside)
    if damaged:
      self.manager.close()
      self.manager = self._open()

  def close(self) -> None:
    _open.discard(self)
    try:
      self.finish()
      self.manager.close()
    finally:
      self._absl.setLevel(self._absl_level)


# Checkpointers not yet closed. A command that fails elsewhere (a full disk for
# its metrics, say) still lets their saves in flight commit, before its lock is
# released and at the latest when the process ends: they are earlier checkpoints.
_open: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def finish_open() -> None:
  for checkpointer in list(_open):
    checkpointer.finish_quietly()


INTEGRITY = "integrity.json"  # our record of a finished checkpoint: its files, sizes, hashes


def _fingerprint(folder: pathlib.Path) -> dict:
  files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != INTEGRITY
                 and not p.name.startswith("."))
  return {str(p.relative_to(folder)): [p.stat().st_size,
                                       hashlib.sha256(p.read_bytes()).hexdigest()]
          for p in files}


@contextlib.contextmanager
def _quiet_orbax():
  """Orbax logs a damaged file through absl before it raises; the one line we print is enough."""
  logger = logging.getLogger("absl")
  level = logger.level
  logger.setLevel(logging.CRITICAL)
  try:
    yield
  finally:
    logger.setLevel(level)
