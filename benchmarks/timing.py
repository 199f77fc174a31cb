"""Paired, interleaved timing: A and B alternate, and we report medians of ratios."""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import jax


def time_call(fn, *args) -> float:
  tic = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - tic


def paired(fn_a, args_a, fn_b, args_b, repeats: int) -> dict:
  """Runs A and B alternately (after one warm-up each); ratio = time A / time B."""
  time_call(fn_a, *args_a)
  time_call(fn_b, *args_b)
  ratios, times_a, times_b = [], [], []
  for i in range(repeats):
    if i % 2:  # alternate the order so neither always runs second
      tb, ta = time_call(fn_b, *args_b), time_call(fn_a, *args_a)
    else:
      ta, tb = time_call(fn_a, *args_a), time_call(fn_b, *args_b)
    times_a.append(ta)
    times_b.append(tb)
    ratios.append(ta / tb)
  return {"ratio": statistics.median(ratios), "median_a_s": statistics.median(times_a),
          "median_b_s": statistics.median(times_b), "repeats": repeats}


def parser(description: str) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--json", action="store_true", help="print one JSON line")
  p.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
  p.add_argument("--quick", action="store_true", help="fewer repeats (benchmarks.all --quick)")
  p.add_argument("--large", action="store_true",
                 help="accelerator-sized cases as well (benchmarks.all on a GPU)")
  return p


def repeats(args, full: int, quick: int, smoke: int = 3) -> int:
  return smoke if args.smoke else quick if args.quick else full


ROOT = pathlib.Path(__file__).resolve().parent.parent


def timed_run(config: str, overrides=()) -> dict:
  """One ``experiments.run`` in its own process, as a user runs it; its summary's figures."""
  with tempfile.TemporaryDirectory() as out:
    command = [sys.executable, "-m", "experiments.run", config, "--out", out,
               "--set", "train.progress=false"]
    command += [a for o in overrides for a in ("--set", o)]
    tic = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                               check=False)
    process_s = time.perf_counter() - tic
    if completed.returncode != 0:
      lines = completed.stderr.strip().splitlines() or ["no output"]
      raise RuntimeError(f"experiments.run exited {completed.returncode}: {lines[-1]}")
    summary = json.loads((pathlib.Path(out) / "summary.json").read_text())
  keys = ("dataset", "model", "label", "steps", "test_accuracy", "test_loss", "compile_time_s",
          "train_time_s", "wall_time_s", "examples_per_s", "peak_rss_mib")
  # What a run spends outside compilation and training: set-up, evaluation,
  # logging, checkpoints and plots within summary.json's wall time.
  overhead = summary["wall_time_s"] - summary["compile_time_s"] - summary["train_time_s"]
  return {"config": config, "overrides": list(overrides), "process_s": process_s,
          **{k: summary[k] for k in keys}, "overhead_s": overhead}


def machine() -> dict:
  device = jax.devices()[0]
  return {"backend": jax.default_backend(), "device": device.device_kind,
          "num_devices": len(jax.devices()), "processor": platform.processor() or
          platform.machine(), "jax": jax.__version__}


def report(name: str, result: dict, as_json: bool) -> None:
  result = {"benchmark": name, **result, "machine": machine()}
  if as_json:
    print(json.dumps(result))
  else:
    for key, value in result.items():
      print(f"{key}: {value}")
