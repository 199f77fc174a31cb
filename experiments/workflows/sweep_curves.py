"""Every sweep cell's learning curve in ``cells/``, so that ``tensorboard --logdir OUT``
shows each cell as a run of its own, as ``compare`` shows each run in ``runs/``.

A cell's curve (``lanes.train_cells(..., curves=True)``: the training loss and the test
and validation accuracies every ``train.eval_every`` epochs) is kept with its chunk in
``chunks/``; ``cells/lrLR-mM/seedS/`` (``foldF-seedS`` with ``dataset.folds``) holds it
as ``metrics.jsonl`` and, with the tensorboard extra, as TensorBoard events
(``train/loss``, ``test/accuracy``, ``validation/accuracy``, ...). The kept chunks are
the record: ``cells/`` is written again from them whenever a chunk is kept or found, so
a resumed sweep has every point once, and a sweep that starts afresh starts with no
``cells/``.
"""

from __future__ import annotations

import json
import pathlib
import shutil

from .. import outputs
from ..training.lanes import Cell

FOLDER = "cells"


def cell_name(cell: Cell, folded: bool) -> str:
  """A cell's folder under ``cells/``: its pair, then its seed (and fold)."""
  cell = Cell(*cell)
  run = f"fold{cell.fold}-seed{cell.seed}" if folded else f"seed{cell.seed}"
  return f"lr{cell.learning_rate:.8g}-m{cell.momentum:.8g}/{run}"


def write(out: pathlib.Path, results: list[dict], folded: bool) -> None:
  """Each result's curve (those kept without one, by an older version, are skipped) as
  ``cells/NAME/metrics.jsonl`` and TensorBoard events there, replacing what was there.
  The chunks are the durable record, so these files are written without an ``fsync``."""
  from ..training import tensorboard_log
  for result in results:
    if "curve" not in result:
      continue
    folder = out / FOLDER / cell_name(result["cell"], folded)
    if outputs.is_writer():
      folder.mkdir(parents=True, exist_ok=True)
    records = [{k: v for k, v in record.items() if v is not None}
               for record in result["curve"]]
    outputs.write_text(folder / "metrics.jsonl",
                       "".join(json.dumps(r) + "\n" for r in records), sync=False)
    tensorboard_log.write_records(tensorboard_log.open_fresh(folder), records)


class CurveStore:
  """A chunk store (``outputs.ResultStore`` or its TensorBoard-watched kind) whose chunks,
  kept (``put``) or found from before (``get``), also write their cells' curves."""

  def __init__(self, store, out: pathlib.Path, folded: bool):
    self.store, self.out, self.folded = store, pathlib.Path(out), folded
    self.folder = store.folder
    if outputs.is_writer():  # what the kept chunks hold is written again as they are found
      shutil.rmtree(self.out / FOLDER, ignore_errors=True)

  def get(self, name: str):
    value = self.store.get(name)
    if value is not None:
      write(self.out, value, self.folded)
    return value

  def put(self, name: str, value):
    value = self.store.put(name, value)
    write(self.out, value, self.folded)
    return value
