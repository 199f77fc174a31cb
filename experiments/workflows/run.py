"""One training run from a config: what ``dualprocess-run`` and ``api.run`` do.

Config in, metrics out: ``config.yaml``, ``metrics.jsonl``, ``summary.json``,
``curves.png`` and ``checkpoints/`` in the output folder. Running again with
the same ``--out`` resumes from the newest complete checkpoint.
"""

from __future__ import annotations

import math
import pathlib
import signal
import sys
import time
from typing import Optional

import numpy as np

from .. import data, outputs
from ..config import ExperimentConfig
from ..console import end_progress_bars
from ..errors import Diverged
from ..hosts import agree
from ..training import stopping

# JAX, Optax, Flax (models, training), Orbax (checkpoints) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.


def train_and_evaluate(config: ExperimentConfig, dataset: data.Dataset,
                       out: Optional[pathlib.Path] = None, progress: bool = True,
                       stop=stopping.NEVER, *, checkpoints: bool = True) -> dict:
  """Trains per ``config``; with ``out``, writes every output and resumes from it.

  ``checkpoints=False`` (a comparison's run, which is rerun whole if it is cut short and
  whose summary the comparison keeps): ``out`` gets ``metrics.jsonl`` and its TensorBoard
  events only. The files written change no number of the run.

  The run goes segment by segment (``training/runner.py``): after each it logs,
  evaluates at the epochs ``train.eval_every`` names, checkpoints when due and asks
  ``stop`` (a :class:`stopping.GracefulStop`). After a signal the state is checkpointed
  at that step, ``summary.json`` says ``interrupted`` and :class:`stopping.StopRequested`
  is raised; a non-finite loss or update raises :class:`errors.Diverged`, the last good
  checkpoint kept.

  Returns:
    The summary (``summary.json``): test metrics, steps, timings and the run's setup.
  """
  from ..training import runner
  start_time = time.perf_counter()  # after the imports, as when they were at the top
  # Setup: the data and programs placed, the newest checkpoint restored, compiled.
  trainer = runner.Trainer(config, dataset)
  folder = RunFolder(out, config, checkpoints)
  state, start_step = folder.restore(trainer.initial_state)
  state = trainer.place(state)
  trainer.compile(state, start_step)  # before the clock of the first step
  summary = RunSummary(_setup(config, dataset, trainer, start_step), start_time, folder)
  bar = _progress_bar(config, start_step // trainer.steps_per_epoch, progress)
  step, last_train, last_test = start_step, {}, {}
  if stop.requested():  # signalled during start-up: nothing new to save
    raise summary.interrupted(stop, step, start_step, state, saved=True)
  # The segment loop: train, check, log, evaluate, checkpoint, ask the signal handler.
  while step < trainer.total_steps:
    first_step = step
    state, metrics, length = trainer.train(state, first_step)
    bad = first_bad_step(metrics, config.train.skip_nonfinite)
    if bad is not None:
      raise summary.diverged(metrics, first_step, bad, trainer.steps_per_epoch)
    records = step_records(metrics, first_step, config.train.log_every,
                           trainer.steps_per_epoch)
    last_train = records[-1] if records else last_train
    step = first_step + length
    if trainer.evaluation_due(step):
      last_test = trainer.evaluate(state)
      records[-1].update(last_test, epoch=step // trainer.steps_per_epoch)
    folder.append(records)
    saved = folder.save_if_due(step, state, trainer.total_steps)
    if step < trainer.total_steps and stop.requested():
      raise summary.interrupted(stop, step, start_step, state, saved)
    _advance(bar, step, trainer.steps_per_epoch, last_train, last_test)
  if bar is not None:
    bar.close()
  # Finish: the last evaluation, the summary, the plot.
  last_test = last_test or trainer.evaluate(state)  # a finished run resumed: its last state
  result = summary.finished(config, trainer, state, last_train, last_test)
  folder.plot(config, dataset, trainer.resolved.label)
  return result


class RunSummary:
  """``summary.json`` of one run: ``running`` while it trains, then ``interrupted``,
  ``diverged`` or ``ok``, each written once, when the run ends that way."""

  def __init__(self, setup: dict, start_time: float, folder: "RunFolder"):
    self.data, self.start_time, self.folder = setup, start_time, folder

  def _elapsed(self) -> float:
    return time.perf_counter() - self.start_time

  def interrupted(self, stop, step: int, start_step: int, state,
                  saved: bool) -> stopping.StopRequested:
    """Saves the state at ``step`` (unless just saved) and says how to resume."""
    self.data.update(status="interrupted", step=step, signal=signal.Signals(stop.signum).name,
                     wall_time_s=self._elapsed())
    end_progress_bars()
    out = self.folder.out
    if out is None or self.folder.checkpointer is None:
      self.folder.close(self.data)
      return stop.stop(f"at step {step}")
    if not saved and step > start_step:
      self.folder.save(step, state)
    self.folder.close(self.data)
    return stop.stop(f"at step {step}: checkpoint saved in {out / 'checkpoints'}; run the "
                     "same command again to resume")

  def diverged(self, metrics: dict, first_step: int, bad: int,
               steps_per_epoch: int) -> Diverged:
    """Logs the segment up to its bad step and names the checkpoint kept, if there is one."""
    step, epoch = first_step + bad + 1, first_step // steps_per_epoch + 1
    self.data.update(status="diverged", step=step, epoch=epoch, wall_time_s=self._elapsed())
    self.folder.append(step_records(metrics, first_step, self.folder.train.log_every,
                                    steps_per_epoch, until=bad))
    self.folder.close(self.data)
    return Diverged(f"non-finite loss or update at step {step} (epoch {epoch}); "
                    + self.folder.kept_checkpoint())

  def finished(self, config: ExperimentConfig, trainer, state, last_train: dict,
               last_test: dict) -> dict:
    """The ``ok`` summary: test metrics, steps, timings, speed and memory."""
    self.data.update(
        status="ok", **last_test, steps=trainer.steps_taken(state), epochs=config.train.epochs,
        train_loss=last_train.get("loss"), skipped_steps=trainer.skipped_steps(state),
        compile_time_s=trainer.compile_time, train_time_s=trainer.train_time,
        wall_time_s=self._elapsed(),
        examples_per_s=(trainer.trained_steps * config.train.batch_size / trainer.train_time
                        if trainer.train_time else None),
        label_noise=config.dataset.label_noise, peak_rss_mib=outputs.peak_rss_mib())
    self.folder.close(self.data)
    return self.data


def _advance(bar, step: int, steps_per_epoch: int, last_train: dict, last_test: dict) -> None:
  """One epoch more on the progress bar, with the latest loss and accuracies."""
  if bar is not None and step % steps_per_epoch == 0:
    bar.update(1)
    bar.set_postfix(loss=f"{last_train['loss']:.4f}", acc=f"{last_train['accuracy']:.3f}",
                    test_acc=f"{last_test.get('test_accuracy', float('nan')):.3f}")


def first_bad_step(metrics: dict, skip_nonfinite: bool) -> Optional[int]:
  """Index of the first step whose loss or update was not finite, if any."""
  bad = ~metrics["update_finite"]
  if not skip_nonfinite:
    bad = bad | ~np.isfinite(metrics["loss"])
  indices = np.flatnonzero(bad)
  return int(indices[0]) if indices.size else None


def step_records(metrics: dict, first_step: int, log_every: int, steps_per_epoch: int,
                 until=None) -> list[dict]:
  """metrics.jsonl lines for a segment: every ``log_every``-th step and each epoch's
  last (which carries the test metrics); with ``until``, up to that bad step."""
  records = []
  count = len(metrics["loss"]) if until is None else until + 1
  for i in range(count):
    step = first_step + i + 1
    if step % log_every and step % steps_per_epoch and i != until:
      continue
    records.append({"step": step, **{k: _finite_or_none(v[i]) for k, v in metrics.items()
                                     if k != "update_finite"}})
  return records


def _finite_or_none(value):
  value = float(value)
  return value if math.isfinite(value) else None


class RunFolder:
  """A run's files in ``out``: ``checkpoints/``, ``metrics.jsonl`` (and TensorBoard's
  events), ``summary.json`` and ``curves.png``. With ``out`` None every method does
  nothing: the run keeps no file. Without ``checkpoints``: only the metrics (a
  comparison's run)."""

  def __init__(self, out: Optional[pathlib.Path], config: ExperimentConfig,
               checkpoints: bool = True):
    self.out, self.train = out, config.train
    self.checkpointer = self.log = None
    self.last_saved = time.perf_counter()
    if out is not None and checkpoints:
      from ..training import checkpoint
      self.checkpointer = checkpoint.Checkpointer(out / "checkpoints",
                                                  config.train.keep_checkpoints)

  def restore(self, state):
    """``(state, step)``: the newest complete checkpoint's, or ``state`` at step 0."""
    if self.out is None:
      return state, 0
    restored = None
    if self.checkpointer is not None:
      state, restored = self.checkpointer.restore_newest(
          state, say=lambda line: print(line, file=sys.stderr, flush=True))
    from ..training import tensorboard_log
    self.log = outputs.MetricsLog(self.out / "metrics.jsonl", resume_step=restored or 0,
                                  sink=tensorboard_log.metrics_sink(self.out))
    return state, restored or 0

  def append(self, records: list[dict]) -> None:
    if self.log is not None:
      self.log.append(records)

  def save(self, step: int, state) -> None:
    self.checkpointer.save(step, state)
    self.last_saved = time.perf_counter()

  def save_if_due(self, step: int, state, total_steps: int) -> bool:
    """Checkpoints at every ``train.checkpoint_every`` steps, after
    ``train.checkpoint_every_s`` seconds (as process 0's clock says) and at the end."""
    if self.checkpointer is None:
      return False
    every, every_s = self.train.checkpoint_every, self.train.checkpoint_every_s
    late = agree(every_s is not None and time.perf_counter() - self.last_saved >= every_s)
    if (every and step % every == 0) or late or step == total_steps:
      self.save(step, state)
      return True
    return False

  def kept_checkpoint(self) -> str:
    """Where the last good checkpoint is, for a message; that none is, where none is."""
    if self.out is None:
      return "the run keeps no files"
    if self.checkpointer is None:
      return "the run keeps no checkpoints"
    if self.checkpointer.latest_step() is None:
      return f"no checkpoint was saved before it (in {self.out / 'checkpoints'})"
    return f"the last good checkpoint is kept in {self.out / 'checkpoints'}"

  def close(self, summary: dict) -> None:
    """Commits the checkpoints in flight and writes ``summary.json`` (with checkpoints)."""
    if self.checkpointer is not None:
      self.checkpointer.close()
      outputs.write_json(self.out / "summary.json", summary)

  def plot(self, config: ExperimentConfig, dataset: data.Dataset, label: str) -> None:
    if self.checkpointer is not None:
      from .. import plots
      plots.curves(self.log.records, self.out / "curves.png", config.loss.name,
                   dataset.num_classes, title=f"{dataset.name} {config.model.name}, {label}")


def _setup(config: ExperimentConfig, dataset: data.Dataset, trainer, start_step: int) -> dict:
  """The summary's description of the run, before it trains."""
  from ..training import optimizers
  resolved = trainer.resolved
  return {
      "status": "running", "optimizer": config.optimizer.name, "label": resolved.label,
      "learning_rate": resolved.learning_rate, "momentum": resolved.momentum,
      "pipeline": optimizers.describe(config.optimizer), "loss": config.loss.name,
      "dataset": dataset.name, "model": config.model.name,
      "compute_dtype": config.train.compute_dtype, "seed": config.train.seed,
      "fold": trainer.fold, "num_train": trainer.num_train,
      "num_devices": len(trainer.devices), "batch_size": config.train.batch_size,
      "steps_per_epoch": trainer.steps_per_epoch, "resumed_from_step": start_step or None,
      "versions": outputs.versions(),
  }


def _progress_bar(config, start_epoch, progress):
  if not (progress and config.train.progress):
    return None
  from tqdm.auto import tqdm
  return tqdm(total=config.train.epochs, initial=start_epoch, unit="epoch", leave=False)
