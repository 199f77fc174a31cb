"""The workload suite end to end on configs/suite_quick.yaml: content, resume, honesty."""

import json
import math
import shutil
import statistics

import pytest
import yaml

from experiments import config as config_lib
from experiments import data, suite
from experiments.analysis import equivalence, scoring, tuning_curves
from experiments.training import lanes, multiseed
from experiments.workflows import search as search_engine
from experiments.workflows import suite as suite_engine

QUICK = "configs/suite_quick.yaml"
TIMINGS = ("wall_time_s", "compute_time_s", "train_seconds", "time_to_target_s",
           "median_time_to_target_s", "search_seconds", "measured_seconds",
           "measured_over_estimated")


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


UNITS = [("digits_mlp@1x", "cross_entropy", 1, 4), ("digits_mlp+dual_process_loss@1x",
                                                     "dual_process", 1, 4),
         ("digits_mlp_short@2x", "cross_entropy", 2, 4)]
LABELS = ["tuned sgd", "tuned adam", "tuned sgd + schedule", "tuned sgd m0.9", "pair + tuned wd",
          "tuned sgd + schedule no wd"]


def test_writes_every_output_with_every_field(finished):
  for name in ("suite.json", "suite.md", "profile.png", "profile-dual_process-1x.png",
               "profile-cross_entropy-2x.png", "accuracy.png", "curves-digits-mlp-1x.png",
               "curves-digits-mlp-dual-process-loss-1x.png", "curves-digits-mlp-short-2x.png"):
    assert (finished / name).stat().st_size > 0, name
  document = json.loads((finished / "suite.json").read_text())
  assert document["config"]["seeds"] == [0, 1, 2] and document["versions"]["jax"]
  assert [(w["name"], w["loss"], w["budget"], w["epochs"]) for w in document["workloads"]] == UNITS
  assert document["losses"] == ["cross_entropy", "dual_process"]
  # What the run was declared to be, recorded beside it.
  import dualprocess

  assert document["dualprocess_version"] == dualprocess.__version__
  assert document["trial_seeds"] == [1000, 1001] and document["final_seeds"] == [0, 1, 2]
  assert not set(document["trial_seeds"]) & set(document["final_seeds"])
  assert document["budgets"] == [1, 2] and list(document["search_spaces"]) == LABELS
  styles = {k: v["weight_decay_style"] for k, v in document["search_spaces"].items()}
  assert styles["tuned sgd + schedule"] == "decoupled" and styles["tuned sgd"] == "l2"
  for workload in document["workloads"]:
    check_workload(workload)
  # Every final run's curves: its evaluations, seed by seed, as metrics.jsonl.
  for workload in document["workloads"]:
    for i, group in enumerate(workload["groups"]):
      folder = next((finished / "runs" / workload["name"]).glob(f"{i:02d}-*"))
      for run in group["runs"]:
        logged = [json.loads(line) for line in
                  (folder / f"seed{run['seed']}" / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in logged] == [e["step"] for e in run["evaluations"]]
        assert [r["validation_accuracy"] for r in logged] == [
            e["validation_accuracy"] for e in run["evaluations"]]
  markdown = (finished / "suite.md").read_text()
  assert "## cross_entropy loss" in markdown and "## dual_process loss" in markdown
  assert "break-even vs tuned adam" in markdown
  assert "### digits_mlp+dual_process_loss@1x" in markdown
  assert "test at best validation" in markdown and "expected test of the best of 3" in markdown
  assert "the test set's own standard error" in markdown and "last-quarter gain" in markdown


def check_workload(workload):
  assert [r["optimizer"] for r in workload["rows"]] == [
      "double_bayesian (computed)", "adam (1e-3, untuned)", *LABELS]
  assert list(workload["searches"]) == LABELS == list(workload["curves"])
  reference_seeds = workload["rows"][0]["per_seed_validation_accuracy"]
  for label, trials in workload["searches"].items():
    assert len(trials) == 3
    for trial in trials:
      assert set(trial) >= {"learning_rate", "momentum", "weight_decay",
                            "validation_accuracy", "diverged", "per_seed_validation_accuracy",
                            "per_seed_test_accuracy", "test_accuracy"}
      assert trial["seeds"] == [1000, 1001]
      assert trial["validation_accuracy"] == pytest.approx(
          statistics.fmean(trial["per_seed_validation_accuracy"]))
    curve = workload["curves"][label]
    assert len(curve["expected_best_validation_accuracy"]) == 3
    assert curve["expected_best_validation_accuracy"][0] == pytest.approx(
        statistics.fmean(t["validation_accuracy"] for t in trials))
    assert len(curve["band_low"]) == len(curve["band_high"]) == 3
    reference = statistics.fmean(reference_seeds)
    assert curve["reference_validation_accuracy"] == pytest.approx(reference)
    k = curve["break_even_trials"]
    assert k == tuning_curves.break_even_trials(curve["expected_best_validation_accuracy"],
                                                reference)
    # What a search delivers on test: k = 1 is the mean of the trials' test accuracies,
    # k = N weighs the trials by their validation rank.
    delivered = curve["expected_test_accuracy_of_best"]
    assert delivered[0] == pytest.approx(statistics.fmean(t["test_accuracy"] for t in trials))
    assert delivered == pytest.approx(tuning_curves.expected_at_best(
        [t["validation_accuracy"] for t in trials], [t["test_accuracy"] for t in trials]))
    # The baseline's retrained entry is its best trial on validation.
    best = max(trials, key=lambda t: t["validation_accuracy"])
    group = next(g for g in workload["groups"] if g["baseline"] == label)
    assert group["learning_rate"] == pytest.approx(best["learning_rate"])
  adam_trials = workload["searches"]["tuned adam"]
  assert all(1e-4 <= t["learning_rate"] <= 0.1 for t in adam_trials)
  scheduled = workload["searches"]["tuned sgd + schedule"]
  assert all(t["momentum"] == 0.9 and 1e-5 <= t["weight_decay"] <= 0.01 for t in scheduled)
  assert all(0 <= t["momentum"] <= 0.99 for t in workload["searches"]["tuned sgd"])
  pair = workload["searches"]["pair + tuned wd"]  # the pair's numbers, its decay drawn
  assert all((t["learning_rate"], t["momentum"]) == pytest.approx((0.015868, 0.874032), abs=1e-6)
             and 1e-5 <= t["weight_decay"] <= 0.01 for t in pair)
  assert all(t["weight_decay"] is None for t in workload["searches"]["tuned sgd m0.9"])
  evaluated = list(range(2, workload["epochs"] + 1, 2))
  for group in workload["groups"]:
    assert [r["seed"] for r in group["runs"]] == [0, 1, 2]
    for run in group["runs"]:
      assert not run["diverged"] and 0 < run["test_accuracy"] <= 1
      assert [e["epoch"] for e in run["evaluations"]] == evaluated
      assert all(e["validation_accuracy"] is not None for e in run["evaluations"])
      expected = scoring.steps_to_target(run["evaluations"], workload["target"])
      assert run["steps_to_target"] == (None if math.isinf(expected) else expected)
      best_eval = max(run["evaluations"], key=lambda e: e["validation_accuracy"])
      assert run["test_accuracy_at_best_validation"] == best_eval["test_accuracy"]
  for row in workload["rows"]:  # still improving at the end of the budget?
    assert row["median_best_validation_epoch"] in (None, *evaluated)
    assert (row["last_quarter_validation_gain"] is None) == (len(evaluated) < 2)
  # No declared target: the rule, read from the trials' validation accuracies only.
  best_trial = max(t["validation_accuracy"] for ts in workload["searches"].values()
                   for t in ts)
  assert not workload["target_declared"]
  assert workload["target"] == math.floor(1000 * (best_trial - 0.02) + 1e-9) / 1000
  assert workload["margin"] == 0.01


def test_verdicts_are_equivalence_tests_against_the_reference(finished):
  document = json.loads((finished / "suite.json").read_text())
  for workload in document["workloads"]:
    first, *others = workload["rows"]
    for row in others:
      verdict = workload["comparisons"][row["optimizer"]]
      mine, theirs = row["per_seed_test_accuracy"], first["per_seed_test_accuracy"]
      expected = equivalence.compare(mine, theirs, 0.01, 0.05)
      assert verdict["verdict"] == expected["verdict"]
      assert verdict["corrected_verdict"] in (verdict["verdict"], "inconclusive")
      assert verdict["margin"] == 0.01 and verdict["n"] == 3
      assert verdict["verdict_with_margin"] == equivalence.with_margin(verdict)
      if verdict["corrected_verdict"] == "inconclusive":
        assert verdict["minimum_detectable_effect"] > 0
      if expected["interval"] is not None:
        assert verdict["interval"] == pytest.approx(expected["interval"])
      assert row["test_accuracy_std"] == pytest.approx(statistics.stdev(mine))
      low, high = row["test_accuracy_interval"]
      assert low < row["test_accuracy"] < high or low == high
  for loss, summary in document["break_even"].items():
    assert set(summary) == set(LABELS), loss
  for profile in document["profiles"].values():
    for entry in profile["optimizers"].values():
      assert entry["score"] is None or 0 <= entry["score"] <= 1


def test_report_only_writes_the_same_report_again_and_trains_nothing(finished, tmp_path,
                                                                    monkeypatch, capsys):
  copy = tmp_path / "finished"
  shutil.copytree(finished, copy, ignore=shutil.ignore_patterns(".lock"))
  for name in ("suite.md", "profile.png", "accuracy.png"):
    (copy / name).unlink()
  monkeypatch.setattr(suite_engine, "run_suite", lambda *a, **k: pytest.fail("it trained"))
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


def test_an_interrupted_suite_resumes_to_the_same_result(finished, tmp_path, monkeypatch):
  # The finished suite less its last search and groups: what a stop would have left.
  out = tmp_path / "interrupted"
  shutil.copytree(finished, out, ignore=shutil.ignore_patterns(".lock", "suite.json"))
  last = out / "cells" / "digits_mlp_short@2x"
  (last / "search" / "tuned-adam.json").unlink()
  for group in sorted(last.glob("0*.json"))[-2:]:
    group.unlink()

  def interrupted(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(lanes, "train_cells", interrupted)
  with pytest.raises(SystemExit) as exit_info:
    suite.main([QUICK, "--out", str(out)])
  assert exit_info.value.code == 130
  monkeypatch.undo()
  real_train_cells, real_train_seeds, searched, trained = (lanes.train_cells,
                                                           multiseed.train_seeds, [], [])

  def counted_train_cells(*args, **kwargs):
    searched.append(1)
    return real_train_cells(*args, **kwargs)

  def counted_train_seeds(*args, **kwargs):
    trained.append(1)
    return real_train_seeds(*args, **kwargs)

  monkeypatch.setattr(lanes, "train_cells", counted_train_cells)
  monkeypatch.setattr(multiseed, "train_seeds", counted_train_seeds)
  assert suite.main([QUICK, "--out", str(out)]) == 0
  assert len(searched) == 1 and len(trained) == 2  # only what was missing
  resumed = json.loads((out / "suite.json").read_text())
  expected = json.loads((finished / "suite.json").read_text())
  assert without_timings(resumed) == without_timings(expected)


def test_trials_look_at_a_validation_split_of_the_training_set_only(monkeypatch):
  config = config_lib.load("configs/default.yaml", ["train.epochs=1"])
  dataset = data.load(config.dataset)
  training, held_out = suite_engine.validation_split(dataset, 0.25, seed=0)
  rows = lambda x: {a.tobytes() for a in x}
  assert rows(held_out.test_x) | rows(held_out.train_x) == rows(dataset.train_x)
  assert len(held_out.train_y) + len(held_out.test_y) == len(dataset.train_y)
  assert abs(len(held_out.test_y) - 0.25 * len(dataset.train_y)) <= 10
  assert not rows(held_out.test_x) & (rows(dataset.test_x) - rows(dataset.train_x))
  # The final runs train on the same part and validate on the same split.
  assert rows(training.train_x) == rows(held_out.train_x)
  assert rows(training.validation[0]) == rows(held_out.test_x)
  assert rows(training.test_x) == rows(dataset.test_x)
  seen = []

  def fake_train_cells(swept, trained_on, cells, validation=None, **kwargs):
    seen.append((trained_on, validation))
    return [{"cell": c, "diverged": c.learning_rate > 0.5, "test_accuracy": 0.5,
             "validation_accuracy": c.learning_rate} for c in cells]

  monkeypatch.setattr(lanes, "train_cells", fake_train_cells)
  space = config_lib.SearchSpace(label="tuned sgd",
                                 learning_rate=config_lib.LogUniform(0.01, 1.0))
  trials = search_engine.run(config, training, space, search_engine.draw(space, 8, 0, 0), [0])
  # Trained on the training part, scored on the validation split.
  assert len(seen) == 1 and seen[0][0] is training and seen[0][1] is training.validation
  for trial in trials:  # scored on validation; a diverged trial at chance level
    expected = 0.1 if trial["learning_rate"] > 0.5 else trial["learning_rate"]
    assert trial["validation_accuracy"] == pytest.approx(expected)
  assert search_engine.draw(space, 8, 0, 0) == search_engine.draw(space, 8, 0, 0)
  assert search_engine.draw(space, 8, 0, 0) != search_engine.draw(space, 8, 0, 1)


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
    ({"validation_fraction": 0.9}, "config key 'validation_fraction'"),
    ({"margin": 0}, "config key 'margin'"),
    ({"search": {"trials": 0}}, "config key 'search.trials'"),
    ({"search": {"spaces": [{"label": "a", "learning_rate": {"min": 1, "max": 0.1}}]}},
     "config key 'search.spaces[0].learning_rate'"),
    ({"search": {"spaces": [{"label": "a", "name": "adam", "momentum": 0.9}]}},
     "config key 'search.spaces[0].momentum'"),
    ({"optimizers": [{"name": "lion"}]}, "config key 'optimizers[0].name'"),
    ({"seeds": [0, 1000]}, "config key 'seeds': [1000] also in search.trial_seeds"),
    ({"budgets": [1, 1]}, "config key 'budgets': distinct multiples"),
    ({"workloads": [{"name": "a", "config": "default.yaml", "budgets": [4]}]},
     "config key 'workloads[0].budgets': 4 is not one of the suite's budgets"),
    ({"search": {"spaces": [{"label": "a", "name": "dual_process", "learning_rate": None,
                             "preset": "double_bayesian"}]}},
     "config key 'search.spaces[0].weight_decay': a preset leaves only the weight decay"),
    ({"search": {"spaces": [{"label": "a", "name": "dual_process"}]}},
     "config key 'search.spaces[0].preset': dual_process is searched with a preset"),
    ({"search": {"spaces": [{"label": "a", "name": "sgd", "weight_decay_style": "both"}]}},
     "config key 'search.spaces[0].weight_decay_style'"),
    ({"search": {"trial_seeds": []}}, "config key 'search.trial_seeds': distinct seeds"),
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
      optimizers=[{"name": "dual_process"}], seeds=[0], losses=["cross_entropy"], budgets=[1],
      search={"trials": 1, "spaces": [{"label": "tuned sgd", "momentum": 0.9,
                                        "learning_rate": {"min": 0.1, "max": 0.2}}]})
  assert suite.main([str(path), "--out", str(tmp_path / "out")]) == 0
  document = json.loads((tmp_path / "out" / "suite.json").read_text())
  assert [w["name"] for w in document["workloads"]] == ["digits"]
  assert document["skipped"][0]["name"] == "fashion"
  assert "not found" in document["skipped"][0]["reason"]
  assert "Skipped fashion" in (tmp_path / "out" / "suite.md").read_text()


def test_report_only_on_an_unfinished_suite_reports_its_finished_part(finished, tmp_path,
                                                                      monkeypatch):
  copy = tmp_path / "unfinished"
  shutil.copytree(finished, copy, ignore=shutil.ignore_patterns(".lock", "suite.json"))
  last = copy / "cells" / "digits_mlp+dual_process_loss@1x"
  sorted(last.glob("0*.json"))[-1].unlink()
  monkeypatch.setattr(multiseed, "train_seeds", lambda *a, **k: pytest.fail("it trained"))
  monkeypatch.setattr(lanes, "train_cells", lambda *a, **k: pytest.fail("it searched"))
  assert suite.main([QUICK, "--out", str(copy), "--report-only"]) == 0
  partial = json.loads((copy / "suite_partial.json").read_text())
  expected = json.loads((finished / "suite.json").read_text())
  assert [w["name"] for w in partial["workloads"]] == ["digits_mlp@1x"]
  assert partial["partial"].startswith("1 of 3 workload runs finished")
  assert without_timings(partial["workloads"][0]) == without_timings(expected["workloads"][0])
  assert "**Partial report: 1 of 3" in (copy / "suite.md").read_text()
  assert not (copy / "suite.json").exists()


def test_plan_states_the_cost_before_anything_trains_and_the_run_records_it(finished, capsys,
                                                                           monkeypatch):
  monkeypatch.setattr(multiseed, "train_seeds", lambda *a, **k: pytest.fail("it trained"))
  assert suite.main([QUICK, "--plan"]) == 0
  printed = capsys.readouterr().out
  for name, *_ in UNITS:
    assert f"| {name} |" in printed
  assert "in all:" in printed and "compilations" in printed and "MiB" in printed
  document = json.loads((finished / "suite.json").read_text())
  plan = document["plan"]
  assert [u["name"] for u in plan["units"]] == [name for name, *_ in UNITS]
  for unit, workload in zip(plan["units"], document["workloads"], strict=True):
    trials = document["config"]["search"]["trials"]
    assert unit["search_lanes"] == len(LABELS) * trials * len(document["trial_seeds"])
    assert unit["final_runs"] == len(workload["rows"]) * len(document["final_seeds"])
    assert unit["epochs"] == workload["epochs"] and unit["estimated_seconds"] > 0
    measured = (sum(workload["search_seconds"].values())
                + sum(g["wall_time_s"] for g in workload["groups"]))
    assert unit["measured_seconds"] == pytest.approx(measured)
    assert unit["measured_over_estimated"] == pytest.approx(measured / unit["estimated_seconds"])
  assert (finished / "plan.json").is_file()
