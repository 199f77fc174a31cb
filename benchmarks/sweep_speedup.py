"""The vmapped sweep against the same configurations trained one after another.

Both sides pay what a user pays: compilation included. The sequential side is
the plain runner (``experiments.run.train_and_evaluate``) once per
configuration. Target: speedup >= 5x for 16 configurations on a 2-core CPU.
Run: python -m benchmarks.sweep_speedup --json
"""

from __future__ import annotations

import dataclasses
import time

from benchmarks import timing
from experiments import config as config_lib
from experiments import data, run, sweep


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  lrs, momenta, epochs = ((0.01, 0.1), (0.9,), 1) if args.smoke else \
      ((0.003, 0.01, 0.03, 0.1), (0.0, 0.5, 0.9, 0.95), 5)
  config = config_lib.load(None, [f"train.epochs={epochs}", "train.progress=false"])
  dataset = data.load(config.dataset)
  cells = [sweep.Cell(lr, m, 0) for lr in lrs for m in momenta]

  tic = time.perf_counter()
  vmapped = sweep.train_cells(config, dataset, cells)
  vmapped_s = time.perf_counter() - tic

  tic = time.perf_counter()
  sequential = []
  for cell in cells:
    optimizer = config_lib.OptimizerConfig(name="dual_process", learning_rate=cell.learning_rate,
                                           momentum=cell.momentum)
    sequential.append(run.train_and_evaluate(
        dataclasses.replace(config, optimizer=optimizer), dataset, progress=False))
  sequential_s = time.perf_counter() - tic

  max_gap = max(abs(a["test_accuracy"] - b["test_accuracy"])
                for a, b in zip(vmapped, sequential, strict=True) if not a["diverged"])
  result = {"speedup": sequential_s / vmapped_s, "configs": len(cells), "epochs": epochs,
            "vmapped_s": vmapped_s, "sequential_s": sequential_s,
            "max_test_accuracy_gap": max_gap, "target": "speedup >= 5"}
  timing.report("sweep_speedup", result, args.json)
  return result


if __name__ == "__main__":
  main()
