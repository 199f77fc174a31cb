"""Output files: atomic writes, metrics never doubled, cut lines dropped, folders guarded."""

import json

import pytest

from experiments import config as config_lib
from experiments import outputs
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
