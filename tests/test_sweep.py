"""The vmapped sweep equals the plain runner cell by cell; diverging cells stay isolated."""

import dataclasses
import json

import jax
import pytest

from experiments import config as config_lib
from experiments import data, run, sweep


@pytest.fixture(scope="module")
def tiny():
  config = config_lib.load(None, [
      "dataset.limit_train=256", "model.hidden_sizes=[16]", "train.epochs=2",
      "train.progress=false", "sweep.learning_rates={min: 0.01, max: 1.0e30, num: 2}",
      "sweep.momenta=[0.5, 0.9]", "sweep.seeds=[0, 1]", "sweep.chunk_size=5"])
  return config, data.load(config.dataset)


def cells_of(result):
  return {(c["learning_rate"], c["momentum"]): c for c in result["cells"]}


def test_sweep_cells_equal_plain_runs_and_divergence_is_isolated(tiny, tmp_path):
  config, dataset = tiny
  result = sweep.sweep(config, dataset, tmp_path)
  assert (tmp_path / "landscape.png").is_file()
  saved = json.loads((tmp_path / "sweep.json").read_text())
  # (0.01, 0.9) is both a grid cell and the traditional pair: trained once; the
  # reported, information and golden pairs are off the grid.
  assert saved["num_cells_trained"] == (2 * 2 + 3) * 2
  assert result["references"]["traditional"] is cells_of(result)[(0.01, 0.9)]
  cells = {(c["learning_rate"], c["momentum"]): c for c in result["cells"]}
  for momentum in (0.5, 0.9):
    exploding = cells[(1.0e30, momentum)]
    assert exploding["diverged"] and exploding["mean_test_accuracy"] is None
    healthy = next(c for (lr, m), c in cells.items() if lr < 1 and m == momentum)
    assert not healthy["diverged"]
    for seed, accuracy in zip(config.sweep.seeds, healthy["test_accuracy"], strict=True):
      plain = dataclasses.replace(
          config, optimizer=config_lib.OptimizerConfig(
              name="dual_process", learning_rate=healthy["learning_rate"], momentum=momentum),
          train=dataclasses.replace(config.train, seed=seed))
      summary = run.train_and_evaluate(plain, dataset, progress=False)
      assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-6)
  # Every named constant set is marked; the default config's optimizer is the reported one.
  assert list(result["references"]) == ["reported", "information", "golden_partition",
                                        "traditional"]
  assert saved["references"]["reported"]["learning_rate"] == 0.016
  reported = result["references"]["reported"]
  plain = run.train_and_evaluate(dataclasses.replace(
      config, train=dataclasses.replace(config.train, seed=0)), dataset, progress=False)
  assert (plain["learning_rate"], plain["momentum"]) == (0.016, 0.874)
  assert reported["test_accuracy"][0] == pytest.approx(plain["test_accuracy"], abs=1e-6)
  assert reported["final_loss"] is not None


def test_sweep_without_section_exits_2(capsys):
  with pytest.raises(SystemExit) as exit_info:
    sweep.main(["--set", "train.epochs=1"])
  assert exit_info.value.code == 2
  assert "config key 'sweep': missing" in capsys.readouterr().err


def out_of_memory_above(limit, calls):
  """A stand-in for a chunk's training that runs out of memory above ``limit`` lanes."""
  def train_chunk(chunk, size):
    calls.append(size)
    if size > limit:
      raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to "
                                       f"allocate {size} GiB")
    return [{"cell": cell, "chunk_size": size} for cell in chunk]
  return train_chunk


def test_a_chunk_out_of_memory_is_retried_at_half_the_size():
  cells = [sweep.Cell(float(i), 0.9, 0) for i in range(10)]
  calls = []
  results = sweep.in_chunks(cells, 10, 2, out_of_memory_above(4, calls))
  assert [r["cell"] for r in results] == cells  # each cell once, in order
  # 10 fails, 5 rounds up to 6 whole lanes of 2 and fails, then 4 fits for all.
  assert calls == [10, 6, 4, 4, 4]
  assert {r["chunk_size"] for r in results} == {4}


def test_out_of_memory_at_the_smallest_chunk_is_one_line_naming_the_key():
  with pytest.raises(config_lib.ConfigError, match="'sweep.chunk_size': out of device memory"):
    sweep.in_chunks([sweep.Cell(1.0, 0.9, 0)] * 3, 3, 1, out_of_memory_above(0, []))


def test_other_runtime_errors_are_not_retried():
  def broken(chunk, size):
    raise jax.errors.JaxRuntimeError("INTERNAL: something else")
  with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
    sweep.in_chunks([sweep.Cell(1.0, 0.9, 0)] * 3, 3, 1, broken)
