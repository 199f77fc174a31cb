"""No path slower than the fast path: examples per second of every training engine.

Issue 30, item 3. For the author's CNN (``configs/paper_mnist5k_cnn.yaml``, 2 of its 10
epochs), the MNIST MLP (``configs/mnist5k_mlp.yaml``, 20 of its 30 epochs) and the
transformer (``configs/text_transformer.yaml``, its one epoch cut to 640 windows, 20
steps), three paths train the config's model on the same data, each engine called as a
user's job calls it:

- ``run``: a plain run, ``experiments.workflows.run.train_and_evaluate`` (the engine of
  ``dualprocess-run``); its seconds are ``summary.json``'s ``train_time_s``, the
  runner's clock around its compiled segments;
- ``seeds``: a suite's final seeds, ``experiments.training.multiseed.train_seeds``
  (``--lanes`` seeds, evaluated every epoch as the suite does); its seconds are the last
  evaluation's ``train_seconds``, the engine's clock around its compiled epochs;
- ``lanes``: a sweep's or search's cells, ``experiments.training.lanes.train_cells``
  (``--lanes`` cells: the config's learning rate and momentum, one seed each). It keeps
  no clock: its one program (every lane's epochs, then every lane's evaluation) is
  compiled ahead of its call and the call is timed, at 1 and at 1 + k epochs; the
  difference is k epochs of training (evaluation and set-up cancel).

Compilation and evaluation are outside every clock; the test set is cut to 256 examples
(its evaluation is not measured) and JAX's persistent cache is on in a temporary folder,
so that a repeat reads its programs instead of compiling them (the same executables).
The paths run in rotating order, ``--repeats`` times (default 4; ``--quick`` 2, smaller;
``--smoke`` 1, a tiny MLP only); ``examples_per_second`` is a path's median over the
repeats, ``fraction_of_fast_path`` the median over the repeats of its rate over the
rate, in the same repeat, of the path with the highest median (the model's
``fast_path``). Target: every fraction >= 0.9.

``compilation``: a suite group's program (``train_seeds`` as the suite calls it, on its
training part with the validation split, two seeds, one epoch of the author's CNN) and a
search's (``train_cells`` on the same, two trials of two seeds), in a fresh process with
JAX's persistent compilation cache on as the commands set it
(``experiments/training/compilation_cache.py``, in a temporary folder): the seconds
spent compiling (tracing, lowering and XLA, from ``jax.monitoring``) and the programs
compiled or read from the cache; then a second group of the same shapes with another
learning rate and momentum, and a search with other trials: is the program compiled
again? Then a second process, the run resumed, runs the first group and search again:
``xla_compilations`` counts what it compiled anew.

Run: python -m benchmarks.paths --json   (about 8 minutes on a busy 2-core CPU)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from unittest import mock

import jax

from benchmarks import timing
from experiments import config as config_lib
from experiments import data
from experiments.training import lanes, multiseed, optimizers
from experiments.workflows import run as run_engine
from experiments.workflows import suite as suite_lib

TARGET = 0.9
TEST_EXAMPLES = 256
MODELS = {"paper_cnn": "configs/paper_mnist5k_cnn.yaml", "mnist_mlp": "configs/mnist5k_mlp.yaml",
          "transformer": "configs/text_transformer.yaml"}
OVERRIDES = {  # (default, --quick): the transformer's windows cut, 20 and 10 steps an epoch
    "paper_cnn": ([], []), "mnist_mlp": ([], []),
    "transformer": (["dataset.limit_train=640"], ["dataset.limit_train=320"])}
EPOCHS = {"paper_cnn": (2, 1), "mnist_mlp": (20, 10), "transformer": (1, 1)}  # configs: 10, 30, 1
SMOKE = ("mnist_mlp", ["model.hidden_sizes=[32]", "dataset.limit_train=512"], 16)  # --smoke
COMPILE_MODEL = "paper_cnn"  # the suite's own workload; --smoke: the tiny MLP
SECOND_HYPERPARAMETERS = {"learning_rate": 0.05, "momentum": 0.9}

_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_XLA = "/jax/core/compile/backend_compile_duration"
_HIT, _MISS = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"


class CompileLog:
  """JAX's compile events while open (``jax.monitoring``): the seconds spent tracing,
  lowering and compiling (the union of their spans: nested traces count once) and
  every XLA compilation by program, compiled or read from the persistent cache."""

  def __init__(self):
    self.spans, self.programs, self._source = [], [], "compiled (no cache)"

  def __enter__(self):
    jax.monitoring.register_event_time_span_listener(self._span)
    jax.monitoring.register_event_listener(self._event)
    return self

  def __exit__(self, *exc):
    jax.monitoring.unregister_event_time_span_listener(self._span)
    jax.monitoring.unregister_event_listener(self._event)

  def _event(self, event, **kwargs):
    if event in (_HIT, _MISS):  # precedes the compilation's own duration event
      self._source = "cache" if event == _HIT else "compiled"

  def _span(self, event, start, end, **kwargs):
    if event in (_TRACE, _LOWER, _XLA):
      self.spans.append((start, end))
    if event == _XLA:
      self.programs.append({"name": kwargs.get("fun_name", "?"), "seconds": end - start,
                            "source": self._source})
      self._source = "compiled (no cache)"

  def summary(self, main: str) -> dict:
    """The seconds, counts and ``main``'s own entries (its XLA seconds and source)."""
    union, reach = 0.0, float("-inf")
    for start, end in sorted(self.spans):
      union += max(0.0, end - max(start, reach))
      reach = max(reach, end)
    count = lambda source: sum(p["source"] == source for p in self.programs)
    return {"compile_seconds": union,
            "xla_seconds": sum(p["seconds"] for p in self.programs),
            "xla_compilations": count("compiled") + count("compiled (no cache)"),
            "cache_misses": count("compiled"), "cache_hits": count("cache"),
            "program": main, "program_runs": [p for p in self.programs if p["name"] == main]}


def sizes(name: str, mode: str) -> tuple[list, int]:
  """(overrides, epochs) of ``name`` in ``mode`` (default, quick or smoke)."""
  if mode == "smoke":
    return SMOKE[1], SMOKE[2]
  index = int(mode == "quick")
  return OVERRIDES[name][index], EPOCHS[name][index]


def load(name: str, mode: str, epochs=None):
  """The model's config (at ``epochs``, default its size's) and its dataset, the test set
  cut to TEST_EXAMPLES."""
  overrides, size = sizes(name, mode)
  epochs = size if epochs is None else epochs
  config = config_lib.load(MODELS[name], [*overrides, f"train.epochs={epochs}",
                                          "train.progress=false"])
  dataset = data.load(config.dataset)
  dataset = dataset._replace(test_x=dataset.test_x[:TEST_EXAMPLES],
                             test_y=dataset.test_y[:TEST_EXAMPLES])
  return config, dataset, overrides


def with_epochs(config, epochs: int):
  return dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=epochs))


def run_path(config, dataset, lanes_count: int) -> tuple[int, float]:
  """(examples, seconds) of a plain run: the runner's own clock."""
  del lanes_count
  summary = run_engine.train_and_evaluate(config, dataset, progress=False)
  return summary["steps"] * config.train.batch_size, summary["train_time_s"]


def seeds_path(config, dataset, lanes_count: int) -> tuple[int, float]:
  """(examples, seconds) of a suite group's seeds: ``train_seeds``'s own clock."""
  runs = multiseed.train_seeds(config, dataset, list(range(lanes_count)), eval_every=1)
  last = runs[0]["evaluations"][-1]
  return lanes_count * last["step"] * config.train.batch_size, last["train_seconds"]


def timed_chunks(clock: list):
  """``lanes._chunk_program`` whose program is compiled before its call and the call timed
  (to ``clock``): the same program, its compilation outside the clock."""
  original = lanes._chunk_program

  def build(*args, **kwargs):
    program = original(*args, **kwargs)

    def run(*call_args):
      compiled = program.lower(*call_args).compile()
      tic = time.perf_counter()
      out = jax.block_until_ready(compiled(*call_args))
      clock.append(time.perf_counter() - tic)
      return out

    return run

  return mock.patch.object(lanes, "_chunk_program", build)


def lanes_path(config, dataset, lanes_count: int) -> tuple[int, float]:
  """(examples, seconds) of k = ``config.train.epochs`` epochs of ``train_cells``'s lanes:
  its program at 1 + k epochs less the same at 1 epoch."""
  resolved = optimizers.resolve(config.optimizer)
  cells = [lanes.Cell(resolved.learning_rate, resolved.momentum, seed)
           for seed in range(lanes_count)]
  epochs, seconds = config.train.epochs, []
  with timed_chunks(seconds):
    for total in (1, 1 + epochs):
      lanes.train_cells(with_epochs(config, total), dataset, cells)
  steps = len(dataset.train_y) // config.train.batch_size
  return lanes_count * epochs * steps * config.train.batch_size, seconds[1] - seconds[0]


PATHS = {"run": run_path, "seeds": seeds_path, "lanes": lanes_path}


@contextlib.contextmanager
def warm_cache():
  """JAX's persistent compilation cache on, in a temporary folder, every program kept (as
  the commands keep theirs), restored as it was on leaving: a repeat's engines read their
  programs (the same executables) instead of compiling them again. Only the benchmark's
  time changes: no clock counts compilation."""
  from jax.experimental.compilation_cache import compilation_cache
  options = {"jax_enable_compilation_cache": True, "jax_persistent_cache_min_compile_time_secs": 0,
             "jax_persistent_cache_min_entry_size_bytes": 0}
  saved = {name: getattr(jax.config, name) for name in [*options, "jax_compilation_cache_dir"]}
  with tempfile.TemporaryDirectory() as folder:
    try:
      for name, value in {**options, "jax_compilation_cache_dir": folder}.items():
        jax.config.update(name, value)
      compilation_cache.reset_cache()  # JAX decides at its first compilation otherwise
      yield folder
    finally:
      for name, value in saved.items():
        jax.config.update(name, value)
      compilation_cache.reset_cache()


def measure_model(name: str, mode: str, lanes_count: int, repeats: int) -> dict:
  """Every path of one model, ``repeats`` times in rotating order; medians and fractions."""
  config, dataset, overrides = load(name, mode)
  names, samples = list(PATHS), {path: [] for path in PATHS}
  for r in range(repeats):
    for path in names[r % len(names):] + names[:r % len(names)]:
      samples[path].append(PATHS[path](config, dataset, lanes_count))
  rates = {path: [examples / seconds for examples, seconds in samples[path]]
           for path in names}
  medians = {path: statistics.median(rates[path]) for path in names}
  fast = max(medians, key=medians.get)
  paths = {path: {"examples_per_second": medians[path],
                  "fraction_of_fast_path": statistics.median(
                      a / b for a, b in zip(rates[path], rates[fast], strict=True)),
                  "examples": samples[path][0][0],
                  "train_seconds": [seconds for _, seconds in samples[path]]}
           for path in names}
  return {"config": MODELS[name], "overrides": overrides, "epochs": config.train.epochs,
          "lanes": lanes_count, "batch_size": config.train.batch_size,
          "train_examples": len(dataset.train_y),
          "steps_per_epoch": len(dataset.train_y) // config.train.batch_size,
          "paths": paths, "fast_path": fast,
          "target_met": all(p["fraction_of_fast_path"] >= TARGET for p in paths.values())}


def compile_child(spec: dict) -> dict:
  """In a fresh process (``_CHILD``): the cache on, then a suite group and a search, and,
  in the first process, a second of each with other hyperparameters."""
  from experiments.training import compilation_cache
  folder = compilation_cache.setup()  # as the commands do, before anything compiles
  config, dataset, _ = load(spec["model"], spec["mode"], epochs=1)
  training, _ = suite_lib.validation_split(dataset, 0.2, config.dataset.split_seed)
  seeds = [0, 1]
  other = dataclasses.replace(config.optimizer, **SECOND_HYPERPARAMETERS)
  resolved = optimizers.resolve(config.optimizer)
  trials = {"first": [(resolved.learning_rate, resolved.momentum), (0.01, 0.5)],
            "other": [(0.03, 0.95), (0.1, 0.0)]}

  def group(optimizer):
    return lambda: multiseed.train_seeds(dataclasses.replace(config, optimizer=optimizer),
                                         training, seeds, 1, validation=training.validation)

  def search(which):
    cells = [lanes.Cell(lr, m, seed) for lr, m in trials[which] for seed in seeds]
    return lambda: lanes.train_cells(config, training, cells, validation=training.validation)

  steps = [("group", group(config.optimizer), "jit(run_epochs)"),
           ("search", search("first"), "jit(run_chunk)")]
  if spec["first"]:
    steps += [("group_other_hyperparameters", group(other), "jit(run_epochs)"),
              ("search_other_trials", search("other"), "jit(run_chunk)")]
  result = {"cache_folder_set": folder is not None}
  for label, call, main in steps:
    with CompileLog() as log:
      call()
    result[label] = log.summary(main)
  return result


_CHILD = r"""
import json, sys
from benchmarks import paths
print("COMPILATION " + json.dumps(paths.compile_child(json.loads(sys.argv[1]))), flush=True)
"""


def child_process(spec: dict, cache: str) -> tuple[dict, float]:
  """``compile_child(spec)`` in a fresh process with the persistent cache in ``cache``."""
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("JAX_PERSISTENT_CACHE_", "DUALPROCESS_COMPILATION_CACHE"))}
  env["JAX_COMPILATION_CACHE_DIR"] = cache
  tic = time.perf_counter()
  done = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(spec)], cwd=timing.ROOT,
                        env=env, capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - tic
  lines = [line for line in done.stdout.splitlines() if line.startswith("COMPILATION ")]
  if done.returncode != 0 or not lines:
    tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
    raise RuntimeError(f"compilation child exited {done.returncode}: {tail}")
  return json.loads(lines[-1][len("COMPILATION "):]), seconds


def measure_compilation(mode: str) -> dict:
  """A group's and a search's compilation, their reuse, and a resumed process's."""
  model = SMOKE[0] if mode == "smoke" else COMPILE_MODEL
  with tempfile.TemporaryDirectory() as cache:
    first, first_s = child_process({"model": model, "mode": mode, "first": True}, cache)
    resumed, resumed_s = child_process({"model": model, "mode": mode, "first": False}, cache)
  reused = lambda step: all(r["source"] == "cache" for r in step["program_runs"])
  return {"config": MODELS[model], "overrides": sizes(model, mode)[0], "seeds": 2,
          "trials": 2, "epochs": 1,
          "other_hyperparameters": SECOND_HYPERPARAMETERS,
          "first_process": first, "resumed_process": resumed,
          "process_seconds": [first_s, resumed_s],
          "group_program_compile_seconds": sum(
              r["seconds"] for r in first["group"]["program_runs"]),
          "search_program_compile_seconds": sum(
              r["seconds"] for r in first["search"]["program_runs"]),
          "second_group_reuses_program": reused(first["group_other_hyperparameters"]),
          "second_search_reuses_program": reused(first["search_other_trials"]),
          "resumed_compiles_nothing_new": all(
              resumed[s]["xla_compilations"] == 0 for s in ("group", "search"))}


def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  parser.add_argument("--repeats", type=int, default=None,
                      help="rotations of the three paths (default 4; --quick 2; --smoke 1)")
  parser.add_argument("--lanes", type=int, default=2,
                      help="seeds of the suite path and cells of the lanes path (default 2)")
  parser.add_argument("--skip-compilation", action="store_true",
                      help="the rates only, without the compilation processes")
  args = parser.parse_args(argv)
  repeats = args.repeats or timing.repeats(args, full=4, quick=2, smoke=1)
  mode = "smoke" if args.smoke else "quick" if args.quick else "default"
  load_before, tic = os.getloadavg(), time.perf_counter()
  with warm_cache():
    models = {name: measure_model(name, mode, args.lanes, repeats)
              for name in ([SMOKE[0]] if args.smoke else MODELS)}  # --smoke: compiling
  result = {"models": models, "repeats": repeats, "target": f"every path >= {TARGET} of its "
            "model's fast path (the path with the highest median examples per second)",
            "target_met": all(m["target_met"] for m in models.values()),
            "rates_seconds": time.perf_counter() - tic}
  if not args.skip_compilation:
    result["compilation"] = measure_compilation(mode)
  result.update(load_average_before=list(load_before), load_average_after=list(os.getloadavg()),
                cpu_count=os.cpu_count(), total_seconds=time.perf_counter() - tic)
  timing.report("paths", result, args.json)
  return result


if __name__ == "__main__":
  main()
