"""How fast the commands start, as a user starts them: ``python -m benchmarks.startup [--json]``.

Process wall time, every run a fresh process, the median over the repeats, of:

- the main job, ``python -m experiments.run --out TMP`` (``configs/default.yaml``),
  with the compilation cache warm (target: 4 s at most); the first run, which
  fills the cache, is reported apart as the cold one;
- ``python -m experiments.run --help`` (target: 1 s at most);
- a config mistake, ``python -m experiments.run --set train.epochs=oops``: exit 2
  and one line (target: 1 s at most);

and, from one more warm run, the main job's XLA compilations: every compiled
program the job asks for, compiled by XLA or read from the cache (how many
were, too). One more process runs every command's ``--help`` and a few config
mistakes and lists the heavy packages (JAX, Flax, Optax, Orbax, matplotlib,
scikit-learn, SciPy, statsmodels, TensorBoard) they imported: none is expected.

The cache is the commands' default one, in a temporary ``XDG_CACHE_HOME`` (the
user's own cache is not touched; ``MPLCONFIGDIR`` keeps matplotlib's font cache
where the user has it): ``JAX_COMPILATION_CACHE_DIR`` and
``DUALPROCESS_COMPILATION_CACHE`` are removed from the children's environment.
The load average before and after is part of the result: on a busy machine
every figure grows.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFIG = "configs/default.yaml"
MAIN_JOB_TARGET_S = 4.0
HELP_TARGET_S = 1.0
BAD_CONFIG_TARGET_S = 1.0
BAD_CONFIG = ["--set", "train.epochs=oops"]
HEAVY = ("jax", "flax", "optax", "orbax", "matplotlib", "sklearn", "scipy", "statsmodels",
         "tensorboard")
# What --help and a config mistake must answer without importing any of HEAVY.
LIGHT_COMMANDS = (
    ("experiments.run", ["--help"]), ("experiments.compare", ["--help"]),
    ("experiments.sweep", ["--help"]), ("experiments.suite", ["--help"]),
    ("experiments.run", BAD_CONFIG), ("experiments.run", ["no-such-config.yaml"]),
    ("experiments.run", ["--set", "train.no_such_key=1"]),
    ("experiments.compare", [CONFIG]),  # no compare section
    ("experiments.suite", []),  # no suite config
)

_COUNT = r"""
import json, runpy, sys
from jax import monitoring
counts = {"compilations": 0, "from_cache": 0}
def on_event(event, *args, **kwargs):
  if event == "/jax/compilation_cache/cache_hits":
    counts["from_cache"] += 1
def on_duration(event, *args, **kwargs):
  if event == "/jax/core/compile/backend_compile_duration":
    counts["compilations"] += 1
monitoring.register_event_listener(on_event)
monitoring.register_event_duration_secs_listener(on_duration)
sys.argv = ["experiments.run", *sys.argv[1:]]
try:
  runpy.run_module("experiments.run", run_name="__main__", alter_sys=True)
finally:
  print("COMPILATIONS " + json.dumps(counts), file=sys.stderr, flush=True)
"""

_HEAVY = r"""
import json, runpy, sys
commands, heavy = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for module, argv in commands:
  sys.argv = [module, *argv]
  try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
  except SystemExit:
    pass
print("HEAVY " + json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def child_environment(cache_home) -> dict:
  """The environment of the timed processes: the default cache, in ``cache_home``."""
  env = {k: v for k, v in os.environ.items()
         if k not in ("JAX_COMPILATION_CACHE_DIR", "DUALPROCESS_COMPILATION_CACHE")}
  if "MPLCONFIGDIR" not in env:  # matplotlib's cache is in XDG_CACHE_HOME too: keep the user's
    base = os.environ.get("XDG_CACHE_HOME", "")
    base = base if os.path.isabs(base) else os.path.join(os.path.expanduser("~"), ".cache")
    env["MPLCONFIGDIR"] = os.path.join(base, "matplotlib")
  env["XDG_CACHE_HOME"] = str(cache_home)
  return env


def timed(argv, env, expect: int = 0) -> float:
  """Seconds of one fresh ``python argv`` process, started in the checkout."""
  tic = time.perf_counter()
  completed = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True,
                             text=True, check=False)
  seconds = time.perf_counter() - tic
  if completed.returncode != expect:
    lines = (completed.stderr or completed.stdout).strip().splitlines() or ["no output"]
    raise RuntimeError(f"{' '.join(argv[:3])} exited {completed.returncode}, not {expect}: "
                       f"{lines[-1]}")
  return seconds


def _last_line(text: str, prefix: str):
  found = [line for line in text.splitlines() if line.startswith(prefix)]
  if not found:
    raise RuntimeError(f"no {prefix.strip()} line: {text.strip()[-300:]}")
  return json.loads(found[-1][len(prefix):])


def heavy_modules(commands=LIGHT_COMMANDS, env=None) -> list[str]:
  """The packages of HEAVY that ``commands`` (``(module, argv)`` pairs, run in one
  fresh process one after another) imported."""
  completed = subprocess.run(
      [sys.executable, "-c", _HEAVY, json.dumps([list(c) for c in commands]),
       json.dumps(HEAVY)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
  return _last_line(completed.stdout, "HEAVY ")


def compilations(argv, env) -> dict:
  """``{"compilations", "from_cache", "process_s"}`` of one ``experiments.run argv`` process."""
  tic = time.perf_counter()
  completed = subprocess.run([sys.executable, "-c", _COUNT, *argv], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - tic
  if completed.returncode != 0:
    lines = completed.stderr.strip().splitlines() or ["no output"]
    raise RuntimeError(f"experiments.run exited {completed.returncode}: {lines[-1]}")
  return {**_last_line(completed.stderr, "COMPILATIONS "), "process_s": seconds}


def _figure(runs: list[float], target: float) -> dict:
  median = statistics.median(runs)
  return {"median_s": median, "runs_s": runs, "target_s": target, "target_met": median <= target}


def measure(repeats: int, overrides=(), smoke: bool = False) -> dict:
  """Every figure of the module docstring; ``overrides`` (``--set`` values) shrink the job.
  ``smoke``: the counted run is the one warm run (a process less, for the test suite)."""
  load_before = os.getloadavg()
  sets = [a for o in ("train.progress=false", *overrides) for a in ("--set", o)]
  with tempfile.TemporaryDirectory() as tmp:
    env = child_environment(pathlib.Path(tmp) / "cache")
    job = lambda name: ["-m", "experiments.run", CONFIG, *sets, "--out", f"{tmp}/{name}"]
    cold = timed(job("cold"), env)
    warm = [] if smoke else [timed(job(f"warm{i}"), env) for i in range(repeats)]
    counted = compilations(job("counted")[2:], env)
    counted_s = counted.pop("process_s")
    warm = warm or [counted_s]
    help_runs = [timed(["-m", "experiments.run", "--help"], env) for _ in range(repeats)]
    bad_runs = [timed(["-m", "experiments.run", *BAD_CONFIG], env, expect=2)
                for _ in range(repeats)]
    heavy = heavy_modules(env=env)
    cached = sorted(p.name for p in (pathlib.Path(tmp) / "cache" / "dualprocess").iterdir())
  return {
      "repeats": repeats,
      "main_job": {"config": CONFIG, "overrides": list(overrides), "cold_s": cold,
                   **_figure(warm, MAIN_JOB_TARGET_S), **counted},
      "help": _figure(help_runs, HELP_TARGET_S),
      "bad_config": {"argv": BAD_CONFIG, **_figure(bad_runs, BAD_CONFIG_TARGET_S)},
      "heavy_modules_before_config": heavy,
      "cache_folders": cached,
      "load_average_1_5_15": {"before": list(load_before), "after": list(os.getloadavg())},
      "cpus": len(os.sched_getaffinity(0)), "processor": platform.processor() or
      platform.machine(), "python": platform.python_version(),
  }


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--json", action="store_true", help="print one JSON document")
  parser.add_argument("--quick", action="store_true", help="3 runs of each, not 5")
  parser.add_argument("--smoke", action="store_true",
                      help="1 run of each, the main job for 1 epoch (the test suite)")
  parser.add_argument("--large", action="store_true", help="ignored (benchmarks.all's flag)")
  args = parser.parse_args(argv)
  result = {"benchmark": "startup",
            **measure(1 if args.smoke else 3 if args.quick else 5,
                      ["train.epochs=1"] if args.smoke else [], smoke=args.smoke)}
  if args.json:
    print(json.dumps(result))
  else:
    for key, value in result.items():
      print(f"{key}: {value}")
  return result


if __name__ == "__main__":
  main()
