"""Paired, interleaved timing: A and B alternate, and we report medians of ratios."""

from __future__ import annotations

import argparse
import json
import platform
import statistics
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
  return p


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
