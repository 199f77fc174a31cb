"""Write failures are one line and a documented exit code, and nothing earlier is lost.

A full disk is a real one where this runs as root (a small tmpfs of its own,
filled with a ballast file), else a fault-injecting writer in the checkpointer;
a read-only folder is a read-only tmpfs (root) or a folder without write
permission (any other user).
"""

import contextlib
import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from experiments import cli, outputs, run
from experiments.training import checkpoint

TINY = ["--set", "dataset.limit_train=320", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=8", "--set", "train.batch_size=32",
        "--set", "train.progress=false", "--set", "train.checkpoint_every=10"]
TIMINGS = ("wall_time_s", "train_time_s", "compile_time_s", "examples_per_s", "peak_rss_mib",
           "resumed_from_step")


@contextlib.contextmanager
def tmpfs(folder, options):
  """A tmpfs mounted on ``folder`` (root only); None where it cannot be mounted."""
  folder.mkdir()
  if os.geteuid() != 0:
    yield None
    return
  mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                           capture_output=True, check=False).returncode == 0
  try:
    yield folder if mounted else None
  finally:
    if mounted:
      subprocess.run(["umount", "-l", str(folder)], check=False)


def run_exit(argv, capsys):
  with pytest.raises(SystemExit) as exit_info:
    run.main(argv)
  return exit_info.value.code, capsys.readouterr().err.strip().splitlines()


def same_run(out, reference):
  read = lambda folder, name: (folder / name).read_text()
  summary = lambda folder: {k: v for k, v in json.loads(read(folder, "summary.json")).items()
                            if k not in TIMINGS}
  return (read(out, "metrics.jsonl") == read(reference, "metrics.jsonl")
          and summary(out) == summary(reference))


# Orbax's background thread, failing with the disk, leaves an asyncio callback
# for a loop it has closed; Python reports that as unraisable. Nothing is lost by it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def room_for(run_folder, checkpoints=2.5, block=4096):
  """Bytes (in tmpfs blocks) of ``run_folder``'s files other than its checkpoints, plus
  ``checkpoints`` times one checkpoint's."""
  def size(paths):
    return sum(-(-p.stat().st_size // block) * block for p in paths if p.is_file())
  steps = sorted((p for p in (run_folder / "checkpoints").iterdir() if p.name.isdigit()),
                 key=lambda p: int(p.name))
  others = [p for p in run_folder.rglob("*") if "checkpoints" not in p.parts]
  return int(size(others) + checkpoints * size(steps[0].rglob("*")))


def test_a_full_disk_is_one_line_and_a_rerun_after_freeing_space_resumes(tmp_path, capsys,
                                                                        monkeypatch):
  reference = tmp_path / "reference"
  assert run.main(TINY + ["--out", str(reference)]) == 0
  with tmpfs(tmp_path / "small", "size=4m") as filesystem:
    if filesystem is not None:
      out = filesystem / "run"
      # Room for what the run writes besides its checkpoints (which files depends on the
      # extras installed: TensorBoard's events, say) and its first two or three checkpoints.
      ballast = filesystem / "ballast"
      ballast.write_bytes(b"\0" * (shutil.disk_usage(filesystem).free - room_for(reference)))
      free = ballast.unlink
    else:  # not root: the fourth checkpoint meets a full disk
      out = tmp_path / "run"
      real_save, saves = checkpoint.Checkpointer.save, []

      def full_after_three(self, step, state):
        saves.append(step)
        if len(saves) > 3:
          self.finish()  # as the real save does: the one in flight commits first
          raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.directory / "x"))
        real_save(self, step, state)
      monkeypatch.setattr(checkpoint.Checkpointer, "save", full_after_three)
      free = monkeypatch.undo
    code, lines = run_exit(TINY + ["--out", str(out)], capsys)
    assert code == cli.EXIT_WRITE_FAILED == 74
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"write failed: output folder '{out}': writing ")
    assert "No space left on device" in lines[0] and " free there)" in lines[0]
    assert "run the same command again to resume" in lines[0]
    checkpoints = out / "checkpoints"
    assert not list(checkpoints.glob("*.orbax-checkpoint-tmp*"))  # the failed save is gone
    kept = sorted(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    assert kept and kept[-1] < 80  # it failed mid-run, with earlier checkpoints there
    free()
    assert run.main(TINY + ["--out", str(out)]) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["resumed_from_step"] == kept[-1]
    assert same_run(out, reference)  # every step once, the uninterrupted run's numbers


def test_a_read_only_output_folder_is_refused_at_start(tmp_path, capsys):
  with tmpfs(tmp_path / "ro", "ro,size=64k") as read_only:
    if read_only is None:
      if os.geteuid() == 0:
        pytest.skip("running as root where tmpfs cannot be mounted: root writes anywhere")
      read_only = tmp_path / "ro"
      read_only.chmod(0o555)
    code, lines = run_exit(TINY + ["--out", str(read_only)], capsys)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: output folder '{read_only}': cannot be written (")
    assert any(why in lines[0] for why in ("Read-only file system", "Permission denied"))


def test_a_failure_outside_the_output_folder_is_not_called_a_write_failure(tmp_path):
  outputs.prepared.append(tmp_path)
  try:
    forbidden = PermissionError(errno.EACCES, "Permission denied", "/data/train-images")
    assert cli.write_failure(forbidden) is None  # reading a dataset, say
    inside = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "summary.json"))
    assert "writing 'summary.json' failed: Permission denied" in cli.write_failure(inside)
    orbax = ValueError(f'RESOURCE_EXHAUSTED: Failed writing: "{tmp_path}/checkpoints/8.orbax-'
                       'checkpoint-tmp/d/1": [os_error_code=\'28\']')
    assert "writing a checkpoint failed: No space left on device" in cli.write_failure(orbax)
    assert cli.write_failure(ValueError("shapes do not match")) is None
  finally:
    outputs.prepared.pop()


def test_a_one_line_error_starts_on_a_line_of_its_own_while_a_progress_bar_is_drawn(capsys):
  import tqdm

  from experiments.config import ConfigError

  bar = tqdm.tqdm(total=10, file=sys.stderr, leave=False, ascii=True)
  bar.update(3)
  bar.refresh()
  with pytest.raises(SystemExit) as exited:
    with cli.exit_codes():
      raise ConfigError("config key 'x': bad")
  assert exited.value.code == 2
  err = capsys.readouterr().err
  before, _, _ = err.rpartition("error: config key 'x': bad")
  assert before == "" or before[-1] in "\r\n"  # not glued to the bar's text
  assert not getattr(tqdm.std.tqdm, "_instances", ())  # every bar was closed
