"""Every compare run keeps its learning curve (issue 33, item 5).

Each (row, seed) run's folder under ``runs/`` has its ``metrics.jsonl`` and TensorBoard
events; ``curves.png`` plots test accuracy over steps beside ``comparison.png``. Writing
them changes no number, and a rerun still skips the finished runs.
"""

from __future__ import annotations

import json
import re

import pytest

from experiments import api, data, loading, outputs
from experiments.workflows import compare as compare_lib

CONFIG = {"dataset": {"name": "digits", "limit_train": 192},
          "model": {"name": "mlp", "hidden_sizes": [8]},
          "loss": {"name": "cross_entropy"},
          "train": {"epochs": 2, "batch_size": 32, "eval_every": 1, "progress": False},
          "compare": {"seeds": [0, 1], "optimizers": [
              {"name": "dual_process"}, {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}]}}
TIMINGS = ("wall_time_s", "train_time_s", "compile_time_s", "examples_per_s", "peak_rss_mib",
           "versions")


def results(folder):
  """``{run name: its result without timings}`` of a compare's ``runs/``."""
  return {str(p.relative_to(folder / "runs").with_suffix("")):
          {k: v for k, v in json.loads(p.read_text()).items() if k not in TIMINGS}
          for p in sorted((folder / "runs").glob("*/*.json"))}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
  out = tmp_path_factory.mktemp("compare") / "out"
  lines = []
  result = api.compare(CONFIG, out=out, say=lines.append)
  return out, result, lines


def test_each_run_keeps_its_metrics_and_the_rows_their_curves(compared):
  out, result, lines = compared
  names = sorted(results(out))
  assert names == ["00-dual-process-lr-0-0158679-m-0-874032/seed0",
                   "00-dual-process-lr-0-0158679-m-0-874032/seed1",
                   "01-sgd-lr-0-05-m-0-9/seed0", "01-sgd-lr-0-05-m-0-9/seed1"]
  for name, run in results(out).items():
    records = outputs.read_jsonl(out / "runs" / name / "metrics.jsonl")
    tested = [r for r in records if r.get("test_accuracy") is not None]
    assert [r["step"] for r in tested] == [6, 12]  # one evaluation per epoch
    assert tested[-1]["test_accuracy"] == run["test_accuracy"]
    assert not (out / "runs" / name / "checkpoints").exists()
  assert (out / "curves.png").stat().st_size > 0 and (out / "comparison.png").is_file()
  # The console lines are rounded.
  assert len(lines) == 2 and all(re.fullmatch(r".+: test_accuracy=\d\.\d{4}", x) for x in lines)
  assert result["rows"][0]["runs"] == 2


def test_writing_the_curves_changes_no_number(compared):
  out, _, _ = compared
  config = loading.load_config(CONFIG)
  dataset = data.load(config.dataset)
  kept = results(out)
  for i, optimizer in enumerate(config.compare.optimizers):
    for seed in config.compare.seeds:
      alone = compare_lib.run_one(config, optimizer, seed, dataset)  # no folder
      name = next(n for n in kept if n.startswith(f"{i:02d}-") and n.endswith(f"seed{seed}"))
      assert {k: v for k, v in alone.items() if k not in TIMINGS} == kept[name]


def test_tensorboard_shows_every_row_and_seed_per_step(compared):
  pytest.importorskip("tensorboard")
  from tensorboard.backend.event_processing import event_accumulator, event_multiplexer
  out, _, _ = compared
  multiplexer = event_multiplexer.EventMultiplexer(
      size_guidance={event_accumulator.SCALARS: 0})
  multiplexer.AddRunsFromDirectory(str(out))
  multiplexer.Reload()
  runs = multiplexer.Runs()
  for name, run in results(out).items():  # a TensorBoard run per (row, seed): its folder
    assert f"runs/{name}" in runs, sorted(runs)
    points = multiplexer.Scalars(f"runs/{name}", "test/accuracy")
    assert [e.step for e in points] == [6, 12]
    assert points[-1].value == pytest.approx(run["test_accuracy"], rel=1e-6)
    assert len(multiplexer.Scalars(f"runs/{name}", "train/loss")) >= 2


def test_a_rerun_skips_the_finished_runs_and_trains_a_missing_one_again(compared, tmp_path):
  import shutil
  out, result, _ = compared
  copy = tmp_path / "copy"
  shutil.copytree(out, copy)
  missing = "01-sgd-lr-0-05-m-0-9/seed1"
  (copy / "runs" / f"{missing}.json").unlink()
  shutil.rmtree(copy / "runs" / missing)
  kept = copy / "runs/00-dual-process-lr-0-0158679-m-0-874032/seed0/metrics.jsonl"
  before = kept.stat().st_mtime_ns
  again = api.compare(CONFIG, out=copy, say=None)
  assert kept.stat().st_mtime_ns == before  # finished: not trained again
  assert (copy / "runs" / missing / "metrics.jsonl").is_file()
  strip = lambda rows: [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows]
  assert strip(again["rows"]) == strip(result["rows"])
  assert results(copy) == results(out)


def test_the_compare_curves_plot_takes_rows_with_and_without_records(tmp_path):
  from experiments import plots
  first = [{"step": 5, "test_accuracy": 0.5}, {"step": 10, "test_accuracy": 0.75}]
  second = [{"step": 5, "test_accuracy": 0.6}, {"step": 10, "loss": 1.0}]
  plots.compare_curves({"a": [first, second], "kept by an older version": [[]]},
                       tmp_path / "curves.png", "title")
  assert (tmp_path / "curves.png").stat().st_size > 0
