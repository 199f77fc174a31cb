"""How many steps each compiled segment of a run takes, chosen by measured time.

The runner trains in segments, one jitted ``lax.scan`` of steps each; between
segments it logs, evaluates at epoch ends, checkpoints and looks for a stop
signal. Short segments answer a signal quickly but pay a dispatch and a host
transfer each (on an H200 the MNIST MLP trained at half speed with 50-step
segments); long ones do the opposite. So the length is set by time:

- the first segment takes at most ``first`` steps (50);
- its measured seconds per step fix the length for the rest of the run, so
  that a segment lasts about ``target_s`` (``train.segment_seconds``, 1 s),
  capped by ``cap`` (``train.max_segment_steps``) and by the epoch;
- a segment never crosses an epoch end, a multiple of ``checkpoint_every``
  (steps) or the end of training: it is cut short there. An epoch of prime
  length thus takes segments of the fixed length and one shorter remainder,
  never one step at a time.

Each distinct length is one compilation; a run sees at most a few (the first
length, the fixed one and the remainders at epoch and checkpoint ends).
"""

from __future__ import annotations

from typing import Optional

FIRST_SEGMENT_STEPS = 50


class SegmentPlan:
  """The length of the segment starting at each step; fixed once by ``fix``."""

  def __init__(self, steps_per_epoch: int, total_steps: int,
               checkpoint_every: Optional[int] = None, target_s: float = 1.0,
               cap: Optional[int] = None, first: int = FIRST_SEGMENT_STEPS):
    self.steps_per_epoch = steps_per_epoch
    self.total_steps = total_steps
    self.checkpoint_every = checkpoint_every
    self.target_s = target_s
    self.cap = cap
    self.length = min(first, cap or first)
    self.fixed = False

  def next_length(self, step: int) -> int:
    """Steps of the segment that starts at ``step``."""
    ends = [(step // self.steps_per_epoch + 1) * self.steps_per_epoch, self.total_steps]
    if self.checkpoint_every:
      ends.append((step // self.checkpoint_every + 1) * self.checkpoint_every)
    return max(1, min(self.length, min(ends) - step))

  def proposal(self, steps: int, seconds: float) -> int:
    """The length that ``target_s`` asks for, given ``steps`` took ``seconds``."""
    per_step = seconds / steps
    wanted = self.steps_per_epoch if per_step <= 0 else int(self.target_s / per_step)
    return max(1, min(wanted, self.cap or wanted, self.steps_per_epoch))

  def fix(self, length: int) -> None:
    """Sets the length for the rest of the run (all processes of a job pass the same)."""
    self.length, self.fixed = length, True
