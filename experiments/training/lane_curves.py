"""Learning curves of lanes: each cell evaluated every ``train.eval_every`` epochs, inside
the compiled chunk program (``lanes.train_cells(..., curves=True)``).

The epochs' ``lax.scan`` evaluates the lanes after an epoch only where one is due, under
``lax.cond`` on the epoch index (shared by every lane, so a true branch, not a select):
an epoch that evaluates nothing pays nothing. The evaluation reads the lanes' states and
draws no key, so the training stream is the very one without curves. The last epoch is
not evaluated in the scan: its point is the chunk's own final evaluation, so a curve ends
on the cell's reported accuracies, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def evaluation_epochs(epochs: int, eval_every: int) -> list[int]:
  """The epochs (1-based) a curve has a point at: every ``eval_every``-th and the last."""
  return sorted({*range(eval_every, epochs + 1, eval_every), epochs})


def scan(one_epoch: Callable, evaluate_all: Callable, states, epochs: int, eval_every: int):
  """Traced: ``lax.scan`` of ``one_epoch`` over the epochs with the lanes evaluated
  (``evaluate_all(states) -> {key: [lanes]}``) after each due epoch but the last.

  Returns ``(states, per_epoch, evaluations)``: ``one_epoch``'s stacked outputs and each
  metric as ``[epochs, lanes]`` (zeros where no evaluation was due).
  """
  import jax
  import jax.numpy as jnp

  shapes = jax.eval_shape(evaluate_all, states)
  nothing = lambda _: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

  def body(states, epoch_index):
    states, outputs = one_epoch(states, epoch_index)
    done = epoch_index + 1
    due = (done % eval_every == 0) & (done < epochs)
    return states, (outputs, jax.lax.cond(due, evaluate_all, nothing, states))

  states, (per_epoch, evaluations) = jax.lax.scan(body, states, jnp.arange(epochs))
  return states, per_epoch, evaluations


def _value(value) -> float | None:
  value = float(value)
  return value if math.isfinite(value) else None


def records(per_epoch: tuple, evaluations: dict, finals: list[dict], steps_per_epoch: int,
            eval_every: int) -> list[list[dict]]:
  """Each lane's curve, one record per evaluation epoch: ``step``, ``epoch``, the training
  ``loss`` (the epoch's last step's, as a run's ``metrics.jsonl`` has it) and
  ``mean_loss`` (over the epoch's steps), and the evaluations (``test_*``,
  ``validation_accuracy``); None once the lane has turned non-finite. ``finals``: each
  lane's final evaluation as its result reports it (None where it diverged), in lane
  order: the last record's evaluations, so a curve ends on the reported numbers."""
  last_loss, finite, mean_loss = (np.asarray(a) for a in per_epoch)
  epochs = last_loss.shape[0]
  healthy = np.cumprod(finite, axis=0).astype(bool)  # finite in every epoch so far
  curves = []
  for lane, final in enumerate(finals):
    curve = []
    for epoch in evaluation_epochs(epochs, eval_every):
      ok = bool(healthy[epoch - 1, lane])
      record = {"step": epoch * steps_per_epoch, "epoch": epoch,
                "loss": _value(last_loss[epoch - 1, lane]) if ok else None,
                "mean_loss": _value(mean_loss[epoch - 1, lane]) if ok else None}
      if epoch == epochs:
        record.update(final)
      else:
        scores = {k: _value(v[epoch - 1, lane]) if ok else None for k, v in evaluations.items()}
        broken = any(v is None for v in scores.values())  # non-finite parameters
        record.update({k: None if broken else v for k, v in scores.items()})
      curve.append(record)
    curves.append(curve)
  return curves
