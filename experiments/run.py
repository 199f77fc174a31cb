"""Train one model from a config: ``python -m experiments.run [CONFIG] [--set K=V] [--out DIR]``.

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
from typing import TYPE_CHECKING, Optional

import numpy as np

from . import cli, data, outputs
from .config import ConfigError, ExperimentConfig
from .data import splits
from .training import segments, stopping

# JAX, Optax, Flax (models, training), Orbax (checkpoints) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.
if TYPE_CHECKING:
  import optax

# Large enough never to let a non-finite update through in a real run.
_MAX_SKIPPED_IN_A_ROW = 2**31 - 1


def build_optimizer(config: ExperimentConfig, total_steps: int) -> optax.GradientTransformation:
  import optax

  from .training import optimizers
  tx = optimizers.create(config.optimizer, total_steps)
  if config.train.skip_nonfinite:
    tx = optax.apply_if_finite(tx, max_consecutive_errors=_MAX_SKIPPED_IN_A_ROW)
  return tx


def inner_opt_state(config: ExperimentConfig, opt_state):
  return opt_state.inner_state if config.train.skip_nonfinite else opt_state


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


def train_and_evaluate(config: ExperimentConfig, dataset: data.Dataset,
                       out: Optional[pathlib.Path] = None, progress: bool = True,
                       stop=stopping.NEVER) -> dict:
  """Trains per ``config``; with ``out``, writes every output and resumes from it.

  ``stop`` (a :class:`stopping.GracefulStop`) is asked after every segment;
  when a signal came, the state is checkpointed at that step, ``summary.json``
  says ``interrupted``, and :class:`stopping.StopRequested` is raised.
  """
  import jax

  from . import models, plots
  from .training import checkpoint, optimizers
  from .training import train as train_lib
  from .training.devices import agree, place, select_devices, to_host
  start_time = time.perf_counter()  # after the imports, as when they were at the top
  devices = select_devices(config)
  mesh = train_lib.data_mesh(np.array(devices))
  replicated = train_lib.replicated(mesh)
  split = splits.for_run(dataset.train_y, config.dataset)
  num_train = len(split.train)
  steps_per_epoch = train_lib.steps_per_epoch(num_train, config.train.batch_size)
  if steps_per_epoch == 0:
    raise ConfigError(f"config key 'train.batch_size': {config.train.batch_size} is larger "
                      f"than the {num_train} training examples")
  total_steps = config.train.epochs * steps_per_epoch
  tx = build_optimizer(config, total_steps)
  tic = time.perf_counter()  # one compiled initialization: counted as compile time
  model = models.create(config.model, dataset.input_shape, dataset.num_classes,
                        config.train.seed, config.train.compute_dtype)
  init_time = time.perf_counter() - tic
  graph, state = train_lib.init_state(model, tx)
  train_step = train_lib.make_train_step(
      graph, tx, config.loss.name,
      train_lib.batch_sharded(mesh) if len(devices) > 1 else None)
  plan = segments.SegmentPlan(steps_per_epoch, total_steps, config.train.checkpoint_every,
                              config.train.segment_seconds, config.train.max_segment_steps)
  evaluate = train_lib.make_evaluate(graph, config.loss.name)

  @jax.jit
  def test_metrics(state, train_x, train_y, test_x, test_y, validation):
    eval_params = optimizers.evaluation_params(
        config.optimizer, inner_opt_state(config, state.opt_state), state.params)
    metrics = evaluate(eval_params, test_x, test_y, model_state=state.model_state)
    if validation is not None:
      metrics.update({k.replace("test", "validation"): v for k, v in
                      evaluate(eval_params, train_x, train_y, validation,
                               state.model_state).items()})
    return metrics

  train_x, train_y, test_x, test_y, train_indices = place(
      (dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y, split.train),
      replicated)
  validation = None if split.validation is None else place(split.validation, replicated)
  resolved = optimizers.resolve(config.optimizer)
  dropout_key = train_lib.dropout_key(config.train.seed, split.fold, resolved.learning_rate,
                                      resolved.momentum)

  def evaluate_now(state) -> dict:
    return {k: float(v) for k, v in to_host(evaluation(
        state, train_x, train_y, test_x, test_y, validation)).items()}

  start_step, checkpointer, log = 0, None, None
  if out is not None:
    checkpointer = checkpoint.Checkpointer(out / "checkpoints", config.train.keep_checkpoints)
    state, restored = checkpointer.restore_newest(
        state, say=lambda line: print(line, file=sys.stderr, flush=True))
    start_step = restored or 0
    log = outputs.MetricsLog(out / "metrics.jsonl", resume_step=start_step, tensorboard=True)
  state = place(state, replicated)

  compiled, compile_time = {}, init_time

  def segment_of(length: int):
    """The segment of ``length`` steps, compiled once (its time counts as compile time)."""
    nonlocal compile_time
    if length not in compiled:
      tic = time.perf_counter()
      jitted = jax.jit(train_lib.make_segment(train_step, num_train, config.train.batch_size,
                                              length), donate_argnums=0)
      compiled[length] = jitted.lower(state, train_x, train_y, train_lib.epoch_key(
          config.train.seed, 0), 0, train_indices, dropout_key).compile()
      compile_time += time.perf_counter() - tic
    return compiled[length]

  segment_of(plan.next_length(start_step))  # compiled before the clock of the first step
  tic = time.perf_counter()
  evaluation = test_metrics.lower(state, train_x, train_y, test_x, test_y, validation).compile()
  compile_time += time.perf_counter() - tic

  summary = {
      "status": "running", "optimizer": config.optimizer.name, "label": resolved.label,
      "learning_rate": resolved.learning_rate, "momentum": resolved.momentum,
      "pipeline": optimizers.describe(config.optimizer), "loss": config.loss.name,
      "dataset": dataset.name, "model": config.model.name,
      "compute_dtype": config.train.compute_dtype,
      "seed": config.train.seed, "fold": split.fold if split.validation is not None else None,
      "num_train": num_train, "num_devices": len(devices), "batch_size":
      config.train.batch_size, "steps_per_epoch": steps_per_epoch,
      "resumed_from_step": start_step or None, "versions": outputs.versions(),
  }
  bar = _progress_bar(config, start_step // steps_per_epoch, progress)
  train_seconds, trained_steps, last_test, last_train = 0.0, 0, {}, {}

  def interrupted(step: int, saved: bool) -> stopping.StopRequested:
    """Checkpoint (unless just saved) and summary at ``step``; the exception to raise."""
    summary.update(status="interrupted", step=step, signal=signal.Signals(stop.signum).name,
                   wall_time_s=time.perf_counter() - start_time)
    if bar is not None:
      bar.close()
    if out is None:
      return stop.stop(f"at step {step}")
    if not saved and step > start_step:
      checkpointer.save(step, state)
    checkpointer.close()
    outputs.write_json(out / "summary.json", summary)
    return stop.stop(f"at step {step}: checkpoint saved in {out / 'checkpoints'}; run the "
                     "same command again to resume")

  if stop.requested():  # signalled during start-up: nothing new to save
    raise interrupted(start_step, saved=True)
  first_step, last_saved = start_step, time.perf_counter()
  while first_step < total_steps:
    segment_steps = plan.next_length(first_step)
    segment_fn = segment_of(segment_steps)
    epoch, offset = divmod(first_step, steps_per_epoch)
    tic = time.perf_counter()
    state, metrics = segment_fn(state, train_x, train_y,
                                train_lib.epoch_key(config.train.seed, epoch), offset,
                                train_indices, dropout_key)
    metrics = to_host(metrics)
    seconds = time.perf_counter() - tic
    train_seconds += seconds
    trained_steps += segment_steps
    if not plan.fixed:  # the first segment's pace sets the rest (the same on every host)
      plan.fix(agree(plan.proposal(segment_steps, seconds)), first_step + segment_steps)
    bad = first_bad_step(metrics, config.train.skip_nonfinite)
    if bad is not None:
      step = first_step + bad + 1
      summary.update(status="diverged", step=step, epoch=epoch + 1,
                     wall_time_s=time.perf_counter() - start_time)
      if out is not None:
        log.append(step_records(metrics, first_step, config.train.log_every,
                                steps_per_epoch, until=bad))
        outputs.write_json(out / "summary.json", summary)
        checkpointer.close()
      raise cli.Diverged(f"non-finite loss or update at step {step} (epoch {epoch + 1}); "
                         "the last good checkpoint is kept" + (f" in {out / 'checkpoints'}"
                                                              if out is not None else ""))
    records = step_records(metrics, first_step, config.train.log_every, steps_per_epoch)
    last_train = records[-1] if records else last_train
    done = first_step + segment_steps
    epoch_end = done % steps_per_epoch == 0
    if epoch_end and (done // steps_per_epoch % config.train.eval_every == 0
                      or done == total_steps):
      last_test = evaluate_now(state)
      records[-1].update(last_test, epoch=done // steps_per_epoch)
    saved = False
    if out is not None:
      log.append(records)
      every = config.train.checkpoint_every
      due = agree(config.train.checkpoint_every_s is not None and
                  time.perf_counter() - last_saved >= config.train.checkpoint_every_s)
      if (every and done % every == 0) or due or done == total_steps:
        checkpointer.save(done, state)
        saved, last_saved = True, time.perf_counter()
    first_step = done
    if done < total_steps and stop.requested():
      raise interrupted(done, saved)
    if bar is not None and epoch_end:
      bar.update(1)
      bar.set_postfix(loss=f"{last_train['loss']:.4f}", acc=f"{last_train['accuracy']:.3f}",
                      test_acc=f"{last_test.get('test_accuracy', float('nan')):.3f}")
  if bar is not None:
    bar.close()
  if not last_test:  # resumed a finished run: evaluate the restored state
    last_test = evaluate_now(state)

  skipped = (int(to_host(state.opt_state.total_notfinite))
             if config.train.skip_nonfinite else 0)
  summary.update(
      status="ok", **last_test, steps=int(to_host(state.step)), epochs=config.train.epochs,
      train_loss=last_train.get("loss"), skipped_steps=skipped,
      compile_time_s=compile_time, train_time_s=train_seconds,
      wall_time_s=time.perf_counter() - start_time,
      examples_per_s=(trained_steps * config.train.batch_size / train_seconds
                      if train_seconds else None),
      label_noise=config.dataset.label_noise, peak_rss_mib=outputs.peak_rss_mib())
  if out is not None:
    checkpointer.close()
    outputs.write_json(out / "summary.json", summary)
    plots.curves(log.records, out / "curves.png", config.loss.name, dataset.num_classes,
                 title=f"{dataset.name} {config.model.name}, {resolved.label}")
  return summary


def _progress_bar(config, start_epoch, progress):
  if not (progress and config.train.progress):
    return None
  from tqdm.auto import tqdm
  return tqdm(total=config.train.epochs, initial=start_epoch, unit="epoch", leave=False)


def main(argv=None) -> int:
  args = cli.parser_for("python -m experiments.run", __doc__).parse_args(argv)
  with cli.exit_codes(), stopping.GracefulStop() as stop:
    from . import api

    out = cli.out_folder(args, "run")
    summary = api.run(args.config, args.overrides, out, force=args.force, stop=stop)
    print(f"{out}: test_accuracy={summary['test_accuracy']:.4f} "
          f"test_loss={summary['test_loss']:.4f} steps={summary['steps']} "
          f"wall_time_s={summary['wall_time_s']:.1f}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
