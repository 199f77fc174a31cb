"""Commands that start fast (issue 25, item 6) and TensorBoard event files (item 5).

--help and config mistakes import no heavy package; the compilation cache is on by
default in the user's cache folder, named by the JAX versions, with an opt-out and
the user's own folder respected; the start-up benchmark runs and finds the warm
job's programs in the cache; every command writes TensorBoard events (when the
package is installed) that read back as metrics.jsonl and the finished units say.
No timing is asserted: ``benchmarks/startup.py`` measures it.
"""

import json
import logging
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks import startup
from experiments import outputs
from experiments.training import compilation_cache, tensorboard_log

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = ["--set", "dataset.limit_train=320", "--set", "model.hidden_sizes=[16]",
        "--set", "train.epochs=3", "--set", "train.batch_size=32", "--set", "train.progress=false",
        "--set", "train.checkpoint_every=10", "--set", "train.log_every=2"]


def test_help_and_config_mistakes_import_nothing_heavy():
  assert startup.heavy_modules() == []


def test_the_cache_folder_is_in_the_users_cache_and_names_the_versions(monkeypatch, tmp_path):
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert compilation_cache.default_folder("0.4.30", "0.4.31") == (
      tmp_path / "dualprocess" / "jax-0.4.30-jaxlib-0.4.31")
  monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as the XDG spec says
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert compilation_cache.default_folder("1", "2") == (
      tmp_path / "home" / ".cache" / "dualprocess" / "jax-1-jaxlib-2")
  for off in ("0", "false", "No", "off"):
    monkeypatch.setenv(compilation_cache.ENV, off)
    assert not compilation_cache.enabled()
  monkeypatch.setenv(compilation_cache.ENV, "1")
  assert compilation_cache.enabled()


# setup() in a fresh process (JAX's settings are global): the default, the opt-out, the
# user's own folder and thresholds, and a folder that cannot be made. Nothing compiles.
_SETUP = r"""
import json, os, sys
import jax, jaxlib
from experiments.training import compilation_cache as cc
base, seen = sys.argv[1], {}
def state():
  return [jax.config.jax_compilation_cache_dir,
          jax.config.jax_persistent_cache_min_compile_time_secs,
          jax.config.jax_persistent_cache_min_entry_size_bytes]
os.environ[cc.ENV] = "0"
seen["off"] = [cc.setup(), *state()]
del os.environ[cc.ENV]
seen["default"] = [cc.setup(), *state()]
jax.config.update("jax_compilation_cache_dir", None)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
jax.config.update("jax_compilation_cache_dir", base + "/mine")
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "1.0"
seen["own"] = [cc.setup(), *state()]
jax.config.update("jax_compilation_cache_dir", None)
os.environ["XDG_CACHE_HOME"] = base + "/a-file"
open(base + "/a-file", "w").close()
seen["unwritable"] = [cc.setup(), *state()[:1]]
seen["versions"] = [jax.__version__, jaxlib.__version__]
print(json.dumps(seen))
"""


def test_the_cache_is_on_by_default_with_an_opt_out_and_the_users_own_folder(tmp_path):
  env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE",
                                                                     "JAX_PERSISTENT_CACHE"))}
  env.pop(compilation_cache.ENV, None)
  env["XDG_CACHE_HOME"] = str(tmp_path)
  completed = subprocess.run([sys.executable, "-c", _SETUP, str(tmp_path)], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True)
  seen = json.loads(completed.stdout.splitlines()[-1])
  jax_version, jaxlib_version = seen["versions"]
  assert seen["off"][:2] == [None, None]  # nothing of ours; JAX's thresholds untouched
  folder = tmp_path / "dualprocess" / f"jax-{jax_version}-jaxlib-{jaxlib_version}"
  assert seen["default"] == [str(folder), str(folder), 0, 0] and folder.is_dir()
  # The user's folder and their threshold (set in the environment) stay; the other is 0.
  assert seen["own"] == [str(tmp_path / "mine"), str(tmp_path / "mine"), 1.0, 0]
  assert seen["unwritable"] == [None, None]


@pytest.fixture(scope="module")
def benchmark():
  return startup.main(["--smoke"])


def test_the_startup_benchmark_finds_the_warm_jobs_programs_in_the_cache(benchmark):
  job = benchmark["main_job"]
  assert job["overrides"] == ["train.epochs=1"] and len(job["runs_s"]) == 1
  # Its model's initialization, training segment and evaluation at least, and every
  # program the warm job asked for came from the cache: it compiled nothing.
  assert job["compilations"] >= 3 and job["from_cache"] == job["compilations"]
  assert job["cold_s"] > 0 and job["median_s"] > 0
  for figure in ("help", "bad_config"):
    assert benchmark[figure]["median_s"] > 0 and benchmark[figure]["target_s"] == 1.0
  import jax
  import jaxlib
  assert benchmark["cache_folders"] == [f"jax-{jax.__version__}-jaxlib-{jaxlib.__version__}"]
  assert isinstance(benchmark["heavy_modules_before_config"], list)
  assert len(benchmark["load_average_1_5_15"]["before"]) == 3


# TensorBoard: written when the package is there, read back with its own reader.

def _scalars(folder) -> dict:
  """``{tag: [(step, value)]}`` of the event files in ``folder``, read by TensorBoard."""
  from tensorboard.backend.event_processing import event_accumulator
  accumulator = event_accumulator.EventAccumulator(
      str(folder), size_guidance={event_accumulator.SCALARS: 0})
  accumulator.Reload()
  return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()["scalars"]}


def _event_files(folder) -> list:
  return sorted(pathlib.Path(folder).glob(f"{tensorboard_log.PREFIX}*"))


def test_a_run_writes_metrics_jsonl_as_tensorboard_events_and_a_resume_rewrites_them(
    tmp_path):
  pytest.importorskip("tensorboard")
  from experiments import run
  out = tmp_path / "run"
  assert run.main(TINY + ["--out", str(out)]) == 0
  records = outputs.read_jsonl(out / "metrics.jsonl")
  assert len(_event_files(out)) == 1
  scalars = _scalars(out)
  for key, tag in (("loss", "train/loss"), ("accuracy", "train/accuracy"),
                   ("test_accuracy", "test/accuracy"), ("test_loss", "test/loss")):
    expected = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    assert expected and [s for s, _ in scalars[tag]] == [s for s, _ in expected], tag
    assert [v for _, v in scalars[tag]] == pytest.approx([v for _, v in expected],
                                                         rel=1e-6), tag
  assert len(scalars["test/accuracy"]) == 3  # one evaluation per epoch
  # Running the finished run again resumes from its last checkpoint: the events are
  # written anew from metrics.jsonl, in one file, each step once.
  assert run.main(TINY + ["--out", str(out)]) == 0
  assert len(_event_files(out)) == 1 and _scalars(out) == scalars


def test_compare_and_sweep_write_a_point_per_finished_run_and_cell(tmp_path):
  pytest.importorskip("tensorboard")
  import yaml

  from experiments import compare, sweep
  config = tmp_path / "compare.yaml"
  config.write_text(yaml.safe_dump({
      "dataset": {"name": "digits", "limit_train": 160},
      "model": {"name": "mlp", "hidden_sizes": [8]},
      "train": {"epochs": 1, "batch_size": 32, "progress": False},
      "compare": {"seeds": [0, 1], "optimizers": [
          {"name": "dual_process"}, {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}]}}))
  out = tmp_path / "compare"
  assert compare.main([str(config), "--out", str(out)]) == 0
  scalars = _scalars(out)
  assert [s for s, _ in scalars["finished/runs"]] == [1, 2, 3, 4]
  per_optimizer = [tag for tag in scalars if tag.startswith("test_accuracy/")]
  assert len(per_optimizer) == 2 and all(len(scalars[t]) == 2 for t in per_optimizer)
  rows = json.loads((out / "comparison.json").read_text())["rows"]
  assert sorted(v for t in per_optimizer for _, v in scalars[t]) == pytest.approx(
      sorted(a for r in rows for a in r["per_seed_test_accuracy"]), rel=1e-6)

  out = tmp_path / "sweep"
  assert sweep.main(["configs/sweep_digits.yaml", "--set", "dataset.limit_train=128",
                     "--set", "model.hidden_sizes=[8]", "--set", "train.epochs=1",
                     "--set", "train.progress=false", "--set", "sweep.learning_rates=[0.01]",
                     "--set", "sweep.momenta=[0.9]", "--set", "sweep.seeds=[0]",
                     "--set", "sweep.chunk_size=4", "--out", str(out)]) == 0
  cells = json.loads((out / "sweep.json").read_text())["num_cells_trained"]
  scalars = _scalars(out)
  assert [s for s, _ in scalars["cells/test_accuracy"]] == list(range(1, cells + 1))
  assert [s for s, _ in scalars["finished/cells"]] == [*range(4, cells, 4), cells]


def test_finished_units_show_once_and_a_restart_shows_the_kept_ones_again(tmp_path):
  pytest.importorskip("tensorboard")
  out = tmp_path / "suite"
  (out / "cells").mkdir(parents=True)
  search = {"trials": [{"validation_accuracy": 0.5}, {"validation_accuracy": 0.75}],
            "wall_time_s": 1.0}
  group = {"runs": [{"test_accuracy": 0.5, "validation_accuracy": None},
                    {"test_accuracy": 1.0, "validation_accuracy": None}], "wall_time_s": 2.0}
  store = tensorboard_log.store(out / "cells", out, "suite")
  assert isinstance(store, tensorboard_log.WatchedStore)
  store.put("digits/search/sgd", search)
  store.get("digits/search/sgd")  # seen already: not shown twice
  store.put("digits/00-dual-process", group)
  assert store.get("digits/01-missing") is None
  expected = {"search_best_validation_accuracy/digits/search/sgd": [(1, 0.75)],
              "mean_test_accuracy/digits/00-dual-process": [(2, 0.75)],
              "finished/units": [(1, 1.0), (2, 2.0)]}
  assert _scalars(out) == expected
  # A rerun replaces the event file and shows the kept units as it meets them.
  store = tensorboard_log.store(out / "cells", out, "suite")
  assert store.get("digits/search/sgd") == search and store.get("digits/00-dual-process")
  assert len(_event_files(out)) == 1 and _scalars(out) == expected


def test_without_the_package_nothing_is_written_and_one_info_line_says_so(
    tmp_path, monkeypatch, caplog):
  monkeypatch.setattr(tensorboard_log, "_protos", lambda: None)
  monkeypatch.setattr(tensorboard_log, "_said_missing", False)
  with caplog.at_level(logging.INFO, logger=tensorboard_log.__name__):
    log = outputs.MetricsLog(tmp_path / "metrics.jsonl",
                            sink=tensorboard_log.metrics_sink(tmp_path))
    log.append([{"step": 1, "loss": 0.5}])
    store = tensorboard_log.store(tmp_path / "runs", tmp_path, "compare")
  assert log.sink is None and type(store) is outputs.ResultStore
  assert [p.name for p in tmp_path.iterdir()] == ["metrics.jsonl"]
  assert len([r for r in caplog.records if "tensorboard" in r.getMessage()]) == 1
