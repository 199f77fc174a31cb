"""benchmarks.all in smoke mode: every benchmark and both timed runs, one JSON document.

No timing is asserted (speed targets are met by the benchmarks, not by tests);
what is checked is that every figure the README quotes is produced.
"""

import json
import math

import pytest

from benchmarks import all as all_benchmarks
from benchmarks import update_overhead

KEYS = {"update_overhead": ("ratio", "achieved_bandwidth_gb_s", "bytes_moved"),
        "loss_overhead": ("dual_process_loss_ratio", "decomposition_ratio",
                          "dual_process_loss_gradient_ratio", "fast_path_vs_max_shifted_ratio"),
        "sweep_speedup": ("speedup",), "throughput": ("ratio",),
        "epoch_overhead": ("ratio",), "cnn_epoch": (),
        "flax_example_conv": ("speedup_vs_nnx_conv",),
        "transformer_step": ("transformer_speedup_vs_plain_flax", "tokens_per_s"),
        "paths": ("repeats", "total_seconds")}


@pytest.fixture(scope="module")
def document(tmp_path_factory):
  out = tmp_path_factory.mktemp("bench") / "all.json"
  returned = all_benchmarks.main(["--smoke", "--json", "--out", str(out)])
  assert json.loads(out.read_text()) == json.loads(json.dumps(returned, default=str))
  return returned


def test_one_document_with_the_machine_and_versions(document):
  machine = document["machine"]
  assert machine["backend"] == "cpu" and machine["device_count"] >= 1
  assert machine["device_kind"] and machine["processor"]
  for package in ("python", "jax", "jaxlib", "optax", "flax", "dualprocess"):
    assert machine["versions"][package], package
  assert machine["peak_memory_bandwidth_gb_s"] is None  # JAX reports none on a CPU
  assert document["large_cases"] is False and document["total_seconds"] > 0


def test_every_benchmark_ran_and_gave_its_figures(document):
  assert set(document["benchmarks"]) == set(KEYS)
  for name, keys in KEYS.items():
    result = document["benchmarks"][name]
    assert result["status"] == "ok", (name, result.get("reason"))
    for key in keys:
      assert result[key] > 0, (name, key)
  assert document["benchmarks"]["loss_overhead"]["bf16"]["dtype"] == "bfloat16"
  paper = document["benchmarks"]["cnn_epoch"]["paper_cnn"]
  for key in ("toolkit_epoch_s", "minimal_nnx_conv_epoch_s", "speedup", "toolkit_gflop_per_s",
              "epoch_tflop"):
    assert paper[key] > 0, key
  assert paper["formulation"] == "im2col" and paper["batch_size"] == 64


def test_both_jobs_were_timed_as_a_user_runs_them(document):
  for name, dataset in (("main_job", "digits"), ("mnist_mlp", "mnist5k")):
    run = document["runs"][name]
    assert run["status"] == "ok", run.get("reason")
    assert run["dataset"] == dataset and run["steps"] > 0
    assert run["wall_time_s"] > 0 and run["peak_rss_mib"] > 0
    assert 0 <= run["test_accuracy"] <= 1
    assert run["overhead_s"] == pytest.approx(
        run["wall_time_s"] - run["compile_time_s"] - run["train_time_s"])
  main_job = document["runs"]["main_job"]
  assert main_job["overhead_target_s"] == 1.5
  assert main_job["overhead_target_met"] == (main_job["overhead_s"] <= 1.5)


def test_a_failing_benchmark_is_recorded_and_the_rest_still_run():
  def broken():
    raise RuntimeError("out of device memory\nsecond line")

  failed = all_benchmarks.attempt(broken)
  assert failed["status"] == "failed"
  assert failed["reason"] == "RuntimeError: out of device memory"
  assert all_benchmarks.attempt(lambda: {"x": 1})["status"] == "ok"


def test_a_single_benchmark_prints_one_json_line(capsys):
  result = update_overhead.main(["--smoke", "--json"])
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert printed["ratio"] == result["ratio"] > 0
  assert printed["machine"]["backend"] == "cpu"


def _positive_finite(value) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_paths_gives_every_path_its_rate_and_a_group_its_compilation(capsys):
  """benchmarks.paths at its tiny size: one JSON line with each path's examples per second
  and fraction of the fast path, and the compilation of a suite group and a search, first,
  with other hyperparameters, and in a resumed process. No timing is asserted."""
  from benchmarks import paths
  result = paths.main(["--smoke", "--json"])
  printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert printed.pop("benchmark") == "paths" and printed.pop("machine")["backend"] == "cpu"
  assert printed == json.loads(json.dumps(result))
  [model] = result["models"].values()
  assert set(model["paths"]) == {"run", "seeds", "lanes"}
  for path in model["paths"].values():
    for key in ("examples_per_second", "fraction_of_fast_path", "examples"):
      assert _positive_finite(path[key]), key
    assert len(path["train_seconds"]) == result["repeats"] == 1
    assert all(_positive_finite(s) for s in path["train_seconds"])
  assert model["paths"][model["fast_path"]]["fraction_of_fast_path"] == 1.0
  assert result["target_met"] == model["target_met"] == all(
      p["fraction_of_fast_path"] >= paths.TARGET for p in model["paths"].values())
  compilation = result["compilation"]
  for key in ("group_program_compile_seconds", "search_program_compile_seconds"):
    assert _positive_finite(compilation[key]), key
  assert all(_positive_finite(s) for s in compilation["process_seconds"])
  steps = {"first_process": ("group", "search", "group_other_hyperparameters",
                             "search_other_trials"), "resumed_process": ("group", "search")}
  for process, labels in steps.items():
    assert compilation[process]["cache_folder_set"] is True
    for label in labels:
      step = compilation[process][label]
      assert step["program_runs"] and step["program"] in ("jit(run_epochs)", "jit(run_chunk)")
      assert _positive_finite(step["compile_seconds"]), (process, label)
      for key in ("xla_compilations", "cache_misses", "cache_hits"):
        assert isinstance(step[key], int) and step[key] >= 0, (process, label, key)
  for key in ("second_group_reuses_program", "second_search_reuses_program",
              "resumed_compiles_nothing_new"):
    assert isinstance(compilation[key], bool), key


def test_suite_time_runs_a_suite_in_its_own_process_and_reports_its_cost(tmp_path, capsys):
  from benchmarks import suite_time, timing
  config = tmp_path / "tiny_suite.yaml"
  config.write_text(f"""
seeds: [0]
search: {{trials: 1, spaces: [{{label: tuned sgd, momentum: 0.9,
                                learning_rate: {{min: 0.1, max: 0.2}}}}]}}
optimizers: [{{name: dual_process, preset: reported}}]
workloads:
  - name: digits
    config: {timing.ROOT / 'configs/default.yaml'}
    overrides: ["train.epochs=1", "train.progress=false"]
    target: 0.5
""")
  result = suite_time.main(["--config", str(config), "--budget-s", "0.001", "--json"])
  printed = capsys.readouterr()
  assert json.loads(printed.out) == result
  assert "digits: dual_process(lr=0.016, m=0.874): test accuracy" in printed.err  # relayed
  assert result["process_wall_s"] > result["suite_wall_time_s"] > 0
  assert result["within_budget"] is False  # nothing runs in a millisecond
  [workload] = result["workloads"]
  assert workload["name"] == "digits" and workload["groups"] == 2  # reported and tuned
  assert workload["search_s"]["tuned sgd"] > 0 and workload["training_s"] > 0
  assert result["tuning_and_training_s"] == pytest.approx(
      sum(workload["search_s"].values()) + workload["training_s"])
  assert result["peak_rss_mib"] > 100 and result["seeds"] == [0]
  assert len(result["load_average_before"]) == 3 and result["cpu_count"] >= 1


def test_suite_time_refuses_a_missing_config(capsys):
  from benchmarks import suite_time
  with pytest.raises(SystemExit) as exit_info:
    suite_time.main(["--config", "no/such/suite.yaml"])
  assert exit_info.value.code == 2
  assert "--config 'no/such/suite.yaml': no such file" in capsys.readouterr().err


def test_suite_time_passes_on_a_config_mistake_as_exit_2(tmp_path, capsys):
  from benchmarks import suite_time
  config = tmp_path / "bad_suite.yaml"
  config.write_text("seeds: [0]\noptimizers: [{name: sgd}]\nworkloads: []\n")
  with pytest.raises(SystemExit) as exit_info:
    suite_time.main(["--config", str(config)])
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert "error: config key 'optimizers[0].learning_rate'" in err
  assert "suite_time: experiments.suite exited 2" in err
