"""Any failed write into the output folder is exit 74 and one line, nothing else (issue 33).

The issue saw a folder made immutable in mid-run (``chattr +i``: EPERM) give a 107-line
traceback, exit 1 and three "coroutine was never awaited" warnings. Each case here runs
the command in a subprocess, so that what the interpreter prints as it exits is seen too.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from experiments import cli, outputs

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--set", "dataset.limit_train=320", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=6", "--set", "train.batch_size=32",
        "--set", "train.progress=false", "--set", "train.checkpoint_every=10"]

# Runs experiments.run with one fault: os.replace raising EPERM for summary.json, or the
# checkpoints folder made immutable (chattr +i) before the third checkpoint.
DRIVER = '''
import errno, os, subprocess, sys
from experiments import run
from experiments.training import checkpoint
fault, argv = sys.argv[1], sys.argv[2:]
if fault == "replace":
  real_replace = os.replace
  def replace(src, dst, *args, **kwargs):
    if str(dst).endswith("summary.json"):
      raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(dst))
    return real_replace(src, dst, *args, **kwargs)
  os.replace = replace
else:
  real_save, saves = checkpoint.Checkpointer.save, []
  def save(self, step, state):
    saves.append(step)
    if len(saves) == 3:
      subprocess.run(["chattr", "+i", str(self.directory)], check=True)
    real_save(self, step, state)
  checkpoint.Checkpointer.save = save
sys.exit(run.main(argv))
'''


def command(tmp_path, fault, out):
  driver = tmp_path / "driver.py"
  driver.write_text(DRIVER)
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  return subprocess.run([sys.executable, str(driver), fault, *TINY, "--out", str(out)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def rerun(out):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  done = subprocess.run([sys.executable, "-m", "experiments.run", *TINY, "--out", str(out)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr
  return json.loads((out / "summary.json").read_text())


def test_eperm_while_writing_is_exit_74_one_line_and_a_rerun_finishes(tmp_path):
  out = tmp_path / "run"
  failed = command(tmp_path, "replace", out)
  assert failed.returncode == cli.EXIT_WRITE_FAILED == 74, failed.stderr
  lines = failed.stderr.strip().splitlines()
  assert len(lines) == 1, failed.stderr
  assert lines[0].startswith(f"write failed: output folder '{out}': writing 'summary.json' "
                             "failed: Operation not permitted (")
  assert (out / "metrics.jsonl").is_file() and list((out / "checkpoints").iterdir())
  summary = rerun(out)  # the last checkpoint was kept: the rerun only writes the end
  assert summary["status"] == "ok" and summary["resumed_from_step"] == summary["steps"]


def chattr_works(folder: pathlib.Path) -> bool:
  probe = folder / "probe"
  probe.mkdir()
  try:
    return (shutil.which("chattr") is not None and subprocess.run(
        ["chattr", "+i", str(probe)], capture_output=True).returncode == 0)
  finally:
    subprocess.run(["chattr", "-i", str(probe)], capture_output=True)
    probe.rmdir()


def test_an_immutable_folder_in_mid_run_is_exit_74_one_line_no_warnings(tmp_path):
  if os.geteuid() != 0 or not chattr_works(tmp_path):
    pytest.skip("chattr +i needs root and a filesystem with the immutable flag (ext4)")
  out = tmp_path / "run"
  try:
    failed = command(tmp_path, "chattr", out)
  finally:
    subprocess.run(["chattr", "-i", str(out / "checkpoints")], capture_output=True)
  assert failed.returncode == 74, failed.stderr
  assert failed.stderr.strip().splitlines() == [failed.stderr.strip()], failed.stderr
  assert failed.stderr.startswith(f"write failed: output folder '{out}': writing a checkpoint "
                                  "failed: Operation not permitted (")
  assert "never awaited" not in failed.stderr and "Traceback" not in failed.stderr
  kept = sorted(int(p.name) for p in (out / "checkpoints").iterdir() if p.name.isdigit())
  assert kept and kept[-1] < 30  # committed before the folder turned immutable
  summary = rerun(out)
  assert summary["status"] == "ok" and summary["resumed_from_step"] == kept[-1]


def test_any_oserror_naming_the_output_folder_is_a_write_failure_and_no_other(tmp_path):
  outputs.prepared.append(tmp_path)
  try:
    eio = OSError(errno.EIO, os.strerror(errno.EIO), str(tmp_path / "metrics.jsonl"))
    assert "writing 'metrics.jsonl' failed: Input/output error" in cli.write_failure(eio)
    eperm = PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(tmp_path / "a.json"))
    assert "writing 'a.json' failed: Operation not permitted" in cli.write_failure(eperm)
    wrapped = ValueError("a save failed")
    wrapped.__cause__ = PermissionError(errno.EPERM, "Operation not permitted",
                                        str(tmp_path / "checkpoints/7.orbax-checkpoint-tmp"),
                                        str(tmp_path / "checkpoints/7"))
    assert "writing a checkpoint failed: Operation not permitted" in cli.write_failure(wrapped)
    elsewhere = PermissionError(errno.EPERM, "Operation not permitted", "/data/mnist.npz")
    assert cli.write_failure(elsewhere) is None  # reading a dataset, say
    assert cli.write_failure(ValueError(f"bad value in {tmp_path}/config.yaml")) is None
  finally:
    outputs.prepared.pop()
