"""The vmapped sweep equals the plain runner cell by cell; diverging cells stay isolated."""

import dataclasses
import json

import jax
import numpy as np
import pytest

import dualprocess
from experiments import config as config_lib
from experiments import data, sweep
from experiments.training import lanes
from experiments.workflows import run as run_engine
from experiments.workflows import sweep as sweep_engine


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
  result = sweep_engine.sweep(config, dataset, tmp_path)
  assert (tmp_path / "landscape.png").is_file()
  saved = json.loads((tmp_path / "sweep.json").read_text())
  # (0.01, 0.9) is both a grid cell and the traditional pair: trained once; the
  # derived, reported, information and golden pairs are off the grid.
  assert saved["num_cells_trained"] == (2 * 2 + 4) * 2
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
      summary = run_engine.train_and_evaluate(plain, dataset, progress=False)
      assert accuracy == pytest.approx(summary["test_accuracy"], abs=1e-6)
  # Every named constant set is marked; the default config's optimizer is the derived one.
  assert list(result["references"]) == list(dualprocess.constants.NAMES)
  assert saved["references"]["reported"]["learning_rate"] == 0.016
  derived = result["references"]["double_bayesian"]
  plain = run_engine.train_and_evaluate(dataclasses.replace(
      config, train=dataclasses.replace(config.train, seed=0)), dataset, progress=False)
  assert (plain["learning_rate"], plain["momentum"]) == dualprocess.hyperparameters()
  assert derived["test_accuracy"][0] == pytest.approx(plain["test_accuracy"], abs=1e-6)
  assert derived["final_loss"] is not None


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
  cells = [lanes.Cell(float(i), 0.9, 0) for i in range(10)]
  calls = []
  results = lanes.in_chunks(cells, 10, 2, out_of_memory_above(4, calls))
  assert [r["cell"] for r in results] == cells  # each cell once, in order
  # 10 fails, 5 rounds up to 6 whole lanes of 2 and fails, then 4 fits for all.
  assert calls == [10, 6, 4, 4, 4]
  assert {r["chunk_size"] for r in results} == {4}


def test_out_of_memory_at_the_smallest_chunk_is_one_line_naming_the_key():
  with pytest.raises(config_lib.ConfigError, match="'sweep.chunk_size': out of device memory"):
    lanes.in_chunks([lanes.Cell(1.0, 0.9, 0)] * 3, 3, 1, out_of_memory_above(0, []))


def test_other_runtime_errors_are_not_retried():
  def broken(chunk, size):
    raise jax.errors.JaxRuntimeError("INTERNAL: something else")
  with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
    lanes.in_chunks([lanes.Cell(1.0, 0.9, 0)] * 3, 3, 1, broken)


def test_folds_with_dropout_each_lane_equals_its_plain_run_and_the_claim_is_computed(tmp_path):
  # The author's protocol in miniature: a CNN with dropout, [-1, 1] inputs, an
  # explicit uneven grid, 3 stratified folds of a stratified half of 600 digits.
  config = config_lib.load(None, [
      "dataset.limit_train=600", "dataset.train_fraction=0.5", "dataset.folds=3",
      "dataset.scale=symmetric", "model.name=cnn", "model.channels=[4]",
      "model.kernel_sizes=[3]", "model.strides=[1]", "model.pool=2", "model.dropout=0.25",
      "model.init=kaiming_uniform", "loss.name=cross_entropy", "train.epochs=2",
      "train.progress=false", "sweep.learning_rates=[0.01, 0.016, 0.2]",
      "sweep.momenta=[0.0, 0.874]", "sweep.seeds=[0]", "sweep.folds=[0, 2]",
      "sweep.reference=[0.016, 0.874]"])
  dataset = data.load(config.dataset)
  full = data.load(dataclasses.replace(config.dataset, train_fraction=1.0, scale="unit"))
  halves = [round(0.5 * n) for n in np.bincount(full.train_y)]  # stratified: per class
  assert len(dataset.train_y) == sum(halves) and float(dataset.train_x.min()) == -1.0
  np.testing.assert_allclose(np.sort(dataset.train_x.ravel())[[0, -1]], [-1.0, 1.0])
  result = sweep_engine.sweep(config, dataset, tmp_path)
  assert (tmp_path / "grid.png").is_file() and (tmp_path / "landscape.png").is_file()
  table = (tmp_path / "grid.md").read_text()
  assert "| 0.016 | " in table and " ★" in table and "**" in table and "double_bayesian" in table
  assert result["folds"] == [0, 2] and result["num_train"] == 2 * (sum(halves) // 3)
  assert result["num_cells_trained"] == (3 * 2 + 4) * 2  # 6 grid cells, 4 named pairs off it
  cell = cells_of(result)[(0.016, 0.874)]
  assert len(cell["per_fold_test_accuracy"]) == len(cell["per_fold_validation_accuracy"]) == 2
  for fold, test, validation in zip(cell["folds"], cell["per_fold_test_accuracy"],
                                    cell["per_fold_validation_accuracy"], strict=True):
    plain = run_engine.train_and_evaluate(dataclasses.replace(
        config, optimizer=config_lib.OptimizerConfig(name="sgd", learning_rate=0.016,
                                                     momentum=0.874),
        dataset=dataclasses.replace(config.dataset, fold=fold)), dataset, progress=False)
    assert test == pytest.approx(plain["test_accuracy"], abs=1e-6)
    assert validation == pytest.approx(plain["validation_accuracy"], abs=1e-6)
  # Folds differ, and so do cells: each lane draws its own dropout masks.
  assert cell["per_fold_test_accuracy"][0] != cell["per_fold_test_accuracy"][1]
  claim = json.loads((tmp_path / "sweep.json").read_text())["claim"]
  assert claim["reference"] == [0.016, 0.874] and claim["folds"] == 2
  assert claim["num_cells"] == 6 and 1 <= claim["rank"] <= 6
  assert claim["test"].startswith("TOST") and "ttest_rel" in claim["test"]
  best = claim["best"]  # chosen on validation, never on test
  assert best["mean_validation_accuracy"] == max(c["mean_validation_accuracy"]
                                                 for c in result["cells"])
  assert claim["verdict"] in ("equivalent", "better", "worse", "inconclusive", "no spread")
  assert claim["margin"] == config.sweep.margin


def test_cells_under_a_shared_schedule_equal_plain_runs_with_that_peak(tmp_path):
  pipeline = ["optimizer.schedule.name=warmup_cosine", "optimizer.schedule.warmup_steps=8",
              "optimizer.weight_decay=0.001", "optimizer.clip_norm=1.0"]
  config = config_lib.load(None, [
      "dataset.limit_train=256", "model.hidden_sizes=[16]", "train.epochs=2",
      "train.progress=false", "sweep.learning_rates=[0.05, 0.5]", "sweep.momenta=[0.9]",
      "sweep.seeds=[0]", *pipeline])
  dataset = data.load(config.dataset)
  cells = [lanes.Cell(0.05, 0.9, 0), lanes.Cell(0.5, 0.9, 0)]
  results = lanes.train_cells(config, dataset, cells)
  for cell, result in zip(cells, results, strict=True):
    plain = dataclasses.replace(config, optimizer=dataclasses.replace(
        config.optimizer, learning_rate=cell.learning_rate, momentum=cell.momentum))
    summary = run_engine.train_and_evaluate(plain, dataset, progress=False)
    assert result["test_accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
  assert results[0]["test_accuracy"] != results[1]["test_accuracy"]  # the peak matters


@pytest.mark.parametrize("nesterov", [False, True])
def test_the_injected_optimizer_is_the_configs_dual_process_per_cell(nesterov):
  config = config_lib.load(None, [f"optimizer.nesterov={str(nesterov).lower()}"])
  tx = lanes.injected_optimizer(config, total_steps=10)
  plain = dualprocess.dual_process(0.1, 0.9, nesterov=nesterov)
  params = {"w": jax.numpy.array([1.0, -2.0])}
  state, plain_state = tx.init(params), plain.init(params)
  state.hyperparams["learning_rate"], state.hyperparams["momentum"] = 0.1, 0.9
  for step in range(3):
    grads = {"w": jax.numpy.array([0.5, step - 1.0])}
    updates, state = tx.update(grads, state, params)
    expected, plain_state = plain.update(grads, plain_state, params)
    np.testing.assert_allclose(updates["w"], expected["w"], rtol=1e-6)
