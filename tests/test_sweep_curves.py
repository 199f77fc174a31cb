"""Every sweep cell keeps its learning curve ("Curves for every run").

Each cell's folder under ``cells/`` has its ``metrics.jsonl`` (one line per evaluation,
every ``train.eval_every`` epochs and the last) and TensorBoard events, so each cell is a
run of its own in ``tensorboard --logdir OUT``. The curve ends on the cell's reported
accuracies, changes no number of the cell, nor depends on the cells beside it, and a
resumed sweep has every point once.
"""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import pytest

from experiments import config as config_lib
from experiments import data, outputs
from experiments.training import lanes
from experiments.workflows import run as run_engine
from experiments.workflows import sweep as sweep_engine
from experiments.workflows import sweep_curves

OVERRIDES = ["dataset.limit_train=256", "dataset.folds=2", "model.hidden_sizes=[16]",
             "train.epochs=3", "train.eval_every=2", "train.progress=false",
             "sweep.learning_rates={min: 0.01, max: 1.0e30, num: 2}", "sweep.momenta=[0.9]",
             "sweep.seeds=[0, 1]", "sweep.folds=[1]", "sweep.chunk_size=4"]
STEPS = [8, 12]  # 128 examples per fold's training set, batches of 32: epochs 2 and 3
ONLY_MAPPED = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="accelerators vmap the cells (lanes 'auto'); only "
    "mapped lanes are bit-identical whatever their number")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
  config = config_lib.load(None, OVERRIDES)
  dataset = data.load(config.dataset)
  out = tmp_path_factory.mktemp("sweep") / "out"
  out.mkdir()
  result = sweep_engine.sweep(config, dataset, out)
  return config, dataset, out, result


def kept_results(out) -> list[dict]:
  """Every cell's result as its chunk keeps it, in order."""
  return [r for path in sorted((out / "chunks").glob("chunk-*.json"))
          for r in json.loads(path.read_text())]


def test_every_cell_writes_one_line_per_evaluation_ending_on_its_result(swept):
  _, _, out, result = swept
  kept = kept_results(out)
  assert len(kept) == result["num_cells_trained"] == (2 + 4) * 2
  assert json.loads((out / "sweep.json").read_text())["eval_every"] == 2
  names = set()
  for r in kept:
    name = sweep_curves.cell_name(r["cell"], folded=True)
    names.add(name)
    assert name.endswith(f"/fold1-seed{r['cell'][2]}")
    records = outputs.read_jsonl(out / "cells" / name / "metrics.jsonl")
    assert [x["step"] for x in records] == STEPS and [x["epoch"] for x in records] == [2, 3]
    assert records == [{k: v for k, v in x.items() if v is not None} for x in r["curve"]]
    if r["diverged"]:
      assert all("test_accuracy" not in x for x in records)
      continue
    assert records[-1]["test_accuracy"] == r["test_accuracy"]  # bit for bit
    assert records[-1]["validation_accuracy"] == r["validation_accuracy"]
    assert records[-1]["loss"] == r["final_loss"]
    assert all({"loss", "mean_loss", "test_accuracy", "test_loss", "validation_accuracy"}
               <= set(x) for x in records)
  assert len(names) == len(kept)  # a folder per cell
  for entry in result["cells"]:  # sweep.json's accuracies are the curves' last points
    pair = [entry["learning_rate"], entry["momentum"]]
    assert entry["test_accuracy"] == [r["curve"][-1]["test_accuracy"] for r in kept
                                      if r["cell"][:2] == pair]


def test_a_curves_points_are_the_plain_runs_evaluations(swept, tmp_path):
  config, dataset, out, _ = swept
  cell = lanes.Cell(0.01, 0.9, 1, 1)
  plain = dataclasses.replace(
      config, optimizer=config_lib.OptimizerConfig(name="sgd", learning_rate=0.01,
                                                   momentum=0.9),
      train=dataclasses.replace(config.train, seed=1),
      dataset=dataclasses.replace(config.dataset, fold=1))
  run_engine.train_and_evaluate(plain, dataset, tmp_path, progress=False, checkpoints=False)
  tested = [r for r in outputs.read_jsonl(tmp_path / "metrics.jsonl") if "test_accuracy" in r]
  curve = outputs.read_jsonl(out / "cells" / sweep_curves.cell_name(cell, True)
                             / "metrics.jsonl")
  assert [r["step"] for r in tested] == [r["step"] for r in curve] == STEPS
  for theirs, ours in zip(tested, curve, strict=True):
    for key in ("test_accuracy", "validation_accuracy", "loss"):
      assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key


@ONLY_MAPPED
def test_curves_change_no_number_and_not_with_the_cells_beside(swept):
  config, dataset, out, _ = swept
  cells = sweep_engine.all_cells(config)
  pick = [cells[1], cells[4]]  # from two chunks of the sweep, trained side by side here
  strip = lambda r: {k: v for k, v in r.items() if k not in ("curve", "device", "chunk_size")}
  with_curves = lanes.train_cells(config, dataset, pick, curves=True)
  without = lanes.train_cells(config, dataset, pick)
  assert all("curve" not in r for r in without)  # the searches' results as they were
  assert [strip(r) for r in with_curves] == [strip(r) for r in without]
  kept = {tuple(r["cell"]): r for r in kept_results(out)}
  for r in with_curves:
    assert r["curve"] == kept[tuple(r["cell"])]["curve"]
    assert strip(dict(r, cell=list(r["cell"]))) == strip(kept[tuple(r["cell"])])


def test_tensorboard_shows_every_cell_as_a_run(swept):
  pytest.importorskip("tensorboard")
  from tensorboard.backend.event_processing import event_accumulator, event_multiplexer
  _, _, out, _ = swept
  multiplexer = event_multiplexer.EventMultiplexer(
      size_guidance={event_accumulator.SCALARS: 0})
  multiplexer.AddRunsFromDirectory(str(out))
  multiplexer.Reload()
  runs = multiplexer.Runs()
  for r in kept_results(out):
    run = f"cells/{sweep_curves.cell_name(r['cell'], True)}"
    assert run in runs, sorted(runs)
    if r["diverged"]:
      continue
    points = multiplexer.Scalars(run, "test/accuracy")
    assert [e.step for e in points] == STEPS
    assert points[-1].value == pytest.approx(r["test_accuracy"], rel=1e-6)
    assert [e.step for e in multiplexer.Scalars(run, "validation/accuracy")] == STEPS
    assert [e.step for e in multiplexer.Scalars(run, "train/loss")] == STEPS


def test_a_resumed_sweep_has_every_point_once(swept, tmp_path):
  config, dataset, out, result = swept
  copy = tmp_path / "copy"
  shutil.copytree(out, copy)
  chunks = sorted((copy / "chunks").glob("chunk-*.json"))
  chunks[-1].unlink()  # the last chunk was cut short: trained again
  kept = json.loads(chunks[0].read_text())[0]
  name = sweep_curves.cell_name(kept["cell"], True)
  with open(copy / "cells" / name / "metrics.jsonl", "a") as f:  # a duplicate point
    f.write(json.dumps({"step": STEPS[0], "test_accuracy": 0.0}) + "\n")
  shutil.rmtree(copy / "cells" / sweep_curves.cell_name(
      json.loads(chunks[1].read_text())[0]["cell"], True))  # a kept cell's curve lost
  (copy / "cells" / "stale" / "seed0").mkdir(parents=True)  # another config's cell
  again = sweep_engine.sweep(config, dataset, copy)
  assert again["cells"] == result["cells"]
  assert not (copy / "cells" / "stale").exists()
  for r in kept_results(out):
    name = sweep_curves.cell_name(r["cell"], True)
    assert ((copy / "cells" / name / "metrics.jsonl").read_text()
            == (out / "cells" / name / "metrics.jsonl").read_text())
    events = list((copy / "cells" / name).glob("events.out.tfevents.*"))
    assert len(events) <= 1
    if events and not r["diverged"]:
      assert steps_of(events[0], "test/accuracy") == STEPS  # each point once


def steps_of(path, tag: str) -> list[int]:
  """The steps of ``tag`` in one event file (none without the tensorboard extra)."""
  pytest.importorskip("tensorboard")
  from tensorboard.backend.event_processing import event_accumulator
  events = event_accumulator.EventAccumulator(str(path),
                                              size_guidance={event_accumulator.SCALARS: 0})
  events.Reload()
  return [e.step for e in events.Scalars(tag)]
