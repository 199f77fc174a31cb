"""The Python entry points (experiments/api.py, issue 24, item 8): each command as a function
of a config given as a path, a dict or the dataclass, with overrides as strings or a dict,
returning the summary the command writes; mistakes raise ConfigError."""

import fcntl
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
import yaml

from experiments import api, loading
from experiments import config as config_lib
from experiments.config import ConfigError, ExperimentConfig

ROOT = pathlib.Path(__file__).resolve().parent.parent

# The digits MLP, tiny: 200 training examples, one epoch.
SMALL = {
    "dataset": {"name": "digits", "limit_train": 200},
    "model": {"name": "mlp", "hidden_sizes": [16]},
    "loss": {"name": "cross_entropy"},
    "optimizer": {"name": "dual_process"},
    "train": {"epochs": 2, "batch_size": 50, "progress": False, "checkpoint_every_s": None},
}
COMPARE = {"seeds": [0], "optimizers": [
    {"name": "dual_process"},
    {"name": "optax.adamw", "learning_rate": 0.001, "kwargs": {"weight_decay": 0.0001}}]}


@pytest.fixture
def scratch(tmp_path, monkeypatch):
  """Temporary folders made by the api go under tmp_path/scratch (to see them removed)."""
  folder = tmp_path / "scratch"
  folder.mkdir()
  monkeypatch.setattr(tempfile, "tempdir", str(folder))
  return folder


def write_yaml(path: pathlib.Path, data: dict) -> pathlib.Path:
  path.write_text(yaml.safe_dump(data, sort_keys=False))
  return path


def unlocked(out: pathlib.Path) -> bool:
  """Whether nobody (this process included) holds the output folder's lock."""
  fd = os.open(out / ".lock", os.O_RDWR)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return True
  except OSError:
    return False
  finally:
    os.close(fd)


def test_config_from_a_path_a_dict_and_the_dataclass_with_both_kinds_of_overrides(tmp_path):
  path = write_yaml(tmp_path / "small.yaml", SMALL)
  from_path = api.load_config(path, ["train.epochs=3"])
  from_str = api.load_config(str(path), "train.epochs=3")
  from_dict = api.load_config(SMALL, {"train.epochs": 3})
  from_dataclass = api.load_config(api.load_config(SMALL), {"train.epochs": 3})
  assert isinstance(from_path, ExperimentConfig)
  assert from_path == from_str == from_dict == from_dataclass
  assert from_path.train.epochs == 3 and from_path.model.hidden_sizes == (16,)
  # Dict overrides take any value the YAML would: mappings, lists, tuples, strings that
  # look like numbers, a config dataclass; in order, a later one winning.
  loaded = api.load_config(SMALL, {
      "optimizer.name": "optax.adamw", "optimizer.learning_rate": "1e-3",
      "optimizer.kwargs": {"b2": 0.95, "weight_decay": 1e-4},
      "model.hidden_sizes": (8, 4), "train.epochs": 1})
  assert loaded.optimizer.kwargs == {"b2": 0.95, "weight_decay": 1e-4}
  assert loaded.optimizer.learning_rate == 1e-3 and loaded.model.hidden_sizes == (8, 4)
  optimizer = config_lib.OptimizerConfig(name="adam", learning_rate=0.01)
  assert api.load_config(SMALL, {"optimizer": optimizer}).optimizer == optimizer
  assert api.load_config(None).train.epochs == config_lib.load().train.epochs  # the default
  # The input is never changed.
  assert SMALL["train"]["epochs"] == 2 and "kwargs" not in SMALL["optimizer"]


def test_every_mistake_raises_config_error_with_the_commands_line(tmp_path):
  assert issubclass(ConfigError, ValueError) and api.ConfigError is ConfigError
  cases = [
      (lambda: api.run({**SMALL, "train": {"epoch": 3}}), r"'train\.epoch': unknown key"),
      (lambda: api.run(SMALL, {"train.epochs": 0}), r"'train\.epochs': must be a positive"),
      (lambda: api.run(SMALL, ["train.epochs"]), "expected KEY=VALUE"),
      (lambda: api.run(tmp_path / "missing.yaml"), "not found"),
      (lambda: api.run({**SMALL, "dataset": {"name": "arrays", "path": str(tmp_path / "no.npz")}}),
       "dataset file .*no.npz': not found"),
      (lambda: api.compare(SMALL), r"config key 'compare': missing"),
      (lambda: api.sweep(SMALL), r"config key 'sweep': missing"),
      (lambda: api.suite(None), "a suite config is required"),
      (lambda: api.suite({"workloads": [{"name": "w", "config": "nowhere.yaml"}],
                          "optimizers": [{"name": "dual_process"}]}, base=tmp_path),
       r"workloads\[0\] \(w\): config file .*nowhere.yaml': not found"),
      (lambda: api.suite({"workload": []}), "'workload': unknown key"),
  ]
  for call, message in cases:
    with pytest.raises(ConfigError, match=message):
      call()
  with pytest.raises(TypeError, match="config: expected a path, a dict"):
    api.run(42)
  with pytest.raises(TypeError, match="overrides"):
    api.run(SMALL, [("train.epochs", 3)])
  # Nothing was written where a mistake stopped a call with an output folder.
  with pytest.raises(ConfigError):
    api.run({**SMALL, "train": {"epoch": 3}}, out=tmp_path / "never")
  assert not (tmp_path / "never").exists()


def test_run_from_a_path_a_dict_and_the_dataclass(tmp_path):
  path = write_yaml(tmp_path / "small.yaml", SMALL)
  out = tmp_path / "run"
  summary = api.run(path, ["train.epochs=3"], out=out)
  assert summary["status"] == "ok" and summary["steps"] == 3 * 4
  assert summary == json.loads((out / "summary.json").read_text())
  assert unlocked(out)  # the lock is released when the call returns
  # The same config as a dict: the same folder accepts it (its config.yaml is compared
  # as text) and resumes the finished run.
  again = api.run(SMALL, {"train.epochs": 3}, out=out)
  assert again["resumed_from_step"] == 12
  assert again["test_accuracy"] == summary["test_accuracy"]
  # The dataclass, without out: nothing written; the same numbers (the same seed, data).
  config = api.load_config(SMALL, {"train.epochs": 3})
  before = sorted(tmp_path.iterdir())
  plain = api.run(config, progress=False)
  assert plain["test_accuracy"] == summary["test_accuracy"]
  assert sorted(tmp_path.iterdir()) == before
  # A different config in the same folder needs force, as --force.
  with pytest.raises(ConfigError, match="different config"):
    api.run(SMALL, {"train.epochs": 1}, out=out)
  assert api.run(SMALL, {"train.epochs": 1}, out=out, force=True)["steps"] == 4


def test_a_diverging_run_raises_diverged_and_releases_its_folder(tmp_path):
  from experiments.cli import Diverged

  out = tmp_path / "diverged"
  with pytest.raises(Diverged, match="non-finite loss or update at step"):
    api.run(SMALL, {"optimizer": {"name": "sgd", "learning_rate": 1e30}}, out=out)
  assert json.loads((out / "summary.json").read_text())["status"] == "diverged"
  assert unlocked(out)


def test_compare_from_a_dict_a_path_and_the_dataclass(tmp_path, scratch):
  config = {**SMALL, "compare": COMPARE}
  result = api.compare(config)  # out=None: a temporary folder, removed
  assert list(scratch.iterdir()) == []
  rows = result["rows"]
  assert [r["name"] for r in rows] == ["dual_process", "optax.adamw"]
  assert rows[1]["vs_first"]["equivalence"]["verdict"]
  assert "title" in result and "versions" in result
  out = tmp_path / "compare"
  path = write_yaml(tmp_path / "compare.yaml", config)
  written = api.compare(path, ["train.epochs=2"], out=out)
  assert written == json.loads((out / "comparison.json").read_text())
  assert [r["test_accuracy"] for r in written["rows"]] == [r["test_accuracy"] for r in rows]
  assert (out / "comparison.md").is_file() and unlocked(out)
  # The dataclass, with a dict override: the same folder, every run kept and skipped.
  again = api.compare(api.load_config(config), {"train.epochs": 2}, out=out)
  assert again["rows"] == written["rows"]


def test_sweep_from_a_dict_and_the_dataclass(tmp_path, scratch):
  config = {**SMALL, "sweep": {"learning_rates": [0.05], "momenta": [0.9], "seeds": [0]}}
  lines = []
  result = api.sweep(config, say=lines.append)
  assert list(scratch.iterdir()) == [] and lines
  assert len(result["cells"]) == 1 and result["best_grid_cell"]["learning_rate"] == 0.05
  assert "double_bayesian" in result["references"]
  out = tmp_path / "sweep"
  written = api.sweep(api.load_config(config), {"sweep.seeds": [0]}, out=out, say=None)
  assert written == json.loads((out / "sweep.json").read_text())
  assert written["cells"][0]["mean_test_accuracy"] == result["cells"][0]["mean_test_accuracy"]


def test_suite_from_a_path_a_dict_and_the_dataclass(tmp_path, scratch):
  write_yaml(tmp_path / "small.yaml", SMALL)
  suite = {
      "seeds": [0], "eval_every": 1, "validation_fraction": 0.2,
      "search": {"trials": 2, "spaces": [
          {"label": "tuned sgd", "name": "sgd", "learning_rate": {"min": 0.01, "max": 0.5},
           "momentum": 0.9}]},
      "optimizers": [{"name": "dual_process", "label": "derived pair"}],
      "workloads": [{"name": "digits_mlp", "config": "small.yaml"}],
  }
  path = write_yaml(tmp_path / "suite.yaml", suite)
  lines = []
  out = tmp_path / "suite"
  document = api.suite(path, ["search.trials=2"], out=out, say=lines.append)
  assert document == json.loads((out / "suite.json").read_text())
  (workload,) = document["workloads"]
  assert workload["name"] == "digits_mlp" and (out / "suite.md").is_file()
  assert any("tuned sgd: 2 trials" in line for line in lines) and unlocked(out)
  # The same suite as a dict (paths relative to base) and as the dataclass: the same
  # folder accepts it and every search and group is kept, so nothing trains again.
  from_dict = api.suite(suite, {"search.trials": 2}, out=out, base=tmp_path, say=None)
  loaded, workloads = api.load_suite(suite, base=tmp_path)
  assert isinstance(loaded, config_lib.SuiteConfig)
  assert workloads == loading.load_suite(path)[1]
  from_dataclass = api.suite(loaded, out=out, base=tmp_path, say=None)
  for again in (from_dict, from_dataclass):
    assert again["workloads"][0]["groups"] == workload["groups"]
  assert list(scratch.iterdir()) == []


@pytest.mark.skipif(importlib.util.find_spec("dualprocess_experiments") is None,
                    reason="the project is not installed (pip install -e .)")
def test_installed_the_api_is_dualprocess_experiments_api():
  code = ("from dualprocess_experiments import api; "
          "print(', '.join(sorted(n for n in api.__all__)))")
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tempfile.gettempdir(), timeout=120)
  assert result.returncode == 0, result.stderr
  assert result.stdout.split(", ")[0] == "ConfigError"
  assert {"run", "compare", "sweep", "suite"} <= set(result.stdout.strip().split(", "))
