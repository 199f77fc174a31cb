"""How many steps each compiled segment of a run takes, chosen by measured time.

The runner trains in segments, one jitted ``lax.scan`` of steps each; between
segments it logs, evaluates at epoch ends, checkpoints and looks for a stop
signal. Short segments answer a signal quickly but pay a dispatch and a host
transfer each (on an H200 the MNIST MLP trained at half speed with 50-step
segments); long ones do the opposite. So the length is set by time:

- the first epoch runs in segments of at most ``first`` steps (50), the
  largest divisor of the epoch up to that when it is at least half of it;
- the first segment's measured seconds per step set the length from the next
  epoch on, so that a segment lasts about ``target_s`` (``train.segment_seconds``,
  1 s), capped by ``cap`` (``train.max_segment_steps``) and by the epoch; a
  divisor of the epoch within a factor of two of that is preferred, so that
  an epoch needs one length, not a length and a remainder;
- a segment never crosses an epoch end, a multiple of ``checkpoint_every``
  (steps) or the end of training: it is cut short there. An epoch of prime
  length thus takes segments of the chosen length and one shorter remainder,
  never one step at a time.

Each distinct length is one compilation; a run sees one to four (the first
length, the chosen one and the remainders at epoch and checkpoint ends).
"""

from __future__ import annotations

from typing import Optional

FIRST_SEGMENT_STEPS = 50


def _divisor_near(steps: int, wanted: int) -> int:
  """The largest divisor of ``steps`` up to ``wanted``, if at least half of it; else ``wanted``."""
  divisor = max(d for d in range(1, min(wanted, steps) + 1) if steps % d == 0)
  return divisor if 2 * divisor >= wanted else wanted


class SegmentPlan:
  """The length of the segment starting at each step; chosen once by ``fix``."""

  def __init__(self, steps_per_epoch: int, total_steps: int,
               checkpoint_every: Optional[int] = None, target_s: float = 1.0,
               cap: Optional[int] = None, first: int = FIRST_SEGMENT_STEPS):
    self.steps_per_epoch = steps_per_epoch
    self.total_steps = total_steps
    self.checkpoint_every = checkpoint_every
    self.target_s = target_s
    self.cap = cap
    self.first = _divisor_near(steps_per_epoch, min(first, cap or first, steps_per_epoch))
    self.chosen, self.from_step = None, None
    self.fixed = False

  def next_length(self, step: int) -> int:
    """Steps of the segment that starts at ``step``."""
    length = self.chosen if self.fixed and step >= self.from_step else self.first
    ends = [(step // self.steps_per_epoch + 1) * self.steps_per_epoch, self.total_steps]
    if self.checkpoint_every:
      ends.append((step // self.checkpoint_every + 1) * self.checkpoint_every)
    return max(1, min(length, min(ends) - step))

  def proposal(self, steps: int, seconds: float) -> int:
    """The length that ``target_s`` asks for, given ``steps`` took ``seconds``."""
    per_step = seconds / steps
    wanted = self.steps_per_epoch if per_step <= 0 else int(self.target_s / per_step)
    wanted = max(1, min(wanted, self.cap or wanted, self.steps_per_epoch))
    return _divisor_near(self.steps_per_epoch, wanted)

  def fix(self, length: int, step: int) -> None:
    """Sets the length from the first epoch end after ``step`` on (every process of a job
    passes the same), so that the epoch under way keeps its segments."""
    self.chosen, self.fixed = length, True
    self.from_step = -(-step // self.steps_per_epoch) * self.steps_per_epoch
