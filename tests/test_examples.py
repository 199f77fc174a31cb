"""examples/own_workload/ end to end at smoke scale (issue 24, item 5): make_data.py writes the
.npz files, then run, compare and the two-workload suite train the user's own models (a
residual CNN with BatchNorm and dropout, a tabular MLP, from a module outside the package)
as real commands, from a folder laid out as the repository root, as the README says."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from experiments import config as config_lib
from experiments import loading

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "own_workload"
SMOKE = ["--set", "train.epochs=1", "--set", "dataset.limit_train=300",
         "--set", "train.progress=false"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> pathlib.Path:
  """A working folder laid out as the repository root: the example's data written by
  make_data.py where the configs' dataset.path expects them, relative to it."""
  work = tmp_path_factory.mktemp("own_workload")
  data = work / "examples" / "own_workload" / "data"
  result = subprocess.run([sys.executable, str(EXAMPLE / "make_data.py"), "--out", str(data)],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout.count("classes") == 3
  return work


def command(work: pathlib.Path, name: str, *args: str) -> subprocess.CompletedProcess:
  """``python -m experiments.NAME ...`` in ``work``, as the README runs it: the example's
  module is found beside its configs, with nothing on PYTHONPATH but the checkout."""
  path = [str(ROOT), os.environ.get("PYTHONPATH", "")]
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
  result = subprocess.run([sys.executable, "-m", f"experiments.{name}", *args], cwd=work,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, f"{name}: exit {result.returncode}\n{result.stderr[-3000:]}"
  return result


def test_make_data_writes_what_arrays_reads(workspace):
  data = workspace / "examples" / "own_workload" / "data"
  for name, dtype, shape, classes in (("breast_cancer", np.float32, (30,), 2),
                                      ("wine", np.float32, (13,), 3),
                                      ("colored_digits", np.uint8, (8, 8, 3), 10)):
    with np.load(data / f"{name}.npz") as arrays:
      assert sorted(arrays.files) == ["x_test", "x_train", "y_test", "y_train"]
      x, y = arrays["x_train"], arrays["y_train"]
      assert x.dtype == dtype and x.shape[1:] == shape and arrays["x_test"].shape[1:] == shape
      assert sorted(np.unique(y)) == list(range(classes))
      assert np.array_equal(np.unique(arrays["y_test"]), np.unique(y))  # stratified
      if dtype == np.float32:  # standardized by the training part
        np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-5)
      else:  # red (channel 0) for digits 0-4 in 90 % of training, 10 % of test
        for split, agreement in (("train", 0.9), ("test", 0.1)):
          red = arrays[f"x_{split}"][..., 0].any(axis=(1, 2))
          green = arrays[f"x_{split}"][..., 1].any(axis=(1, 2))
          assert not (red & green).any() and not arrays[f"x_{split}"][..., 2].any()
          assert abs(np.mean(red == (arrays[f"y_{split}"] < 5)) - agreement) < 0.03


def test_every_config_of_the_example_loads(monkeypatch):
  """The configs are valid and their model factories import (no data needed)."""
  monkeypatch.syspath_prepend(str(EXAMPLE))
  for name in ("colored_digits", "breast_cancer", "compare"):
    config = config_lib.load(EXAMPLE / f"{name}.yaml")
    assert config.dataset.name == "arrays" and config.model.name.startswith("my_models:")
  assert any(o.name == "optax.adamw" for o in config.compare.optimizers)
  for name in ("suite", "suite_smoke"):
    suite, workloads = loading.load_suite(EXAMPLE / f"{name}.yaml")
    assert list(workloads) == ["colored_digits_resnet", "breast_cancer_mlp"]
    assert workloads["colored_digits_resnet"].model.name == "my_models:resnet"


def test_run_trains_the_users_resnet(workspace):
  result = command(workspace, "run", str(EXAMPLE / "colored_digits.yaml"), "--out", "run",
                   *SMOKE)
  summary = json.loads((workspace / "run" / "summary.json").read_text())
  assert summary["status"] == "ok" and summary["model"] == "my_models:resnet"
  assert summary["dataset"] == "arrays (colored_digits.npz)" and summary["num_train"] == 300
  assert f"run: test_accuracy={summary['test_accuracy']:.4f}" in result.stdout


def test_compare_with_an_optax_alias_by_name(workspace):
  optimizers = ("compare.optimizers=[{name: dual_process, label: derived pair}, "
                "{name: optax.adamw, learning_rate: 0.001, kwargs: {weight_decay: 0.0001}}]")
  result = command(workspace, "compare", str(EXAMPLE / "compare.yaml"), "--out", "compare",
                   *SMOKE, "--set", "compare.seeds=[0]", "--set", optimizers)
  rows = json.loads((workspace / "compare" / "comparison.json").read_text())["rows"]
  assert [r["name"] for r in rows] == ["dual_process", "optax.adamw"]
  assert rows[1]["optimizer"] == "optax.adamw(lr=0.001, weight_decay=0.0001)"
  assert rows[1]["vs_first"]["equivalence"]["verdict"]
  assert "written to compare" in result.stdout


def test_the_two_workload_suite_gives_break_even_and_verdicts(workspace):
  result = command(workspace, "suite", str(EXAMPLE / "suite_smoke.yaml"), "--out", "suite")
  document = json.loads((workspace / "suite" / "suite.json").read_text())
  names = [w["name"] for w in document["workloads"]]
  assert names == ["colored_digits_resnet", "breast_cancer_mlp"]
  for workload in document["workloads"]:
    assert "break_even_trials" in workload["curves"]["tuned optax.adamw"]
    assert workload["comparisons"]["tuned optax.adamw"]["verdict"]
    trials = workload["searches"]["tuned optax.adamw"]
    assert len(trials) == 2 and all(0.5 <= t["momentum"] <= 0.99 for t in trials)
    retrained = workload["rows"][-1]  # the best trial, retrained
    assert retrained["optimizer"] == "tuned optax.adamw"
    assert retrained["label"].startswith("tuned optax.adamw (lr ")
    assert ", b1 0." in retrained["label"]
  assert (workspace / "suite" / "suite.md").is_file()
  assert "| colored_digits_resnet |" in result.stdout and "| breast_cancer_mlp |" in result.stdout


def test_the_kept_results_are_the_example_suites(monkeypatch):
  """examples/own_workload/results/ holds suite.yaml's own run under 0.5.0 (the README
  quotes it, labelled). Since 0.6.0 every trial trains on seeds of its own
  (search.trial_seeds) where 0.5.0 trained it on seed 0 (search.training_seed): that is
  the one difference between the kept run's config and suite.yaml."""
  monkeypatch.syspath_prepend(str(EXAMPLE))
  document = json.loads((EXAMPLE / "results" / "suite.json").read_text())
  suite, _ = loading.load_suite(EXAMPLE / "suite.yaml")
  now, then = config_lib.to_dict(suite), json.loads(json.dumps(document["config"]))
  assert then["search"].pop("training_seed") == 0
  assert now["search"].pop("trial_seeds") == [1000]
  assert now == then
  assert document["versions"]["dualprocess"] == "0.5.0"
  assert [w["name"] for w in document["workloads"]] == ["colored_digits_resnet",
                                                         "breast_cancer_mlp"]
  assert (EXAMPLE / "results" / "suite.md").is_file()
