"""Checkpoints with Orbax: atomic saves, the last few kept, resume from the newest.

The train state is saved as its flat list of leaves and rebuilt on the
structure of a freshly initialized state, so any optax state, NNX params or
wrapper round-trips exactly. Data order needs no saved RNG: it is a function of
(seed, epoch) and the position in the epoch, both known from the saved step.
"""

from __future__ import annotations

import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp


class Checkpointer:
  def __init__(self, directory, keep: int):
    self.directory = pathlib.Path(directory).resolve()
    options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                           enable_async_checkpointing=False)
    self.manager = ocp.CheckpointManager(self.directory, options=options)

  def save(self, step: int, state) -> None:
    leaves = {str(i): np.asarray(leaf) for i, leaf in enumerate(jax.tree.leaves(state))}
    self.manager.save(step, args=ocp.args.StandardSave({"leaves": leaves}), force=True)
    self.manager.wait_until_finished()

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

  def close(self) -> None:
    self.manager.close()


def remove(directory) -> None:
  """Deletes a run's checkpoints (for --force, which starts the run over)."""
  import shutil
  shutil.rmtree(directory, ignore_errors=True)
