"""The workload suite end to end on configs/suite_quick.yaml: content, resume, honesty."""

import json
import math
import shutil
import statistics

import pytest
import yaml
from scipy import stats

from experiments import config as config_lib
from experiments import data, suite, sweep
from experiments.analysis import scoring, suite_report
from experiments.training import multiseed

QUICK = "configs/suite_quick.yaml"
TIMINGS = ("wall_time_s", "compute_time_s", "train_seconds", "time_to_target_s",
           "median_time_to_target_s")


def without_timings(value):
  """suite.json less its clock readings, which no two runs share."""
  if isinstance(value, dict):
    return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
  if isinstance(value, list):
    return [without_timings(v) for v in value]
  return value


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
  out = tmp_path_factory.mktemp("suite") / "uninterrupted"
  assert suite.main([QUICK, "--out", str(out)]) == 0
  return out


def test_writes_the_four_outputs_with_every_field(finished):
  for name in ("suite.json", "suite.md", "profile.png", "accuracy.png"):
    assert (finished / name).stat().st_size > 0, name
  document = json.loads((finished / "suite.json").read_text())
  assert document["config"]["seeds"] == [0, 1] and document["versions"]["jax"]
  assert [w["name"] for w in document["workloads"]] == ["digits_mlp", "digits_mlp_noise40"]
  for workload in document["workloads"]:
    assert [r["optimizer"] for r in workload["rows"]] == [
        "reported (0.016, 0.874)", "double_bayesian + warmup_cosine", "information (KL2, H2)",
        "adam (1e-3)", "tuned sgd", "tuned sgd + schedule"]
    tuned, scheduled = workload["groups"][-2:]
    assert tuned["tuned"] and tuned["name"] == "sgd" and tuned["baseline"] == "tuned sgd"
    assert (tuned["learning_rate"], tuned["momentum"]) == (
        workload["tuning"]["learning_rate"], workload["tuning"]["momentum"])
    assert len(workload["tuning"]["grid"]) == 3 * 2
    # The second baseline: SGD under warmup + cosine with weight decay, tuned on the
    # same validation split (3 peaks x 2 weight decays), then retrained.
    chosen = workload["scheduled_tuning"]
    assert scheduled["baseline"] == "tuned sgd + schedule" and scheduled["name"] == "sgd"
    assert (scheduled["learning_rate"], scheduled["momentum"]) == (chosen["learning_rate"], 0.9)
    assert f"wd {chosen['weight_decay']:g})" in scheduled["optimizer"]
    assert len(chosen["grid"]) == 3 * 2 and {e["weight_decay"] for e in chosen["grid"]} == {
        0.0, 0.001}
    assert chosen["validation_examples"] == workload["tuning"]["validation_examples"]
    assert chosen["validation_accuracy"] == max(e["mean_validation_accuracy"]
                                                for e in chosen["grid"])
    for group in workload["groups"]:
      assert [r["seed"] for r in group["runs"]] == [0, 1]
      for run in group["runs"]:
        assert not run["diverged"] and 0 < run["test_accuracy"] <= 1 and run["test_loss"] > 0
        assert [e["epoch"] for e in run["evaluations"]] == [2, 4, 6, 8, 10]
        expected = scoring.steps_to_target(run["evaluations"], workload["target"])
        assert run["steps_to_target"] == (None if math.isinf(expected) else expected)
        assert (run["time_to_target_s"] is None) == (run["steps_to_target"] is None)
  kept = sum(w["tuning"]["wall_time_s"] + w["scheduled_tuning"]["wall_time_s"]
             + sum(g["wall_time_s"] for g in w["groups"]) for w in document["workloads"])
  assert document["compute_time_s"] == pytest.approx(kept)
  assert 0 < document["compute_time_s"] <= document["wall_time_s"]
  noisy = document["workloads"][1]
  assert noisy["label_noise"] == 0.4 and noisy["clean_twin"] == "digits_mlp"
  markdown = (finished / "suite.md").read_text()
  assert "## Verdict" in markdown and "### digits_mlp_noise40" in markdown
  verdicts = markdown.split("## Final test accuracy")[0]
  assert verdicts.count("| tuned sgd |") == 2  # a row of each verdict table
  assert "Against tuned sgd:" in markdown and "Against tuned sgd + schedule:" in markdown
  assert "vs tuned sgd + schedule (points)" in markdown and "drop on digits_mlp_noise40" in markdown
  assert "## Final test accuracy" in markdown and "| *target* | *0.95* | *0.9* |" in markdown


def test_the_verdict_is_computed_from_the_cells(finished):
  document = json.loads((finished / "suite.json").read_text())
  by_name = {w["name"]: {r["optimizer"]: r for r in w["rows"]} for w in document["workloads"]}
  assert document["tuned_baselines"] == ["tuned sgd", "tuned sgd + schedule"]
  assert document["verdict"] == document["verdicts"]["tuned sgd"]
  for baseline, optimizer, verdict in [(b, o, v) for b, verdicts in document["verdicts"].items()
                                       for o, v in verdicts.items()]:
    tuned = {w: rows[baseline]["test_accuracy"] for w, rows in by_name.items()}
    mine = {w: rows[optimizer]["test_accuracy"] for w, rows in by_name.items()}
    assert verdict["within_1_point_of_tuned"] == sum(
        tuned[w] - mine[w] <= 0.01 + 1e-9 for w in by_name)
    reached = 0
    for rows in by_name.values():
      steps = [math.inf if s is None else s for s in rows[optimizer]["per_seed_steps_to_target"]]
      reached += math.isfinite(statistics.median(steps))
    assert verdict["targets_reached"] == reached
    clean, noisy = by_name["digits_mlp"][optimizer], by_name["digits_mlp_noise40"][optimizer]
    assert verdict["noise_drop_from_clean_twin"]["digits_mlp_noise40"] == pytest.approx(
        clean["test_accuracy"] - noisy["test_accuracy"])
    assert 0 <= document["profile"]["optimizers"][optimizer]["score"] <= 1


def test_every_optimizer_is_paired_by_seed_with_the_first(finished):
  document = json.loads((finished / "suite.json").read_text())
  markdown = (finished / "suite.md").read_text()
  assert "## Paired by seed" in markdown and "scipy.stats.ttest_rel" in markdown
  for workload in document["workloads"]:
    first, *others = workload["rows"]
    for row in others:
      mine, theirs = row["per_seed_test_accuracy"], first["per_seed_test_accuracy"]
      paired = suite_report.paired_difference(row, first)
      differences = [a - b for a, b in zip(mine, theirs, strict=True)]
      assert paired["pairs"] == 2
      assert paired["mean_difference"] == pytest.approx(statistics.fmean(differences))
      assert paired["std_difference"] == pytest.approx(statistics.pstdev(differences))
      if len(set(differences)) > 1:
        assert paired["p_value"] == pytest.approx(stats.ttest_rel(mine, theirs).pvalue)
      cell = (f"{100 * paired['mean_difference']:+.2f} ± {100 * paired['std_difference']:.2f} "
              f"(p {format(paired['p_value'], '.2g')})")
      line = next(x for x in markdown.split("## Paired by seed")[1].splitlines()
                  if x.startswith(f"| {row['optimizer']} |"))
      assert cell in line


def test_report_only_writes_the_same_report_again_and_trains_nothing(finished, tmp_path,
                                                                    monkeypatch, capsys):
  copy = tmp_path / "finished"
  shutil.copytree(finished, copy, ignore=shutil.ignore_patterns(".lock"))
  for name in ("suite.md", "profile.png", "accuracy.png"):
    (copy / name).unlink()
  monkeypatch.setattr(suite, "run_suite", lambda *a, **k: pytest.fail("it trained"))
  assert suite.main(["--out", str(copy), "--report-only"]) == 0
  assert (copy / "suite.md").read_text() == (finished / "suite.md").read_text()
  assert (copy / "suite.json").read_text() == (finished / "suite.json").read_text()
  assert (copy / "profile.png").stat().st_size > 0 and (copy / "accuracy.png").stat().st_size > 0
  capsys.readouterr()
  for out, fragment in ((tmp_path, "holds no suite.json"), (None, "needs --out")):
    with pytest.raises(SystemExit) as exited:
      suite.main(["--report-only"] + (["--out", str(out)] if out else []))
    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert fragment in line


def test_an_interrupted_suite_resumes_to_the_same_result(finished, tmp_path, monkeypatch,
                                                         capsys):
  out = tmp_path / "interrupted"
  real = multiseed.train_seeds
  calls = []

  def interrupted_after_three(*args, **kwargs):
    calls.append(1)
    if len(calls) == 4:
      raise KeyboardInterrupt
    return real(*args, **kwargs)

  monkeypatch.setattr(multiseed, "train_seeds", interrupted_after_three)
  with pytest.raises(SystemExit) as exit_info:
    suite.main([QUICK, "--out", str(out)])
  assert exit_info.value.code == 130
  kept = sorted(p.name for p in (out / "cells" / "digits_mlp").iterdir())
  assert len(kept) == 5 and {"tuning.json", "scheduled_tuning.json"} <= set(kept)  # + 3 groups
  monkeypatch.setattr(multiseed, "train_seeds", real)
  real_train_cells, tuned = sweep.train_cells, []

  def counted_train_cells(*args, **kwargs):
    tuned.append(1)
    return real_train_cells(*args, **kwargs)

  monkeypatch.setattr(sweep, "train_cells", counted_train_cells)
  assert suite.main([QUICK, "--out", str(out)]) == 0
  assert len(tuned) == 3  # only the second workload's grids were left: 1 + 1 per weight decay
  resumed = json.loads((out / "suite.json").read_text())
  expected = json.loads((finished / "suite.json").read_text())
  assert without_timings(resumed) == without_timings(expected)


def test_tuning_looks_at_a_validation_split_of_the_training_set_only(monkeypatch):
  config = config_lib.load("configs/default.yaml", ["train.epochs=1"])
  dataset = data.load(config.dataset)
  seen = []

  def fake_train_cells(swept, held_out, cells, chunk_size=None):
    seen.append(held_out)
    return [{"cell": c, "diverged": False, "test_accuracy": c.learning_rate,
             "test_loss": 1.0, "final_loss": 1.0, "device": 0, "chunk_size": 1}
            for c in cells]

  monkeypatch.setattr(sweep, "train_cells", fake_train_cells)
  result = suite.tune(config, dataset, suite.TuningConfig(validation_fraction=0.25))
  (held_out,) = seen
  rows = lambda x: {a.tobytes() for a in x}
  assert rows(held_out.test_x) | rows(held_out.train_x) == rows(dataset.train_x)
  assert len(held_out.train_y) + len(held_out.test_y) == len(dataset.train_y)
  assert abs(len(held_out.test_y) - 0.25 * len(dataset.train_y)) <= 10
  assert not rows(held_out.test_x) & rows(dataset.test_x) - rows(dataset.train_x)
  assert result["learning_rate"] == 1.0  # the best validation score chose it
  assert result["validation_examples"] == len(held_out.test_y)


def write_suite(tmp_path, **changes):
  base = yaml.safe_load(open(QUICK))
  base.update(changes)
  path = tmp_path / "suite.yaml"
  for workload in base["workloads"]:
    workload["config"] = str((config_lib.DEFAULT_CONFIG.parent / workload["config"]).resolve())
  path.write_text(yaml.safe_dump(base))
  return path


@pytest.mark.parametrize("changes, fragment", [
    ({"seeds": []}, "config key 'workloads': a suite needs"),
    ({"eval_every": 0}, "config key 'eval_every': must be a positive integer"),
    ({"workloads": [{"name": "a", "config": "default.yaml", "target": 0.9,
                     "clean_twin": "b"}]}, "config key 'workloads[0].clean_twin'"),
    ({"workloads": [{"name": "a", "config": "missing.yaml", "target": 0.9}]},
     "workloads[0] (a): config file"),
    ({"workloads": [{"name": "a", "config": "default.yaml", "target": 1.5}]},
     "config key 'workloads[0].target'"),
    ({"tuning": {"validation_fraction": 0.9}}, "config key 'tuning.validation_fraction'"),
    ({"optimizers": [{"name": "lion"}]}, "config key 'optimizers[0].name'"),
])
def test_bad_suite_configs_exit_2_with_one_line(tmp_path, capsys, changes, fragment):
  path = write_suite(tmp_path, **changes)
  with pytest.raises(SystemExit) as exit_info:
    suite.main([str(path), "--out", str(tmp_path / "out")])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and fragment in err[0], err


def test_a_changed_config_in_an_existing_out_is_refused_unless_forced(finished, capsys):
  with pytest.raises(SystemExit) as exit_info:
    suite.main([QUICK, "--set", "seeds=[0]", "--out", str(finished)])
  assert exit_info.value.code == 2
  assert "different config" in capsys.readouterr().err


def test_an_optional_workload_without_its_data_is_skipped_with_its_reason(tmp_path):
  path = write_suite(tmp_path, workloads=[
      {"name": "digits", "config": "default.yaml", "target": 0.5,
       "overrides": ["train.epochs=1", "train.progress=false"]},
      {"name": "fashion", "config": "fashion_mnist_mlp.yaml", "target": 0.5, "optional": True,
       "overrides": [f"dataset.path={tmp_path / 'absent'}"]}],
      optimizers=[{"name": "dual_process"}], seeds=[0],
      tuning={"learning_rates": {"min": 0.1, "max": 0.1, "num": 1}, "momenta": [0.9]})
  assert suite.main([str(path), "--out", str(tmp_path / "out")]) == 0
  document = json.loads((tmp_path / "out" / "suite.json").read_text())
  assert [w["name"] for w in document["workloads"]] == ["digits"]
  assert document["skipped"][0]["name"] == "fashion"
  assert "not found" in document["skipped"][0]["reason"]
  assert "Skipped fashion" in (tmp_path / "out" / "suite.md").read_text()
