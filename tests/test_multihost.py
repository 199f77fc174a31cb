"""A real two-process job on this machine, through jax.distributed and CPU collectives.

Each process owns one CPU device; they meet at a local coordinator exactly as
hosts of a cluster would (README, "Multi-host"). The job must match the
single-process run and write each output once.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import pytest

from experiments import run, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--set", "dataset.limit_train=256", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=2", "--set", "train.batch_size=32",
        "--set", "train.progress=false", "--set", "train.devices=all",
        "--set", "train.checkpoint_every=8"]  # each epoch's end
GRID = ["configs/sweep_digits.yaml", "--set", "sweep.learning_rates.num=2",
        "--set", "sweep.momenta=[0.9]", "--set", "sweep.seeds=[0]"]
# Both command-line entry points, one after the other in the same processes
# (each starting a process costs seconds).
SCRIPT = rf"""
import sys
from experiments import run, sweep
out = sys.argv[1]
assert run.main(sys.argv[2:] + ["--out", out + "/run"]) == 0
assert sweep.main(sys.argv[2:] + {GRID!r} + ["--out", out + "/sweep"]) == 0
"""


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def start_job(command, num_processes: int) -> list:
  """Starts ``command`` as one job of ``num_processes`` processes, one CPU device each."""
  address = f"localhost:{free_port()}"
  processes = []
  for process_id in range(num_processes):
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    env.update(JAX_COORDINATOR_ADDRESS=address, JAX_NUM_PROCESSES=str(num_processes),
               JAX_PROCESS_ID=str(process_id))
    processes.append(subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
  return processes


def finish(processes, code=0) -> list[str]:
  errors = []
  for process in processes:
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == code, stderr[-3000:]
    errors.append(stderr)
  return errors


def launch(out, num_processes: int) -> None:
  """Runs SCRIPT as one job of ``num_processes`` processes."""
  finish(start_job(["-c", SCRIPT, str(out), *TINY], num_processes))


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
  assert len(jax.devices()) == 1 and jax.process_count() == 1
  base = tmp_path_factory.mktemp("multihost")
  launch(base / "two", 2)
  # The one-process reference runs here, in the test's own process.
  assert run.main([*TINY, "--out", str(base / "one" / "run")]) == 0
  assert sweep.main([*TINY, *GRID, "--out", str(base / "one" / "sweep")]) == 0
  return base


def test_two_process_run_matches_one_process_and_writes_once(jobs):
  two = json.loads((jobs / "two" / "run" / "summary.json").read_text())
  one = json.loads((jobs / "one" / "run" / "summary.json").read_text())
  assert two["num_devices"] == 2 and one["num_devices"] == 1
  assert two["steps"] == one["steps"] == 16  # the global batch means the same thing
  assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 0.02
  assert abs(two["test_loss"] - one["test_loss"]) <= 0.02
  steps = [json.loads(line)["step"]
           for line in (jobs / "two" / "run" / "metrics.jsonl").read_text().splitlines()]
  assert steps == list(range(1, 17))  # every step once, not once per process


def test_two_process_sweep_splits_cells_and_matches_one_process(jobs):
  two = json.loads((jobs / "two" / "sweep" / "sweep.json").read_text())
  one = json.loads((jobs / "one" / "sweep" / "sweep.json").read_text())
  assert two["num_devices"] == 2 and two["num_cells_trained"] == 7  # 2 grid + 5 named pairs
  # 7 cells in 8 lanes (one padding lane), 4 per device (ids are global: process 1's is
  # not 1); the padding lane is not counted.
  assert sorted(two["cells_per_device"].values()) == [3, 4]
  for a, b in zip(one["cells"], two["cells"], strict=True):
    assert (a["learning_rate"], a["momentum"]) == (b["learning_rate"], b["momentum"])
    assert a["test_accuracy"] == b["test_accuracy"]


def test_a_malformed_launch_environment_is_one_line_and_exit_2(monkeypatch, capsys):
  monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1")
  monkeypatch.setenv("JAX_NUM_PROCESSES", "two")
  monkeypatch.setenv("JAX_PROCESS_ID", "0")
  with pytest.raises(SystemExit) as exit_info:
    run.main(TINY)
  assert exit_info.value.code == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "JAX_NUM_PROCESSES" in err[0] and "'two'" in err[0]


def test_sigterm_to_every_process_stops_all_at_one_step_and_resumes(tmp_path):
  argv = ["-m", "experiments.run", *TINY, "--set", "train.epochs=12", "--out",
          str(tmp_path / "two")]
  checkpoints = tmp_path / "two" / "checkpoints"
  processes = start_job(argv, 2)
  deadline = time.time() + 300
  while time.time() < deadline and not (checkpoints.is_dir() and any(
      p.name.isdigit() for p in checkpoints.iterdir())):
    time.sleep(0.01)
  for process in processes:  # a scheduler signals each host, not at the same instant
    process.send_signal(signal.SIGTERM)
    time.sleep(0.02)
  errors = finish(processes, code=143)
  summary = json.loads((tmp_path / "two" / "summary.json").read_text())
  assert summary["status"] == "interrupted" and summary["step"] < 96
  for stderr in errors:  # both stopped after the same step, with the same one line
    assert stderr.strip().splitlines()[-1].startswith(
        f"interrupted by SIGTERM at step {summary['step']}:")
  assert (checkpoints / str(summary["step"])).is_dir()
  finish(start_job(argv, 2))
  resumed = json.loads((tmp_path / "two" / "summary.json").read_text())
  assert resumed["status"] == "ok" and resumed["resumed_from_step"] == summary["step"]
  assert resumed["steps"] == 96
  steps = [json.loads(line)["step"]
           for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
  assert steps == list(range(1, 97))  # every step once across the interruption
  assert run.main([*TINY, "--set", "train.epochs=12", "--out", str(tmp_path / "one")]) == 0
  one = json.loads((tmp_path / "one" / "summary.json").read_text())
  assert abs(resumed["test_accuracy"] - one["test_accuracy"]) <= 0.02
