"""Output files: atomic writes, metrics never doubled, cut lines dropped, folders guarded."""

import fcntl
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import pytest

from experiments import config as config_lib
from experiments import outputs, run
from experiments.config import ConfigError


def test_write_text_is_atomic_and_leaves_no_temporary(tmp_path):
  path = tmp_path / "summary.json"
  outputs.write_json(path, {"a": 1.5})
  outputs.write_json(path, {"a": 2.5})
  assert json.loads(path.read_text()) == {"a": 2.5}
  assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_metrics_log_keeps_steps_up_to_the_checkpoint_once(tmp_path):
  path = tmp_path / "metrics.jsonl"
  log = outputs.MetricsLog(path)
  log.append([{"step": s, "loss": float(s)} for s in range(1, 8)])
  # A kill cut the last line short; a resume from step 4 keeps 1..4 only.
  path.write_text(path.read_text() + '{"step": 8, "lo')
  resumed = outputs.MetricsLog(path, resume_step=4)
  assert [r["step"] for r in outputs.read_jsonl(path)] == [1, 2, 3, 4]
  resumed.append([{"step": s, "loss": float(s)} for s in range(5, 9)])
  assert [r["step"] for r in outputs.read_jsonl(path)] == list(range(1, 9))


def test_prepare_guards_the_output_folder(tmp_path):
  config = config_lib.load(None)
  out = outputs.prepare(tmp_path / "run", config, "run")
  assert (out / "config.yaml").read_text() == config_lib.dump(config)
  assert outputs.prepare(out, config, "run") == out  # same config: resume allowed
  other = config_lib.load(None, ["train.seed=7"])
  with pytest.raises(ConfigError, match="different config"):
    outputs.prepare(out, other, "run")
  assert outputs.prepare(out, other, "run", force=True) == out
  a_file = tmp_path / "file"
  a_file.write_text("x")
  with pytest.raises(ConfigError, match="exists and is not a folder"):
    outputs.prepare(a_file, config, "run")


def test_force_clears_only_the_kept_folders(tmp_path):
  config = config_lib.load(None)
  out = outputs.prepare(tmp_path / "run", config, "run")
  for name in ("cells", "plots"):
    (out / name).mkdir()
    (out / name / "a.json").write_text("{}")
  assert outputs.prepare(out, config, "run", kept=("cells",)) == out  # no --force: kept
  assert (out / "cells" / "a.json").is_file()
  outputs.prepare(out, config, "run", force=True, kept=("cells", "absent"))
  assert not (out / "cells").exists() and (out / "plots" / "a.json").is_file()


def test_slug_makes_a_label_a_file_name():
  assert outputs.slug("golden partition (1/phi^2, 1/phi)") == "golden-partition-1-phi-2-1-phi"
  assert outputs.slug("tuned sgd (0.313, 0.9)") == "tuned-sgd-0-313-0-9"


def test_new_run_dirs_are_unique(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  first = outputs.new_run_dir("run")
  first.mkdir(parents=True)
  assert outputs.new_run_dir("run") != first


# One writer per output folder: real processes on one folder.

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--set", "dataset.limit_train=320", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=8", "--set", "train.batch_size=32",
        "--set", "train.progress=false", "--set", "train.checkpoint_every=10"]


def start(out, argv=TINY):
  return subprocess.Popen([sys.executable, "-m", "experiments.run", *argv, "--out", str(out)],
                          cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_lock_holder(out, process, timeout=120):
  deadline = time.time() + timeout
  while time.time() < deadline and process.poll() is None:
    try:
      if json.loads((out / outputs.LOCK).read_text())["pid"] == process.pid:
        return
    except (OSError, ValueError, KeyError):
      pass
    time.sleep(0.01)
  raise AssertionError("the first command never took the lock")


def test_a_second_command_on_the_folder_is_refused_and_the_first_is_unharmed(tmp_path):
  reference = tmp_path / "alone"
  assert run.main(TINY + ["--out", str(reference)]) == 0  # a lone run, for comparison
  out = tmp_path / "shared"
  first = start(out)
  wait_for_lock_holder(out, first)
  first.send_signal(signal.SIGSTOP)  # hold it there, lock taken, while the second tries
  try:
    second = subprocess.run([sys.executable, "-m", "experiments.run", *TINY, "--out",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
  finally:
    first.send_signal(signal.SIGCONT)
  assert second.returncode == 2
  lines = second.stderr.strip().splitlines()
  assert len(lines) == 1 and f"output folder '{out}': in use by another command" in lines[0]
  assert f"pid {first.pid} on host {socket.gethostname()}" in lines[0]
  _, stderr = first.communicate(timeout=120)
  assert first.returncode == 0, stderr
  read = lambda folder, name: (folder / name).read_text()
  assert read(out, "metrics.jsonl") == read(reference, "metrics.jsonl")  # every step once
  timings = ("wall_time_s", "train_time_s", "compile_time_s", "examples_per_s", "peak_rss_mib")
  same = lambda folder: {k: v for k, v in json.loads(read(folder, "summary.json")).items()
                         if k not in timings}
  assert same(out) == same(reference)


def test_the_lock_dies_with_its_holder_and_is_released_at_the_end(tmp_path):
  out = tmp_path / "run"
  killed = start(out)
  wait_for_lock_holder(out, killed)
  killed.kill()
  killed.wait()
  assert run.main(TINY + ["--out", str(out)]) == 0  # the kill left no stale lock
  outputs.lock(out)  # and the finished command released its own
  outputs.unlock_all()


def test_the_lock_is_taken_before_anything_is_written(tmp_path):
  out = tmp_path / "run"
  out.mkdir()
  outputs.lock(out)  # another holder: this process itself, on its own open file
  try:
    fd = os.open(out / outputs.LOCK, os.O_RDWR)
    try:
      with pytest.raises(BlockingIOError):  # what a second process meets
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
      os.close(fd)
  finally:
    outputs.unlock_all()
  assert sorted(p.name for p in out.iterdir()) == [outputs.LOCK]
