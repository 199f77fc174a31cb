"""Stopping safely: SIGTERM and SIGINT at several moments, damaged checkpoints, reruns.

Real subprocesses get real signals; every interrupted command must exit
128 + the signal with one line, and its rerun must give exactly what an
uninterrupted run gives.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

from experiments import compare, run, sweep
from experiments.training import checkpoint as checkpoint_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "dataset.limit_train=320", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=16", "--set", "train.batch_size=32",
        "--set", "train.progress=false", "--set", "train.checkpoint_every=10"]  # each epoch
TIMINGS = ("wall_time_s", "train_time_s", "compile_time_s", "examples_per_s", "peak_rss_mib",
           "resumed_from_step")


def read(out, name):
  return json.loads((out / name).read_text())


def metrics(out):
  return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def steps_saved(out):
  folder = out / "checkpoints"
  return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) \
      if folder.is_dir() else []


def signal_when(module, argv, out, signum, when, second=False, timeout=120):
  """Starts ``python -m module``, sends ``signum`` once ``when()`` holds; (code, stderr)."""
  process = subprocess.Popen([sys.executable, "-m", module, *argv, "--out", str(out)],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None and not when():
    time.sleep(0.005)
  assert process.poll() is None, "the command ended before the signal: " + process.stderr.read()
  process.send_signal(signum)
  if second:
    time.sleep(0.05)
    process.send_signal(signum)
  _, stderr = process.communicate(timeout=timeout)
  return process.returncode, stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
  out = tmp_path_factory.mktemp("stop") / "reference"
  assert run.main(TINY + ["--out", str(out)]) == 0
  return out


def assert_same_run(out, reference):
  assert {k: v for k, v in read(out, "summary.json").items() if k not in TIMINGS} == \
      {k: v for k, v in read(reference, "summary.json").items() if k not in TIMINGS}
  assert metrics(out) == metrics(reference)  # every step once, the same numbers


def test_signals_at_three_moments_then_the_same_run(reference, tmp_path):
  out = tmp_path / "run"
  moments = [
      # during start-up (data, compilation): before any step or checkpoint
      (signal.SIGTERM, lambda: (out / "config.yaml").exists()),
      # inside the training, some epochs after a checkpoint
      (signal.SIGINT, lambda: len(steps_saved(out)) >= 2 and steps_saved(out)[-1] >= 50),
      # while Orbax writes a checkpoint (a temporary entry), else soon after one
      (signal.SIGTERM, lambda: any(not p.name.isdigit() for p in (out / "checkpoints").iterdir())
       or steps_saved(out)[-1] >= 100),
  ]
  last_step = -1
  for signum, when in moments:
    code, stderr = signal_when("experiments.run", TINY, out, signum, when)
    assert code == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"interrupted by {signal.Signals(signum).name} at step "), stderr
    summary = read(out, "summary.json")
    assert summary["status"] == "interrupted" and summary["signal"] == signal.Signals(signum).name
    assert summary["step"] > last_step and f"at step {summary['step']}" in lines[0]
    assert summary["step"] in steps_saved(out) or summary["step"] == 0
    last_step = summary["step"]
  assert last_step > 50  # the third stop came after the second one's resume
  assert run.main(TINY + ["--out", str(out)]) == 0
  assert_same_run(out, reference)


def test_a_second_signal_exits_at_once_and_keeps_the_checkpoints(reference, tmp_path):
  out = tmp_path / "run"
  code, _ = signal_when("experiments.run", TINY, out, signal.SIGTERM,
                        lambda: len(steps_saved(out)) >= 3, second=True)
  assert code == 143
  assert run.main(TINY + ["--out", str(out)]) == 0
  assert_same_run(out, reference)


def damage(checkpoint, how):
  if how == "truncated data file":
    data_files = [p for p in checkpoint.rglob("*") if p.is_file() and p.parent.name == "d"]
    biggest = max(data_files, key=lambda p: p.stat().st_size)
    os.truncate(biggest, biggest.stat().st_size // 3)
  elif how == "deleted file":
    for manifest in checkpoint.rglob("manifest.ocdbt"):
      manifest.unlink()
  elif how.startswith("garbled metadata"):
    for metadata in list(checkpoint.rglob("_METADATA")) + [checkpoint / "_CHECKPOINT_METADATA"]:
      metadata.write_text("{not json")
  if how.endswith("record rewritten"):  # damage our integrity record cannot see: Orbax's error
    (checkpoint / checkpoint_lib.INTEGRITY).write_text(json.dumps(
        checkpoint_lib._fingerprint(checkpoint)))


@pytest.mark.parametrize("how", ["truncated data file", "deleted file", "garbled metadata",
                                 "garbled metadata, record rewritten"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous(reference, tmp_path, capsys,
                                                                 how):
  out = tmp_path / "run"
  shutil.copytree(reference, out)
  newest = steps_saved(out)[-1]
  damage(out / "checkpoints" / str(newest), how)
  (out / "summary.json").unlink()
  assert run.main(TINY + ["--out", str(out)]) == 0
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and f"checkpoint '{out.resolve() / 'checkpoints' / str(newest)}' " \
      "cannot be read" in err[0], err
  assert "Traceback" not in "".join(err)
  assert read(out, "summary.json")["resumed_from_step"] == steps_saved(reference)[-2]
  assert (out / "damaged_checkpoints" / str(newest)).is_dir()
  assert_same_run(out, reference)


def test_when_no_checkpoint_reads_the_run_exits_2_naming_the_folder(reference, tmp_path,
                                                                     capsys):
  out = tmp_path / "run"
  shutil.copytree(reference, out)
  for step in steps_saved(out):
    damage(out / "checkpoints" / str(step), "garbled metadata")
  with pytest.raises(SystemExit) as exit_info:
    run.main(TINY + ["--out", str(out)])
  assert exit_info.value.code == 2
  last = capsys.readouterr().err.strip().splitlines()[-1]
  assert last == (f"error: checkpoint folder '{(out / 'checkpoints').resolve()}': no checkpoint "
                  "in it can be read; use --force to start the run over")
  assert run.main(TINY + ["--out", str(out), "--force"]) == 0
  assert_same_run(out, reference)


def without_timings(value):
  if isinstance(value, dict):
    return {k: without_timings(v) for k, v in value.items()
            if k not in TIMINGS and k != "versions"}
  if isinstance(value, list):
    return [without_timings(v) for v in value]
  return value


def test_compare_stops_after_the_run_in_flight_and_resumes(tmp_path):
  config = tmp_path / "compare.yaml"
  config.write_text(yaml.safe_dump({
      "dataset": {"name": "digits", "limit_train": 256},
      "model": {"name": "mlp", "hidden_sizes": [16]},
      "train": {"epochs": 2, "batch_size": 32, "progress": False},
      "compare": {"seeds": [0, 1, 2], "optimizers": [{"name": "dual_process"}]}}))
  reference = tmp_path / "reference"
  assert compare.main([str(config), "--out", str(reference)]) == 0
  out = tmp_path / "out"
  started = lambda: (out / "runs").is_dir() and any((out / "runs").rglob("*.json"))
  code, stderr = signal_when("experiments.compare", [str(config)], out, signal.SIGINT, started)
  assert code == 130
  assert stderr.strip().splitlines()[-1].startswith("interrupted by SIGINT after ")
  assert not (out / "comparison.json").exists()
  finished = len(list((out / "runs").rglob("*.json")))
  assert 1 <= finished < 3
  assert compare.main([str(config), "--out", str(out)]) == 0
  assert without_timings(read(out, "comparison.json")) == \
      without_timings(read(reference, "comparison.json"))
  # Kept runs belong to their config: another config there is refused, or starts over.
  with pytest.raises(SystemExit) as exit_info:
    compare.main([str(config), "--set", "train.epochs=1", "--out", str(out)])
  assert exit_info.value.code == 2
  assert compare.main([str(config), "--set", "train.epochs=1", "--out", str(out),
                       "--force"]) == 0
  assert all(r["steps"] == 8 for r in map(json.loads, map(
      lambda p: p.read_text(), (out / "runs").rglob("*.json"))))


def test_sweep_stops_after_the_chunk_in_flight_and_resumes(tmp_path):
  argv = ["configs/sweep_digits.yaml", "--set", "dataset.limit_train=256",
          "--set", "model.hidden_sizes=[16]", "--set", "train.epochs=2",
          "--set", "sweep.learning_rates={min: 0.01, max: 0.1, num: 2}",
          "--set", "sweep.momenta=[0.9]", "--set", "sweep.seeds=[0]",
          "--set", "sweep.chunk_size=1"]  # six chunks: the signal lands well before the end
  reference = tmp_path / "reference"
  assert sweep.main(argv + ["--out", str(reference)]) == 0
  out = tmp_path / "out"
  code, stderr = signal_when("experiments.sweep", argv, out, signal.SIGTERM,
                             lambda: (out / "chunks").is_dir() and any((out / "chunks").iterdir()))
  assert code == 143
  assert stderr.strip().splitlines()[-1].startswith("interrupted by SIGTERM after ")
  assert not (out / "sweep.json").exists()
  assert sweep.main(argv + ["--out", str(out)]) == 0
  assert without_timings(read(out, "sweep.json")) == without_timings(read(reference,
                                                                          "sweep.json"))
  curves = lambda folder: {p.relative_to(folder): p.read_text()
                           for p in (folder / "cells").rglob("metrics.jsonl")}
  assert len(curves(out)) == 6 and curves(out) == curves(reference)  # each point once
