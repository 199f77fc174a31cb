"""End to end: outputs, determinism, resume, divergence, compare on a tiny budget."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

import dualprocess
from experiments import compare, run

# A checkpoint at every epoch's end (10 steps), as the kill points below expect.
TINY = ["--set", "dataset.limit_train=320", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=4", "--set", "train.batch_size=32", "--set", "train.progress=false",
        "--set", "train.checkpoint_every=10"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_metrics(out):
  return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_run_writes_every_output(tmp_path):
  out = tmp_path / "run"
  # 12 short epochs: the default (derived) pair's steady-state step is ~0.126.
  assert run.main(TINY + ["--set", "train.epochs=12", "--out", str(out)]) == 0
  for name in ("config.yaml", "metrics.jsonl", "summary.json", "curves.png"):
    assert (out / name).is_file(), name
  summary = json.loads((out / "summary.json").read_text())
  assert summary["status"] == "ok"
  for key in ("test_accuracy", "test_loss", "steps", "wall_time_s", "examples_per_s",
              "learning_rate", "momentum", "seed", "versions", "num_devices"):
    assert summary[key] is not None, key
  assert summary["steps"] == 12 * 10 and summary["num_devices"] == 1
  assert summary["optimizer"] == "dual_process"
  assert (summary["learning_rate"], summary["momentum"]) == dualprocess.hyperparameters()
  metrics = read_metrics(out)
  assert [m["step"] for m in metrics] == list(range(1, 121))
  for m in metrics:
    assert m["loss"] == pytest.approx(m["entropy"] + m["divergence"], abs=1e-4)
  assert metrics[-1]["test_accuracy"] == summary["test_accuracy"]
  assert yaml.safe_load((out / "config.yaml").read_text())["train"]["epochs"] == 12
  assert summary["test_accuracy"] > 0.5  # 12 short epochs already learn the digits


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
  outs = [tmp_path / name for name in ("a", "b", "c")]
  run.main(TINY + ["--out", str(outs[0])])
  run.main(TINY + ["--out", str(outs[1])])
  run.main(TINY + ["--set", "train.seed=1", "--out", str(outs[2])])
  a, b, c = (read_metrics(o) for o in outs)
  assert a == b
  assert [m["loss"] for m in a] != [m["loss"] for m in c]


def test_changed_config_in_existing_out_is_refused_unless_forced(tmp_path, capsys):
  out = tmp_path / "run"
  run.main(TINY + ["--out", str(out)])
  with pytest.raises(SystemExit) as exit_info:
    run.main(TINY + ["--set", "train.seed=3", "--out", str(out)])
  assert exit_info.value.code == 2
  assert "different config" in capsys.readouterr().err
  assert run.main(TINY + ["--set", "train.seed=3", "--out", str(out), "--force"]) == 0
  assert json.loads((out / "summary.json").read_text())["seed"] == 3
  assert [m["step"] for m in read_metrics(out)] == list(range(1, 41))


def checkpoint_entries(out):
  folder = out / "checkpoints"
  return [p.name for p in folder.iterdir()] if folder.is_dir() else []


def completed_epochs(out, steps_per_epoch=10):
  steps = max((int(name) for name in checkpoint_entries(out) if name.isdigit()), default=0)
  return steps // steps_per_epoch


def start_and_kill(out, argv, kill_when, timeout=120):
  """Starts a run in a subprocess and SIGKILLs it once kill_when(out) holds."""
  command = [sys.executable, "-m", "experiments.run", *argv, "--out", str(out)]
  process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None and not kill_when(out):
    time.sleep(0.002)
  killed_while_running = process.poll() is None
  process.send_signal(signal.SIGKILL)
  process.wait()
  return killed_while_running


def test_resume_after_repeated_sigkills_matches_uninterrupted_run(tmp_path):
  argv = TINY + ["--set", "train.epochs=16"]
  reference = tmp_path / "reference"
  run.main(argv + ["--out", str(reference)])
  expected = json.loads((reference / "summary.json").read_text())

  out = tmp_path / "killed"
  started = time.time()
  kill_points = [
      # before any checkpoint exists (start-up, compilation, first epochs)
      lambda o: (out / "metrics.jsonl").exists() and time.time() - started > 0,
      # right after the first checkpoint is complete
      lambda o: completed_epochs(o) >= 1,
      # while Orbax is writing a checkpoint (a temporary entry exists), else a few later
      lambda o: any(not n.isdigit() for n in checkpoint_entries(o)) or completed_epochs(o) >= 6,
      # mid-run, some epochs further on
      lambda o: completed_epochs(o) >= 10,
  ]
  landed = 0
  for kill_when in kill_points:
    landed += start_and_kill(out, argv, kill_when)
    assert not (out / "summary.json").exists(), "a kill came after the run had finished"
  assert landed == len(kill_points)
  assert run.main(argv + ["--out", str(out)]) == 0
  resumed = json.loads((out / "summary.json").read_text())
  assert resumed["resumed_from_step"] >= 10
  assert resumed["test_accuracy"] == expected["test_accuracy"]
  assert resumed["test_loss"] == expected["test_loss"]
  steps = [m["step"] for m in read_metrics(out)]
  assert steps == list(range(1, 16 * 10 + 1))  # every step once, none twice
  assert read_metrics(out) == read_metrics(reference)


# A CNN with dropout, trained on fold 1 of 5 of 400 digits (320 examples, 10 steps
# per epoch): its dropout masks come from its own stream, folded with the step.
DROPOUT_CNN = ["--set", "dataset.limit_train=400", "--set", "dataset.folds=5",
               "--set", "dataset.fold=1", "--set", "model.name=cnn", "--set", "model.channels=[4]",
               "--set", "model.kernel_sizes=[3]", "--set", "model.strides=[1]",
               "--set", "model.pool=2", "--set", "model.dropout=0.5"]


def test_checkpoints_inside_an_epoch_resume_to_the_same_result(tmp_path):
  # 10 steps per epoch, a checkpoint every 4 steps: segments of gcd(10, 4) = 2 steps.
  argv = TINY + DROPOUT_CNN + ["--set", "train.epochs=3", "--set", "train.checkpoint_every=4",
                               "--set", "train.keep_checkpoints=20"]
  reference = tmp_path / "reference"
  run.main(TINY + DROPOUT_CNN + ["--set", "train.epochs=3", "--out", str(reference)])
  summary = json.loads((reference / "summary.json").read_text())
  assert summary["num_train"] == 320 and summary["fold"] == 1
  assert 0 < summary["validation_accuracy"] <= 1 and 0 < summary["test_accuracy"] <= 1
  out = tmp_path / "mid_epoch"
  run.main(argv + ["--out", str(out)])
  saved = sorted(int(n) for n in checkpoint_entries(out) if n.isdigit())
  assert saved == [4, 8, 12, 16, 20, 24, 28, 30]
  # Same batches and the same result as the run cut only at epoch ends.
  assert read_metrics(out) == read_metrics(reference)
  # Resume from the mid-epoch checkpoint at step 16, as if killed just after it.
  import shutil
  for step in saved:
    if step > 16:
      shutil.rmtree(out / "checkpoints" / str(step))
  (out / "summary.json").unlink()
  run.main(argv + ["--out", str(out)])
  resumed = json.loads((out / "summary.json").read_text())
  assert resumed["resumed_from_step"] == 16
  assert read_metrics(out) == read_metrics(reference)
  expected = json.loads((reference / "summary.json").read_text())
  assert resumed["test_accuracy"] == expected["test_accuracy"]
  assert resumed["test_loss"] == expected["test_loss"]


def test_divergence_exits_3_and_records_the_step(tmp_path, capsys):
  out = tmp_path / "diverged"
  argv = TINY + ["--set", "optimizer.name=sgd", "--set", "optimizer.learning_rate=1e30",
                 "--set", "optimizer.momentum=0.9", "--out", str(out)]
  with pytest.raises(SystemExit) as exit_info:
    run.main(argv)
  assert exit_info.value.code == 3
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "non-finite" in err and "Traceback" not in err
  summary = json.loads((out / "summary.json").read_text())
  assert summary["status"] == "diverged" and summary["step"] >= 1
  assert read_metrics(out)[-1]["step"] == summary["step"]


def test_skip_nonfinite_counts_skipped_steps(tmp_path):
  out = tmp_path / "skipped"
  argv = TINY + ["--set", "optimizer.name=sgd", "--set", "optimizer.learning_rate=1e30",
                 "--set", "optimizer.momentum=0.9", "--set", "train.skip_nonfinite=true",
                 "--out", str(out)]
  assert run.main(argv) == 0
  summary = json.loads((out / "summary.json").read_text())
  assert summary["status"] == "ok" and summary["skipped_steps"] > 0


def test_compare_on_a_tiny_budget(tmp_path):
  config = tmp_path / "compare.yaml"
  config.write_text(yaml.safe_dump({
      "dataset": {"name": "digits", "limit_train": 320, "folds": 5},
      "model": {"name": "mlp", "hidden_sizes": [16]},
      "train": {"epochs": 2, "batch_size": 32, "progress": False},
      "compare": {"seeds": [0], "folds": [1, 3], "optimizers": [
          {"name": "dual_process", "preset": "information"},
          {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
          {"name": "sgd", "preset": "golden_partition"},
          {"name": "schedule_free_sgd"},
          {"name": "sgd", "learning_rate": 1e30, "momentum": 0.9, "label": "exploding"}]}}))
  out = tmp_path / "out"
  assert compare.main([str(config), "--out", str(out)]) == 0
  result = json.loads((out / "comparison.json").read_text())
  rows = result["rows"]
  assert len(rows) == 5
  for row in rows[:4]:
    assert 0.0 <= row["test_accuracy"] <= 1.0 and row["diverged"] == 0
    assert len(row["per_seed_test_accuracy"]) == 2 and row["folds"] == [1, 3]
    assert [(r["fold"], r["seed"]) for r in row["per_run"]] == [(1, 0), (3, 0)]
    assert all(0.0 <= r["validation_accuracy"] <= 1.0 for r in row["per_run"])
  # Every row after the first is paired with it, run by run (fold, seed).
  assert "vs_first" not in rows[0]
  first = [r["test_accuracy"] for r in rows[0]["per_run"]]
  for row in rows[1:4]:
    mine = [r["test_accuracy"] for r in row["per_run"]]
    paired = row["vs_first"]
    assert paired["pairs"] == 2 and "ttest_rel" in paired["test"]
    assert paired["mean_difference"] == pytest.approx((mine[0] - first[0] + mine[1] - first[1])
                                                      / 2)
    assert 0.0 <= paired["p_value"] <= 1.0
    verdict = paired["equivalence"]  # an equivalence test at the declared margin, Holm
    assert verdict["margin"] == 0.005 and verdict["corrected_verdict"] in (
        "equivalent", "better", "worse", "inconclusive", "no spread")
  assert rows[4]["vs_first"]["equivalence"]["verdict"] == "inconclusive"
  assert rows[4]["vs_first"] == {**rows[4]["vs_first"], "pairs": 0, "p_value": None}
  assert rows[0]["learning_rate"] + rows[0]["momentum"] == pytest.approx(1.0)
  assert rows[2]["learning_rate"] == pytest.approx((3 - 5 ** 0.5) / 2)
  assert rows[4]["diverged"] == 2 and rows[4]["test_accuracy"] is None
  assert (out / "comparison.md").read_text().count("\n|") == 7  # header, rule, five rows
  assert (out / "comparison.png").is_file()


def plan_lengths(plan, total):
  step, lengths = 0, []
  while step < total:
    lengths.append(plan.next_length(step))
    step += lengths[-1]
  return lengths


def test_segments_last_about_the_target_time_and_end_at_epochs_and_checkpoints():
  from experiments.training.segments import SegmentPlan
  # The first epoch: a divisor of it up to 50 steps (39 of MNIST's 468, batch 128).
  plan = SegmentPlan(468, 2 * 468, target_s=1.0)
  assert plan.next_length(0) == 39 and not plan.fixed
  assert plan.proposal(39, 0.39) == 78  # 10 ms a step: about 100; 78 divides the epoch
  assert plan.proposal(39, 0.001) == 468  # fast steps: a whole epoch, never more
  plan.fix(78, 39)  # from the next epoch end on: epoch 0 keeps its 39-step segments
  assert plan_lengths(plan, 2 * 468) == [39] * 12 + [78] * 6
  # A prime epoch: segments of the chosen length and one remainder, never 1-step ones.
  prime = SegmentPlan(97, 3 * 97)
  assert prime.next_length(0) == 50
  prime.fix(prime.proposal(50, 50 * 0.03), 50)  # 30 ms a step: 33 steps a second
  assert plan_lengths(prime, 3 * 97) == [50, 47] + [33, 33, 31] * 2
  # The main job's 44-step epoch is one segment from the start: one compilation.
  digits = SegmentPlan(44, 80 * 44)
  digits.fix(digits.proposal(44, 0.01), 44)
  assert set(plan_lengths(digits, 80 * 44)) == {44}
  # Step checkpoints cut segments too; a cap caps them; slow steps take one at a time.
  cut = SegmentPlan(10, 30, checkpoint_every=4)
  assert plan_lengths(cut, 30) == [4, 4, 2, 2, 4, 4, 4, 4, 2]  # ends at 10, 12, 20, 30
  assert SegmentPlan(468, 468, cap=20).next_length(0) == 18  # 18 divides 468
  assert SegmentPlan(468, 468, cap=20).proposal(50, 0.05) == 18
  assert SegmentPlan(468, 468, target_s=1.0).proposal(2, 5.0) == 1


def test_a_resume_mid_warmup_continues_the_schedule_exactly(tmp_path):
  # 30 steps, a 25-step warmup into a cosine decay, weight decay and clipping; killed
  # (as if) just after the checkpoint at step 10, in the middle of the warmup.
  argv = TINY + ["--set", "train.epochs=3", "--set", "optimizer.schedule.name=warmup_cosine",
                 "--set", "optimizer.schedule.warmup_steps=25", "--set",
                 "optimizer.weight_decay=0.01", "--set", "optimizer.clip_norm=0.5"]
  reference = tmp_path / "reference"
  assert run.main(argv + ["--out", str(reference)]) == 0
  out = tmp_path / "resumed"
  assert run.main(argv + ["--out", str(out)]) == 0
  import shutil
  for step in (20, 30):
    shutil.rmtree(out / "checkpoints" / str(step))
  (out / "summary.json").unlink()
  assert run.main(argv + ["--out", str(out)]) == 0
  resumed = json.loads((out / "summary.json").read_text())
  assert resumed["resumed_from_step"] == 10
  assert read_metrics(out) == read_metrics(reference)  # the schedule's count was restored
  expected = json.loads((reference / "summary.json").read_text())
  assert resumed["test_accuracy"] == expected["test_accuracy"]
  assert "warmup_cosine warmup 25 + wd 0.01 + clip 0.5" in resumed["label"]
  assert resumed["pipeline"]["schedule"]["warmup_steps"] == 25
