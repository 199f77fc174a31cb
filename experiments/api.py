"""The five commands as Python functions, for notebooks and scripts.

Each function takes a config, overrides and an optional output folder, does what its
command does (each command's ``main`` parses its command line and calls one of these),
and returns the summary the command writes:

- :func:`run`: one training run; the run's summary (``summary.json``);
- :func:`compare`: optimizers on the same data, budget and seeds (``comparison.json``);
- :func:`sweep`: a learning-rate x momentum landscape (``sweep.json``);
- :func:`suite`: the workload suite (``suite.json``);
- :func:`transfer`: a transfer study over batch or data sizes (``transfer.json``).

A config is a path to a YAML file (``None``: the default config), a ``dict`` of its
sections, or the dataclass itself (:class:`experiments.config.ExperimentConfig`; for
:func:`suite`, :class:`experiments.config.SuiteConfig`). Overrides are ``--set``-style
strings (``["train.epochs=5"]``) or a dict of dotted keys (``{"train.epochs": 5}``),
applied in order.

``out``: the output folder, as ``--out`` (written, locked while the call runs, and
resumed by the next call with the same folder and config). ``None`` keeps nothing:
:func:`run` writes no file at all, the others work in a temporary folder removed
before they return. (The commands' default, a new folder under ``runs/``, is
``outputs.new_run_dir(prefix)``.)

As the commands do, the functions turn on JAX's persistent compilation cache
(``experiments/training/compilation_cache.py``; ``DUALPROCESS_COMPILATION_CACHE=0``
leaves it off). Every mistake in the config or the data raises :class:`ConfigError`
(a ``ValueError``) with the one line the command would print before exiting with code 2;
a training run whose loss turns non-finite raises :class:`Diverged` (a
``RuntimeError``; the command's exit code 3), with ``summary.json`` written where
``out`` is given.
A config that names a module (``model.name``, ``optimizer.name`` or ``dataset.name``
of the form ``package.module:function``) imports it, which runs its code, as Hydra's
``_target_`` does. The module is looked for in the config file's folder, then the working
directory, then on ``sys.path``, at load time and while the call runs
(``experiments/imports.py``).

Example::

  from dualprocess_experiments import api  # in a checkout: from experiments import api

  summary = api.run("configs/default.yaml", {"train.epochs": 5})
  print(summary["test_accuracy"], summary["steps"])

  config = {"dataset": {"name": "digits"}, "model": {"name": "mlp"},
            "loss": {"name": "cross_entropy"}, "train": {"epochs": 3},
            "compare": {"seeds": [0, 1], "optimizers": [
                {"name": "dual_process"},
                {"name": "optax.adamw", "learning_rate": 1e-3}]}}
  rows = api.compare(config, out="runs/my_compare")["rows"]
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import Optional

from . import imports
from .errors import ConfigError, Diverged
from .loading import Config, Overrides, load_config, load_suite, load_transfer

__all__ = ["ConfigError", "Diverged", "compare", "load_config", "load_suite", "load_transfer",
           "plan_suite", "plan_transfer", "run", "suite", "sweep", "transfer"]

Say = Optional[Callable[[str], None]]


def run(config: Config = None, overrides: Overrides = (), out=None, *, force: bool = False,
        progress: bool = True, stop=None) -> dict:
  """Trains one model, as ``dualprocess-run`` does.

  Args:
    config: a path, a dict or an ``ExperimentConfig`` (see :func:`load_config`).
    overrides: ``"KEY=VALUE"`` strings or a dict of dotted keys.
    out: the output folder (``config.yaml``, ``metrics.jsonl``, ``summary.json``,
      ``curves.png``, ``checkpoints/``); a second call with the same folder resumes
      from its newest checkpoint. ``None``: nothing is written.
    force: start over in an ``out`` that holds a different config (``--force``).
    progress: draw the progress bar (also off with ``train.progress: false``).
    stop: an ``experiments.training.stopping.GracefulStop`` to ask after every segment
      (the commands' signal handling); ``None``: never stop early.

  Returns:
    The run's summary, as ``summary.json`` has it: ``status``, ``test_accuracy``,
    ``test_loss``, ``steps``, ``train_loss``, the optimizer's ``label``,
    ``learning_rate`` and ``momentum``, timings and ``versions``, among others.

  Raises:
    ConfigError: a mistake in the config, the data or ``out``.
    Diverged: the loss or an update turned non-finite.

  Example::

    summary = api.run("configs/default.yaml", ["train.epochs=5"], out="runs/five")
    summary["test_accuracy"]
  """
  from .workflows import run as run_lib

  with imports.user_code():
    experiment = load_config(config, overrides)
    dataset = _start(experiment, stop)
    kwargs = {"progress": progress} | _stop_kwargs(stop)
    if out is None:
      return run_lib.train_and_evaluate(experiment, dataset, None, **kwargs)
    with _prepared(out, experiment, "run", force, ("checkpoints", "damaged_checkpoints"),
                   temporary=False) as folder:
      return run_lib.train_and_evaluate(experiment, dataset, folder, **kwargs)


def compare(config: Config = None, overrides: Overrides = (), out=None, *,
            force: bool = False, say: Say = print, stop=None) -> dict:
  """Trains every optimizer of ``compare.optimizers`` on every seed, as
  ``dualprocess-compare`` does.

  Args:
    config: a path, a dict or an ``ExperimentConfig`` with a ``compare`` section.
    overrides: ``"KEY=VALUE"`` strings or a dict of dotted keys.
    out: the output folder (``comparison.json``, ``.md``, ``.png``, ``runs/``; a second
      call skips the finished runs). ``None``: a temporary folder, removed.
    force: start over in an ``out`` that holds a different config.
    say: called with a line as each optimizer's runs end (``None``: silent).
    stop: as for :func:`run`, asked after every run.

  Returns:
    ``comparison.json``: ``title``, ``rows`` (one per optimizer, the first the
    reference: ``optimizer``, ``test_accuracy`` (the mean), ``test_accuracy_std``,
    ``per_seed_test_accuracy``, and for every other row ``vs_first``, with the paired
    difference and the equivalence verdict) and ``versions``.

  Raises:
    ConfigError: a mistake in the config (a missing ``compare`` section included), the
      data or ``out``.

  Example::

    result = api.compare("configs/compare_digits.yaml",
                         {"compare.seeds": [0], "train.epochs": 2})
    [(row["optimizer"], row["test_accuracy"]) for row in result["rows"]]
  """
  from . import outputs
  from .workflows import compare as compare_lib

  with imports.user_code():
    experiment = load_config(config, overrides, section="compare")
    dataset = _start(experiment, stop)
    with _prepared(out, experiment, "compare", force, ("runs",)) as folder:
      rows = compare_lib.compare(experiment, dataset, folder, say=say,
                                 **_stop_kwargs(stop))
      written = folder / "comparison.json"
      return outputs.read_json(written) if written.is_file() else {"rows": rows}


def sweep(config: Config = None, overrides: Overrides = (), out=None, *, force: bool = False,
          say: Say = print, stop=None) -> dict:
  """Trains every (learning rate, momentum, seed, fold) cell, as
  ``dualprocess-sweep`` does.

  Args:
    config: a path, a dict or an ``ExperimentConfig`` with a ``sweep`` section.
    overrides: ``"KEY=VALUE"`` strings or a dict of dotted keys.
    out: the output folder (``sweep.json``, ``landscape.png``, with ``sweep.reference``
      ``grid.md`` and ``grid.png``, ``chunks/``; a second call skips the finished
      chunks). ``None``: a temporary folder, removed.
    force: start over in an ``out`` that holds a different config.
    say: called with a progress line after every chunk (``None``: silent).
    stop: as for :func:`run`, asked after every chunk.

  Returns:
    ``sweep.json``: ``cells`` (one per grid point: ``learning_rate``, ``momentum``,
    ``mean_test_accuracy``, ``mean_validation_accuracy``, ``diverged``, ...),
    ``references`` (the named constant sets), ``best_grid_cell``, with
    ``sweep.reference`` the ``claim``, and timings.

  Raises:
    ConfigError: a mistake in the config (a missing ``sweep`` section included), the
      data or ``out``.

  Example::

    result = api.sweep("configs/sweep_digits.yaml", {"sweep.seeds": [0]})
    result["best_grid_cell"]["learning_rate"]
  """
  from .workflows import sweep as sweep_lib

  with imports.user_code():
    experiment = load_config(config, overrides, section="sweep")
    dataset = _start(experiment, stop)
    with _prepared(out, experiment, "sweep", force, ("chunks",)) as folder:
      return sweep_lib.sweep(experiment, dataset, folder, say=say, **_stop_kwargs(stop))


def suite(config, overrides: Overrides = (), out=None, *, base=None, force: bool = False,
          say: Say = print, stop=None) -> dict:
  """Runs the workload suite, as ``dualprocess-suite`` does.

  Args:
    config: a suite YAML file's path, a dict of its keys, or a ``SuiteConfig`` (see
      :func:`load_suite`).
    overrides: ``"KEY=VALUE"`` strings or a dict of dotted keys, on the suite's keys.
    out: the output folder (``suite.json``, ``suite.md``, the plots, ``cells/``; a
      second call skips the finished searches and groups). ``None``: a temporary
      folder, removed.
    base: for a dict or a ``SuiteConfig``: the folder its workloads' ``config`` paths
      are relative to (default: the current working directory).
    force: start over in an ``out`` that holds a different config.
    say: called with a line as each search and group ends (``None``: silent).
    stop: as for :func:`run`, asked after every search and group.

  Returns:
    ``suite.json``: per workload (``workloads``) the searches, every optimizer's runs,
    the tuning curves with ``break_even_trials`` against the reference, and the
    equivalence verdicts; the performance ``profiles``; the resolved ``config``.

  Raises:
    ConfigError: a mistake in the suite, a workload's config, the data or ``out``.

  Example::

    document = api.suite("configs/suite_quick.yaml", {"search.trials": 2})
    [w["name"] for w in document["workloads"]]
  """
  from . import config as config_lib
  from .workflows import groups
  from .workflows import plan as plan_lib
  from .workflows import suite as suite_lib

  with imports.user_code():
    suite_config, workloads = load_suite(config, overrides, base)
    _start(None, stop)
    groups.check_models(suite_config, workloads)
    resolved = {"suite": config_lib.to_dict(suite_config),
                "workloads": {n: config_lib.to_dict(c) for n, c in workloads.items()}}
    with _prepared(out, resolved, "suite", force, ("cells",)) as folder:
      estimate = _kept_plan(folder, lambda: plan_lib.plan(suite_config, workloads,
                                                          say=say or _silent),
                            say or _silent)
      return suite_lib.run_suite(suite_config, workloads, folder, say=say or _silent,
                                 plan=estimate, **_stop_kwargs(stop))


def plan_suite(config, overrides: Overrides = (), *, base=None, say: Say = print) -> dict:
  """What :func:`suite` would cost, estimated before anything trains, as
  ``dualprocess-suite --plan``: per workload run its runs, epochs, examples, compilations
  and seconds (from a short calibration on this machine), and the memory peak.

  Returns:
    ``{"units": [...], "estimated_seconds", "compilations", "runs", "peak_memory_mib"}``.
  """
  from .workflows import plan as plan_lib

  with imports.user_code():
    suite_config, workloads = load_suite(config, overrides, base)
    _start(None)
    return plan_lib.plan(suite_config, workloads, say=say or _silent)


def transfer(config, overrides: Overrides = (), out=None, *, base=None, force: bool = False,
             say: Say = print, stop=None) -> dict:
  """Runs a transfer study, as ``dualprocess-transfer`` does: at every batch size (or
  training-set size) the derived pair, the SGD tuned at the reference value transferred
  unchanged, and the SGD with its learning rate re-tuned there, on the same seeds.

  Args:
    config: a transfer study's YAML file's path, a dict of its keys, or a
      ``TransferConfig`` (see :func:`load_transfer`).
    overrides, out, base, force, say, stop: as for :func:`suite` (``out`` keeps
      ``transfer.json``, ``transfer.md``, ``transfer.png``, ``cells/``).

  Returns:
    ``transfer.json``: per workload and value each row's per-seed test accuracies, the
    mean with its 95 % interval, and the equivalence verdicts against the re-tuned SGD;
    the values under ``batch_sizes`` or ``train_sizes``.

  Raises:
    ConfigError: a mistake in the study, a workload's config, the data or ``out``.
  """
  from . import config as config_lib
  from .workflows import groups, plan
  from .workflows import transfer as transfer_lib

  with imports.user_code():
    study, workloads = load_transfer(config, overrides, base)
    _start(None, stop)
    groups.check_models(study, workloads)
    resolved = {"transfer": config_lib.to_dict(study),
                "workloads": {n: config_lib.to_dict(c) for n, c in workloads.items()}}
    with _prepared(out, resolved, "transfer", force, ("cells",)) as folder:
      estimate = _kept_plan(folder, lambda: plan.plan_transfer(study, workloads,
                                                               say=say or _silent),
                            say or _silent)
      return transfer_lib.run_study(study, workloads, folder, say=say or _silent,
                                    plan=estimate, **_stop_kwargs(stop))


def plan_transfer(config, overrides: Overrides = (), *, base=None, say: Say = print) -> dict:
  """What :func:`transfer` would cost, estimated before anything trains, as
  ``dualprocess-transfer --plan`` (the same fields as :func:`plan_suite`, one unit per
  workload and value)."""
  from .workflows import plan as plan_lib

  with imports.user_code():
    study, workloads = load_transfer(config, overrides, base)
    _start(None)
    return plan_lib.plan_transfer(study, workloads, say=say or _silent)


def _kept_plan(folder: pathlib.Path, estimate: Callable[[], dict], say) -> dict:
  """The plan of the run in ``folder``: ``estimate()``d once, before the first run trains,
  and kept (``plan.json``), so that a resumed run compares with the first estimate."""
  from . import outputs
  from .workflows import plan as plan_lib

  kept = folder / "plan.json"
  if kept.is_file():
    return outputs.read_json(kept)
  planned = estimate()
  say(plan_lib.table(planned))
  outputs.write_json(kept, planned)
  return planned


def _start(experiment, stop=None):
  """The commands' prologue after the config: JAX's persistent compilation cache on (as
  for the commands; ``DUALPROCESS_COMPILATION_CACHE=0`` leaves it off), a multi-host job
  joined, ``stop``'s signal handlers taken back from it, then the data and the model on
  it (loaded and checked before any output folder is made)."""
  from . import data
  from .training import compilation_cache
  from .training.devices import maybe_initialize_distributed

  compilation_cache.setup()  # before anything compiles
  maybe_initialize_distributed()
  if stop is not None and hasattr(stop, "install"):
    stop.install()  # jax.distributed.initialize sets a SIGTERM handler of its own
  if experiment is None:
    return None
  dataset = data.load(experiment.dataset)
  from . import models

  models.check(experiment.model, dataset.input_shape, dataset.num_classes,
               experiment.train.seed, experiment.train.compute_dtype,
               sequence=dataset.sequence)
  return dataset


@contextlib.contextmanager
def _prepared(out, config, prefix: str, force: bool, kept: tuple,
              temporary: bool = True) -> Iterator[pathlib.Path]:
  """``out`` (or, if None and ``temporary``, a temporary folder) prepared and locked as
  the command prepares its ``--out``; on leaving, checkpoints in flight committed, the
  lock released and a temporary folder removed."""
  from . import outputs

  scratch = None
  if out is None and temporary:
    scratch = out = tempfile.mkdtemp(prefix=f"dualprocess-{prefix}-")
  try:
    yield outputs.prepare(out, config, prefix, force=force, kept=kept)
  finally:
    try:
      outputs.release()
    finally:
      if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


def _stop_kwargs(stop) -> dict:
  return {} if stop is None else {"stop": stop}


def _silent(line: str) -> None:
  del line
