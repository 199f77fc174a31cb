"""The vmapped sweep against the same configurations trained one after another.

Both sides pay what a user pays: compilation included. The sequential side is
the plain runner (``experiments.run.train_and_evaluate``) once per
configuration. Target: speedup >= 5x for 16 configurations on a 2-core CPU.
``--large`` (benchmarks.all on a GPU) also times 16 against 256 cells in one
vmapped program: how far the sweep scales when hundreds of cells fit.
Run: python -m benchmarks.sweep_speedup --json
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from benchmarks import timing
from experiments import config as config_lib
from experiments import data
from experiments.training import lanes
from experiments.workflows import run as run_engine


def scaling(config, dataset, sizes) -> dict:
  """Wall time of the vmapped sweep (compilation included) as the cell count grows."""
  times = {}
  for n in sizes:
    cells = [lanes.Cell(lr, 0.9, 0) for lr in np.geomspace(1e-3, 0.3, n).tolist()]
    tic = time.perf_counter()
    lanes.train_cells(config, dataset, cells)
    times[n] = time.perf_counter() - tic
  small, large = min(sizes), max(sizes)
  return {"cells": list(sizes), "seconds": [times[n] for n in sizes],
          "time_ratio": times[large] / times[small], "cell_ratio": large / small}


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  lrs, momenta, epochs = ((0.01, 0.1), (0.9,), 1) if args.smoke else \
      ((0.003, 0.01, 0.03, 0.1), (0.0, 0.5, 0.9, 0.95), 3 if args.quick else 5)
  config = config_lib.load(None, [f"train.epochs={epochs}", "train.progress=false"])
  dataset = data.load(config.dataset)
  cells = [lanes.Cell(lr, m, 0) for lr in lrs for m in momenta]
  tic = time.perf_counter()
  vmapped = lanes.train_cells(config, dataset, cells)
  vmapped_s = time.perf_counter() - tic
  tic = time.perf_counter()
  sequential = []
  for cell in cells:
    optimizer = config_lib.OptimizerConfig(name="dual_process", learning_rate=cell.learning_rate,
                                           momentum=cell.momentum)
    sequential.append(run_engine.train_and_evaluate(
        dataclasses.replace(config, optimizer=optimizer), dataset, progress=False))
  sequential_s = time.perf_counter() - tic
  max_gap = max(abs(a["test_accuracy"] - b["test_accuracy"])
                for a, b in zip(vmapped, sequential, strict=True) if not a["diverged"])
  result = {"speedup": sequential_s / vmapped_s, "configs": len(cells), "epochs": epochs,
            "vmapped_s": vmapped_s, "sequential_s": sequential_s,
            "max_test_accuracy_gap": max_gap, "target": "speedup >= 5"}
  if args.large:  # how far one device scales: 16 cells against 256 in one program
    result["scaling"] = scaling(config, dataset, (16, 256))
  timing.report("sweep_speedup", result, args.json)
  return result


if __name__ == "__main__":
  main()
