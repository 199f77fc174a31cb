"""TensorBoard event files in the output folder, so that a long job can be watched live.

With the optional ``tensorboard`` package installed (``pip install
'dualprocess[tensorboard]'``), every command writes an event file into its
``--out``: ``run`` beside ``metrics.jsonl``, one event per logged step
(``train/*``) with the evaluations (``test/*``, ``validation/*``); ``compare``,
``sweep`` and ``suite`` one point per finished run, cell or group, and a count of
finished ones (a sweep's cells also their curves, each in its folder under ``cells/``:
``workflows/sweep_curves.py``). Watch with ``tensorboard --logdir runs`` (or the ``--out`` folder).

Written with the ``tensorboard`` package's own protocol buffers and its record
format (no TensorFlow, no writer thread): each write appends to the file and
closes it, so what a killed job wrote is on disk. When a command starts, the
event files it finds in its folder are replaced by one holding what the folder
keeps (a resumed run's ``metrics.jsonl`` up to its checkpoint, a multi-run
command's finished units as it meets them), so TensorBoard shows what the
folder holds, once. Without the package nothing is written (one INFO line).
"""

from __future__ import annotations

import logging
import math
import os
import pathlib
import socket
import statistics
import struct
import time
from typing import Callable, Iterable, Optional

from .. import outputs

PREFIX = "events.out.tfevents."  # what TensorBoard looks for in a file's name
_log = logging.getLogger(__name__)
_said_missing = False


def _protos():
  """The Event and Summary protocol buffers of the tensorboard package (None without it)."""
  try:
    from tensorboard.compat.proto import event_pb2, summary_pb2
  except ImportError:
    return None
  return event_pb2, summary_pb2


def _masked_crc_function() -> Callable[[bytes], int]:
  """The masked CRC-32C of TensorFlow's record format: the C one of google-crc32c where
  installed (part of the extra), else tensorboard's own (pure Python, slower)."""
  try:
    import google_crc32c

    if google_crc32c.implementation != "c":
      raise ImportError
  except ImportError:
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
    return masked_crc32c

  def masked_crc32c(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

  return masked_crc32c


class EventFile:
  """One event file in ``folder``, appended to record by record (TFRecord framing:
  length, its masked CRC-32C, the serialized ``Event``, its masked CRC-32C)."""

  def __init__(self, folder, protos):
    self._event_pb2, self._summary_pb2 = protos
    self._crc = _masked_crc_function()
    self.path = pathlib.Path(folder) / (
        f"{PREFIX}{int(time.time())}.{socket.gethostname()}.{os.getpid()}.dualprocess")
    self._append([self._event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")])

  def _record(self, data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", self._crc(header)) + data
            + struct.pack("<I", self._crc(data)))

  def _append(self, events) -> None:
    payload = b"".join(self._record(e.SerializeToString()) for e in events)
    if payload:
      with open(self.path, "ab") as f:
        f.write(payload)

  def write(self, points: Iterable[tuple[int, dict]]) -> None:
    """Appends one event per ``(step, {tag: value})``; values that are not finite
    numbers (None, NaN, a diverged run's) are left out, as are empty events."""
    now, events = time.time(), []
    for step, scalars in points:
      values = [self._summary_pb2.Summary.Value(tag=tag, simple_value=float(value))
                for tag, value in scalars.items() if _finite(value)]
      if values:
        events.append(self._event_pb2.Event(wall_time=now, step=int(step),
                                            summary=self._summary_pb2.Summary(value=values)))
    self._append(events)


def _finite(value) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def open_fresh(folder) -> Optional[EventFile]:
  """A new event file in ``folder``, the ones there before removed; None where nothing
  is to be written: no tensorboard package, or not process 0 of a multi-host job."""
  global _said_missing
  if not outputs.is_writer():
    return None
  protos = _protos()
  if protos is None:
    if not _said_missing:
      _said_missing = True
      _log.info("no TensorBoard event files: the tensorboard package is not installed "
                "(pip install 'dualprocess[tensorboard]')")
    return None
  for old in pathlib.Path(folder).glob(f"{PREFIX}*"):
    old.unlink(missing_ok=True)
  return EventFile(folder, protos)


# A metrics.jsonl record's keys, as TensorBoard tags: the evaluations apart from training.
def record_scalars(record: dict) -> dict:
  """``{tag: value}`` of one metrics.jsonl record (``step`` and ``epoch`` are not scalars)."""
  scalars = {}
  for key, value in record.items():
    if key in ("step", "epoch"):
      continue
    for split in ("test", "validation"):
      if key.startswith(f"{split}_"):
        scalars[f"{split}/{key[len(split) + 1:]}"] = value
        break
    else:
      scalars[f"train/{key}"] = value
  return scalars


def write_records(events: Optional[EventFile], records: list[dict]) -> None:
  """metrics.jsonl records as events at their steps (nothing when ``events`` is None)."""
  if events is not None and records:
    events.write((r["step"], record_scalars(r)) for r in records)


def metrics_sink(folder) -> Optional[Callable[[list], None]]:
  """A fresh event file in ``folder`` as an ``outputs.MetricsLog`` sink: every record the
  log holds becomes an event at its step. None where no event file is written."""
  events = open_fresh(folder)
  if events is None:
    return None
  return lambda records: write_records(events, records)


# What a finished unit of a multi-run command shows: its kind's function gives
# (step, scalars) points from (the store's name for it, its result, units seen so far).
def _compare_points(name, result, count, groups):
  group = name.rsplit("/", 1)[0]
  groups[group] = groups.get(group, 0) + 1
  return [(groups[group], {f"test_accuracy/{group}": result.get("test_accuracy"),
                           f"validation_accuracy/{group}": result.get("validation_accuracy"),
                           f"wall_time_s/{group}": result.get("wall_time_s")}),
          (count, {"finished/runs": count})]


def _sweep_points(name, chunk, count, groups):
  del count, groups
  start = int(name.rsplit("-", 1)[1])
  points = [(start + k + 1, {"cells/test_accuracy": r.get("test_accuracy"),
                             "cells/validation_accuracy": r.get("validation_accuracy"),
                             "cells/final_loss": r.get("final_loss")})
            for k, r in enumerate(chunk)]
  return points + [(start + len(chunk), {"finished/cells": start + len(chunk)})]


def _mean(values) -> Optional[float]:
  values = [v for v in values if _finite(v)]
  return statistics.fmean(values) if values else None


def _suite_points(name, result, count, groups):
  del groups
  if "trials" in result:  # a baseline's search: its best trial on validation
    best = max((t.get("validation_accuracy") for t in result["trials"]
                if _finite(t.get("validation_accuracy"))), default=None)
    scalars = {f"search_best_validation_accuracy/{name}": best}
  else:  # an optimizer's group of seeds: their mean final accuracies
    runs = result.get("runs", [])
    scalars = {f"mean_test_accuracy/{name}": _mean(r.get("test_accuracy") for r in runs),
               f"mean_validation_accuracy/{name}": _mean(r.get("validation_accuracy")
                                                         for r in runs)}
  return [(count, {**scalars, "finished/units": count})]


POINTS = {"compare": _compare_points, "sweep": _sweep_points, "suite": _suite_points,
          "transfer": _suite_points}  # a study keeps searches and groups as a suite does


class WatchedStore(outputs.ResultStore):
  """A ResultStore whose finished units, kept from before (``get``) or just finished
  (``put``), also become TensorBoard points, each unit once."""

  def __init__(self, folder, events: EventFile, kind: str):
    super().__init__(folder)
    self.events, self._points = events, POINTS[kind]
    self._seen, self._groups = set(), {}

  def _show(self, name: str, value) -> None:
    if name in self._seen:
      return
    self._seen.add(name)
    self.events.write(self._points(name, value, len(self._seen), self._groups))

  def get(self, name: str):
    value = super().get(name)
    if value is not None:
      self._show(name, value)
    return value

  def put(self, name: str, value):
    value = super().put(name, value)
    self._show(name, value)
    return value


def store(folder, out, kind: str) -> outputs.ResultStore:
  """The ResultStore of a multi-run command (``kind``: compare, sweep, suite or transfer) in
  ``folder``, writing its finished units into an event file in ``out`` when it can."""
  events = open_fresh(out)
  if events is None:
    return outputs.ResultStore(folder)
  return WatchedStore(folder, events, kind)
