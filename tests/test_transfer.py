"""Transfer studies end to end on configs/transfer_quick.yaml: what they train, what they
record, their statistics recomputed, resume, the report again, the plan, bad input."""

import json
import shutil

import numpy as np
import pytest
from scipy import stats

from experiments import config as config_lib
from experiments import data, transfer
from experiments.config.transfer import TransferConfig
from experiments.training import lanes, multiseed
from experiments.workflows import groups
from experiments.workflows import transfer as transfer_engine

QUICK = "configs/transfer_quick.yaml"
SMALL = ["--set", "values=[32, 128]", "--set", "reference=32"]
TIMINGS = ("wall_time_s", "train_seconds", "search_seconds", "reference_search_seconds",
           "measured_seconds", "measured_over_estimated", "time_to_target_s")


def without_timings(value):
  if isinstance(value, dict):
    return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
  if isinstance(value, list):
    return [without_timings(v) for v in value]
  return value


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  out = tmp_path_factory.mktemp("transfer") / "study"
  assert transfer.main([QUICK, *SMALL, "--out", str(out)]) == 0
  return out


def load(folder):
  return json.loads((folder / "transfer.json").read_text())


def test_every_value_trains_the_three_rows_on_the_same_seeds(finished):
  document = load(finished)
  assert document["batch_sizes"] == [32, 128] and document["reference"] == 32
  assert document["final_seeds"] == [0, 1] and document["trial_seeds"] == [1000]
  import dualprocess

  assert document["dualprocess_version"] == dualprocess.__version__
  for name in ("transfer.md", "transfer.png", "plan.json"):
    assert (finished / name).stat().st_size > 0
  [workload] = document["workloads"]
  chosen = workload["transferred"]
  assert chosen == max(workload["reference_search"], key=lambda t: t["validation_accuracy"])
  for point in workload["points"]:
    assert point["epochs"] == 3 and point["train_examples"] == 1151
    assert point["steps_per_epoch"] == 1151 // point["batch_size"]
    rows = {r["row"]: r for r in point["rows"]}
    assert list(rows) == ["re-tuned sgd", "derived pair", "transferred sgd"]
    assert all(r["seeds"] == 2 and len(r["per_seed_test_accuracy"]) == 2 for r in rows.values())
    # The transferred SGD is the reference's choice, unchanged at every value.
    assert (rows["transferred sgd"]["learning_rate"], rows["transferred sgd"]["momentum"]) == (
        pytest.approx(chosen["learning_rate"]), pytest.approx(chosen["momentum"]))
    # The re-tuned SGD is this value's best trial, its momentum the tuned one.
    best = max(point["search"], key=lambda t: t["validation_accuracy"])
    assert rows["re-tuned sgd"]["learning_rate"] == pytest.approx(best["learning_rate"])
    assert rows["re-tuned sgd"]["momentum"] == pytest.approx(chosen["momentum"])
    assert all(t["momentum"] == pytest.approx(chosen["momentum"]) for t in point["search"])
  # The re-tuned searches draw the same learning rates at every value.
  drawn = [[t["learning_rate"] for t in p["search"]] for p in workload["points"]]
  assert drawn[0] == drawn[1]
  import dualprocess as dp

  rate, momentum = dp.hyperparameters("double_bayesian")
  pair = workload["points"][0]["rows"][1]
  assert (pair["learning_rate"], pair["momentum"]) == (pytest.approx(float(rate)),
                                                       pytest.approx(float(momentum)))


def test_the_verdicts_recompute_from_the_per_seed_accuracies(finished):
  [workload] = load(finished)["workloads"]
  family = []
  for point in workload["points"]:
    rows = {r["row"]: r for r in point["rows"]}
    for name in ("derived pair", "transferred sgd"):
      comparison = point["comparisons"][name]
      a = np.array(rows[name]["per_seed_test_accuracy"])
      b = np.array(rows["re-tuned sgd"]["per_seed_test_accuracy"])
      assert comparison["mean_difference"] == pytest.approx(float(np.mean(a - b)))
      if comparison["p_equivalent"] is not None:
        margin = workload["margin"]
        tost = max(stats.ttest_rel(a + margin, b, alternative="greater").pvalue,
                   stats.ttest_rel(a - margin, b, alternative="less").pvalue)
        assert comparison["p_equivalent"] == pytest.approx(tost)
        family.append(comparison)
      # Every row's mean is what its seeds say.
      assert rows[name]["test_accuracy"] == pytest.approx(float(np.mean(a)))
  # Holm over the workload's family: a corrected p-value is never below the raw one.
  for comparison in family:
    assert comparison["p_equivalent_holm"] >= comparison["p_equivalent"] - 1e-12
    assert comparison["correction"] == "holm"


def test_the_report_names_what_was_held_and_each_verdict(finished):
  text = (finished / "transfer.md").read_text()
  assert "# Transfer study: batch size" in text and "## digits_mlp" in text
  assert "tuned at batch size 32 and transferred unchanged" in text
  assert "derived pair, against the re-tuned SGD:" in text
  assert "TOST" in text and "Holm" in text
  assert text.count("\n| 32 |") == 2 and text.count("\n| 128 |") == 2


def test_an_interrupted_study_resumes_to_the_same_result(finished, tmp_path, monkeypatch):
  out = tmp_path / "interrupted"
  shutil.copytree(finished, out, ignore=shutil.ignore_patterns(".lock", "transfer.json"))
  last = out / "cells" / "digits_mlp" / "batch_size-128"
  (last / "02-transferred-sgd.json").unlink()
  calls = []
  original = multiseed.train_seeds
  monkeypatch.setattr(multiseed, "train_seeds",
                      lambda *a, **k: calls.append(1) or original(*a, **k))
  monkeypatch.setattr(lanes, "train_cells", lambda *a, **k: pytest.fail("it searched again"))
  assert transfer.main([QUICK, *SMALL, "--out", str(out)]) == 0
  assert len(calls) == 1  # only the missing group
  assert without_timings(load(out)["workloads"]) == without_timings(load(finished)["workloads"])


def test_report_only_writes_the_same_report_and_trains_nothing(finished, tmp_path, monkeypatch,
                                                               capsys):
  copy = tmp_path / "copy"
  shutil.copytree(finished, copy, ignore=shutil.ignore_patterns(".lock"))
  (copy / "transfer.md").unlink()
  monkeypatch.setattr(transfer_engine, "run_study", lambda *a, **k: pytest.fail("it trained"))
  assert transfer.main(["--out", str(copy), "--report-only"]) == 0
  assert (copy / "transfer.md").read_text() == (finished / "transfer.md").read_text()
  capsys.readouterr()
  with pytest.raises(SystemExit) as exited:
    transfer.main(["--out", str(tmp_path), "--report-only"])
  assert exited.value.code == 2
  [line] = capsys.readouterr().err.strip().splitlines()
  assert "holds no transfer.json" in line


def test_plan_prices_every_value_and_the_run_records_it(finished, capsys, monkeypatch):
  # (The calibration times a few steps through the lanes engine; no final run trains.)
  monkeypatch.setattr(multiseed, "train_seeds", lambda *a, **k: pytest.fail("it trained"))
  assert transfer.main([QUICK, *SMALL, "--plan"]) == 0
  printed = capsys.readouterr().out
  assert "| digits_mlp batch_size=32 |" in printed and "| digits_mlp batch_size=128 |" in printed
  plan = load(finished)["plan"]
  by_value = {u["batch_size"]: u for u in plan["units"]}
  # The reference value carries the tuned SGD's search too: 2 trials x 1 trial seed each.
  assert by_value[32]["search_lanes"] == 4 and by_value[128]["search_lanes"] == 2
  assert all(u["final_runs"] == 3 * 2 and u["estimated_seconds"] > 0 for u in plan["units"])
  # Each unit's measured seconds: its own search and rows, the reference search at 32.
  [workload] = load(finished)["workloads"]
  for point in workload["points"]:
    unit = by_value[point["batch_size"]]
    expected = point["search_seconds"] + sum(r["wall_time_s"] for r in point["rows"])
    if point["reference"]:
      expected += workload["reference_search_seconds"]
    assert unit["measured_seconds"] == pytest.approx(expected)
    assert unit["measured_over_estimated"] == pytest.approx(expected / unit["estimated_seconds"])
  assert plan["measured_seconds"] == pytest.approx(sum(u["measured_seconds"]
                                                       for u in plan["units"]))


def quick_study(**changes) -> TransferConfig:
  data_ = config_lib.load_yaml(QUICK, TransferConfig)
  data_.update(changes)
  return config_lib.build(TransferConfig, data_)


def test_train_sizes_are_nested_subsets_with_one_validation_split():
  study = quick_study(vary="train_size", values=[100, 300], reference=300)
  config = config_lib.load("configs/default.yaml")
  training, _ = groups.validation_split(data.load(config.dataset), 0.2, 0)
  _, small = transfer_engine.at_value(study, config, training, 100)
  _, large = transfer_engine.at_value(study, config, training, 300)
  assert len(small.train_y) == 100 and len(large.train_y) == 300
  rows = {x.tobytes() for x in large.train_x}
  assert all(x.tobytes() in rows for x in small.train_x)
  assert small.validation[0] is training.validation[0] and small.test_x is training.test_x
  with pytest.raises(config_lib.ConfigError, match=r"values\[1\]': a subset of 5000"):
    transfer_engine.check_values(quick_study(vary="train_size", values=[100, 5000],
                                             reference=100), "digits_mlp", training)


@pytest.mark.parametrize("override, fragment", [
    ("reference=48", "config key 'reference': 48 is not one of values"),
    ("values=[128, 32]", "config key 'values': at least two distinct"),
    ("search.spaces=[{label: x, name: sgd}]", "config key 'search.spaces'"),
    ("seeds=[1000]", "config key 'seeds': [1000] also in search.trial_seeds"),
    ("vary=width", "config key 'vary'"),
])
def test_a_mistake_is_one_line_and_exit_2(override, fragment, capsys, tmp_path):
  with pytest.raises(SystemExit) as exited:
    transfer.main([QUICK, "--set", override, "--out", str(tmp_path / "never")])
  assert exited.value.code == 2
  [line] = capsys.readouterr().err.strip().splitlines()
  assert fragment in line and not (tmp_path / "never").exists()


def test_a_run_config_is_named_as_one(capsys):
  with pytest.raises(SystemExit) as exited:
    transfer.main(["configs/default.yaml", "--plan"])
  assert exited.value.code == 2
  [line] = capsys.readouterr().err.strip().splitlines()
  assert "this is a run config" in line and "workloads:" in line
