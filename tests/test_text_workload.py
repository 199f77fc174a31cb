"""The text workload end to end: dataset text and the transformer through every command.

A tiny transformer on a small generated text (a few steps each): per-token metrics and
bits per token in the run's files, the evaluation's per-token means checked by hand, a
resume after a stop, compare, the sweep's lanes and the suite equal to plain runs, the
user's own factory on sequence logits, and every bad text a one-line exit 2 with no
output folder left behind.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import dualprocess
from experiments import api, data, run
from experiments import config as config_lib
from experiments.errors import ConfigError
from experiments.models import own, variables
from experiments.training import stopping
from experiments.training import train as train_lib
from experiments.workflows import run as run_engine

CONTEXT = 16
TINY_MODEL = {"name": "transformer", "width": 16, "depth": 1, "heads": 2}


def make_text(lines: int = 700) -> str:
  """A small, learnable text: numbered Python-like lines (about 20 KB)."""
  return "".join(f"def f{i % 50}(x):\n    return x * {i % 7} + {i % 3}\n"
                 for i in range(lines))


@pytest.fixture(scope="module")
def text_file(tmp_path_factory):
  path = tmp_path_factory.mktemp("text") / "corpus.txt"
  path.write_text(make_text())
  return path


def tiny_config(path, **train) -> dict:
  return {"dataset": {"name": "text", "path": str(path), "context": CONTEXT,
                      "limit_train": 256},  # 8 steps an epoch
          "model": dict(TINY_MODEL), "loss": {"name": "cross_entropy"},
          "optimizer": {"name": "adam", "learning_rate": 0.01},
          "train": {"epochs": 2, "batch_size": 32, "progress": False, **train}}


def load_dataset(config: dict) -> data.Dataset:
  return data.load(config_lib.build(config_lib.DatasetConfig, config["dataset"]))


def read_metrics(out) -> list[dict]:
  return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_run_reports_per_token_loss_accuracy_and_bits(text_file, tmp_path):
  out = tmp_path / "run"
  summary = api.run(tiny_config(text_file), out=out)
  loaded = load_dataset(tiny_config(text_file))
  assert loaded.train_x.shape[1:] == (CONTEXT,) and loaded.train_y.shape == loaded.train_x.shape
  assert loaded.num_classes == 256 and loaded.validation[0].shape[1:] == (CONTEXT,)
  assert summary["status"] == "ok" and summary["dataset"] == "text"
  assert summary["num_train"] == len(loaded.train_x)
  assert summary["steps"] == 2 * (len(loaded.train_x) // 32)
  assert 0.0 < summary["test_accuracy"] <= 1.0 and math.isfinite(summary["test_loss"])
  assert summary["test_bits_per_token"] == pytest.approx(summary["test_loss"] / math.log(2),
                                                          rel=1e-6)
  # It learns: below the 8 bits of a uniform guess over bytes, and better than chance.
  assert summary["test_bits_per_token"] < 7.0 and summary["test_accuracy"] > 1 / 256
  metrics = read_metrics(out)
  assert [m["step"] for m in metrics] == list(range(1, summary["steps"] + 1))
  for m in metrics:
    assert m["bits_per_token"] == pytest.approx(m["loss"] / math.log(2), rel=1e-6)
    assert 0.0 <= m["accuracy"] <= 1.0 and 0.0 < m["p_correct"] < 1.0
  assert metrics[-1]["test_bits_per_token"] == summary["test_bits_per_token"]
  assert metrics[-1]["test_accuracy"] == summary["test_accuracy"]
  assert metrics[-1]["loss"] < metrics[0]["loss"]


def test_evaluation_and_batch_metrics_are_means_over_tokens():
  """The chunked evaluation (padding included) and a step's metrics equal the direct
  per-token means of the model's logits."""
  from experiments import models
  model_config = config_lib.build(config_lib.ModelConfig, TINY_MODEL)
  model = models.create(model_config, (CONTEXT,), 11, seed=0)
  graph, params, state = variables.split(model)
  rng = np.random.default_rng(0)
  x = rng.integers(0, 11, (37, CONTEXT)).astype(np.uint8)
  y = rng.integers(0, 11, (37, CONTEXT)).astype(np.uint8)
  logits = np.asarray(model(jnp.asarray(x)), np.float64)
  log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  token_loss = -np.take_along_axis(log_p, y[..., None].astype(np.int64), -1)[..., 0]
  accuracy = (logits.argmax(-1) == y).mean()
  evaluate = train_lib.make_evaluate(graph, "cross_entropy", chunk_size=8)  # 5 chunks, padded
  metrics = jax.jit(evaluate)(params, x, y, model_state=state)
  assert float(metrics["test_loss"]) == pytest.approx(token_loss.mean(), rel=1e-5)
  assert float(metrics["test_accuracy"]) == pytest.approx(accuracy, abs=1e-6)
  assert float(metrics["test_bits_per_token"]) == pytest.approx(
      token_loss.mean() / math.log(2), rel=1e-5)
  # Bits per token are the next token's likelihood whatever the loss trained.
  dual = jax.jit(train_lib.make_evaluate(graph, "dual_process"))(params, x, y, model_state=state)
  assert float(dual["test_bits_per_token"]) == pytest.approx(
      float(metrics["test_bits_per_token"]), rel=1e-6)
  dual_loss = dualprocess.dual_process_loss(jnp.asarray(logits, jnp.float32), jnp.asarray(y))
  assert float(dual["test_loss"]) == pytest.approx(float(dual_loss.mean()), rel=1e-5)
  assert float(dual["test_loss"]) != float(metrics["test_loss"])
  d = train_lib.decompose(jnp.asarray(logits, jnp.float32), jnp.asarray(y), "cross_entropy")
  step = train_lib.batch_metrics(jnp.asarray(logits, jnp.float32), jnp.asarray(y), d)
  p_correct = np.exp(-token_loss).mean()
  assert float(step["p_correct"]) == pytest.approx(p_correct, rel=1e-5)
  assert float(step["accuracy"]) == pytest.approx(accuracy, abs=1e-6)
  assert float(step["bits_per_token"]) == pytest.approx(token_loss.mean() / math.log(2),
                                                        rel=1e-5)


class StopAfter(stopping.GracefulStop):
  """A stop requested at the ``calls``-th question (as a SIGTERM would be), no handlers."""

  def __init__(self, calls: int):
    super().__init__()
    self.calls = calls

  def install(self) -> None:
    pass

  def requested(self) -> bool:
    self.calls -= 1
    if self.calls <= 0:
      self.signum = signal.SIGTERM
    return super().requested()


def test_a_stopped_run_resumes_to_the_uninterrupted_result(text_file, tmp_path):
  config = tiny_config(text_file, epochs=3, checkpoint_every=4, max_segment_steps=4)
  config["model"]["dropout"] = 0.1  # the masks must resume too
  reference = api.run(config, out=tmp_path / "reference")
  out = tmp_path / "stopped"
  with pytest.raises(stopping.StopRequested, match=r"at step \d+: checkpoint saved"):
    api.run(config, out=out, stop=StopAfter(2))  # start-up, then after the first segment
  stopped = json.loads((out / "summary.json").read_text())
  assert stopped["status"] == "interrupted" and 0 < stopped["step"] < reference["steps"]
  resumed = api.run(config, out=out)
  assert resumed["resumed_from_step"] == stopped["step"]
  for key in ("test_loss", "test_accuracy", "test_bits_per_token", "train_loss", "steps"):
    assert resumed[key] == reference[key], key
  assert read_metrics(out) == read_metrics(tmp_path / "reference")


def test_compare_rows_equal_plain_runs_in_chars_mode(text_file, tmp_path):
  config = tiny_config(text_file, epochs=1)
  config["dataset"]["mode"] = "chars"
  optimizers = [{"name": "adam", "learning_rate": 0.01},
                {"name": "sgd", "learning_rate": 0.5, "momentum": 0.9}]
  config["compare"] = {"seeds": [0], "optimizers": optimizers}
  result = api.compare(config, out=tmp_path / "compare")
  assert [r["name"] for r in result["rows"]] == ["adam", "sgd"]
  for row, optimizer in zip(result["rows"], optimizers, strict=True):
    assert row["diverged"] == 0 and 0.0 < row["test_accuracy"] <= 1.0
    plain = api.run(dict(config, optimizer=optimizer, compare=None))
    assert row["per_seed_test_accuracy"] == [plain["test_accuracy"]]
    assert row["test_loss"] == plain["test_loss"]
  dataset = load_dataset(config)
  assert dataset.num_classes == len(set(make_text())) + 1  # the characters, and unknown


def test_the_sweeps_lanes_equal_plain_runs(text_file, tmp_path):
  config = tiny_config(text_file, epochs=1)
  config["optimizer"] = {"name": "dual_process"}
  config["sweep"] = {"learning_rates": [0.01, 0.1], "momenta": [0.9], "seeds": [0]}
  result = api.sweep(config, out=tmp_path / "sweep", say=None)
  experiment = api.load_config(config)
  dataset = data.load(experiment.dataset)
  assert len(result["cells"]) == 2
  for cell in result["cells"]:
    assert not cell["diverged"] and 0.0 < cell["mean_test_accuracy"] <= 1.0
    plain = run_engine.train_and_evaluate(dataclasses.replace(
        experiment, optimizer=config_lib.OptimizerConfig(
            name="dual_process", learning_rate=cell["learning_rate"],
            momentum=cell["momentum"])), dataset, progress=False)
    assert cell["test_accuracy"][0] == pytest.approx(plain["test_accuracy"], abs=1e-6)


def test_the_suite_scores_trials_on_the_texts_validation_block(text_file, tmp_path):
  workload = tmp_path / "text.yaml"
  workload.write_text(yaml.safe_dump(tiny_config(text_file, epochs=1)))
  suite_config = {
      "seeds": [0], "eval_every": 1, "losses": ["cross_entropy"], "target_slack": 0.05,
      "search": {"trials": 2, "seed": 0, "trial_seeds": [1000], "spaces": [
          {"label": "tuned adam", "name": "adam", "learning_rate": {"min": 0.001, "max": 0.03}}]},
      "optimizers": [{"name": "adam", "learning_rate": 0.01, "label": "adam 1e-2"}],
      "workloads": [{"name": "text_transformer", "config": "text.yaml"}]}
  document = api.suite(suite_config, out=tmp_path / "suite", base=tmp_path, say=None)
  [unit] = document["workloads"]
  dataset = data.load(api.load_config(str(workload)).dataset)
  # Every training window trains: the validation split is the text's own block.
  assert unit["train_examples"] == len(dataset.train_x)
  trials = unit["searches"]["tuned adam"]
  assert len(trials) == 2
  for trial in trials:
    assert not trial["diverged"] and 0.0 < trial["validation_accuracy"] <= 1.0
  for group in unit["groups"]:
    [seeded] = group["runs"]
    assert not seeded["diverged"] and 0.0 < seeded["test_accuracy"] <= 1.0
    assert 0.0 < seeded["validation_accuracy"] <= 1.0
  assert 0.0 < unit["target"] <= 1.0


def test_the_users_own_factory_gives_sequence_logits(text_file):
  config = tiny_config(text_file, epochs=1)
  built_in = api.run(config)
  config["model"] = {"name": "experiments.models.transformer:transformer",
                     "kwargs": {"width": 16, "depth": 1, "heads": 2}}
  mine = api.run(config)
  assert mine["test_loss"] == pytest.approx(built_in["test_loss"], rel=1e-5)
  assert mine["test_bits_per_token"] == pytest.approx(built_in["test_bits_per_token"], rel=1e-5)


def test_logits_without_a_time_axis_are_refused_for_a_text():
  from flax import nnx

  class Pooled(nnx.Module):  # one prediction per window: not next-token logits
    def __init__(self, rngs):
      self.embed = nnx.Embed(256, 8, rngs=rngs)
      self.out = nnx.Linear(8, 256, rngs=rngs)

    def __call__(self, x):
      return self.out(self.embed(x).mean(1))

  model = Pooled(nnx.Rngs(0))
  with pytest.raises(ConfigError, match=r"expected \[batch, context, vocab\] = \(2, 16, 256\)"):
    own.check_logits(model, "pooled", (CONTEXT,), 256, sequence=True)


def exit_line(argv, capsys) -> str:
  with pytest.raises(SystemExit) as exit_info:
    run.main(argv)
  lines = capsys.readouterr().err.strip().splitlines()
  assert exit_info.value.code == 2 and len(lines) == 1, lines
  return lines[0]


def text_argv(path, out, *extra) -> list[str]:
  return ["--set", "dataset.name=text", "--set", f"dataset.path={path}",
          "--set", "model.name=transformer", "--set", f"dataset.context={CONTEXT}",
          *extra, "--out", str(out)]


@pytest.mark.parametrize("content, extra, start, message", [
    (b"", (), "error: dataset file '{path}'", "empty"),
    (b"def f(x):\n  return x\n" * 5, ("--set", "dataset.context=64"),
     "error: config key 'dataset.context'", "the validation split of '{path}' has 10"),
    (b"caf\xe9 au lait\n" * 40, ("--set", "dataset.mode=chars"),
     "error: dataset file '{path}'", "not UTF-8 at byte 3"),
], ids=["empty file", "context longer than the text", "not UTF-8 in chars mode"])
def test_a_bad_text_exits_2_with_one_line_and_no_output(tmp_path, capsys, content, extra,
                                                       start, message):
  path = tmp_path / "corpus.txt"
  path.write_bytes(content)
  out = tmp_path / "out"
  line = exit_line(text_argv(path, out, *extra), capsys)
  assert line.startswith(start.format(path=path)), line
  assert message.format(path=path) in line and not out.exists()


@pytest.mark.parametrize("extra, message", [
    (("--set", "dataset.label_noise=0.1"), "config key 'dataset.label_noise': not for dataset "
     "'text'"),
    (("--set", "dataset.train_fraction=0.5"), "config key 'dataset.train_fraction': not for"),
    (("--set", "dataset.folds=3"), "config key 'dataset.folds': not for dataset 'text'"),
    (("--set", "dataset.test_fraction=0.3"), "config key 'dataset.test_fraction': not for"),
    (("--set", "dataset.scale=symmetric"), "config key 'dataset.scale': not for dataset"),
    (("--set", "dataset.fractions=[0.9, 0.1, 0.0]"), "config key 'dataset.fractions': "
     "[0.9, 0.1, 0.0]; expected three positive shares"),
    (("--set", "dataset.stride=0"), "config key 'dataset.stride': must be a positive integer"),
    (("--set", "model.name=mlp"), "config key 'model.name': 'mlp' classifies whole examples"),
    (("--set", "model.width=30", "--set", "model.heads=4"),
     "config key 'model.width': 30 is no multiple of model.heads (4)"),
    (("--set", "model.init=kaiming_uniform"), "config key 'model.init': 'kaiming_uniform' is "
     "for mlp and cnn"),
], ids=lambda v: v[1] if isinstance(v, tuple) else None)
def test_keys_without_meaning_for_a_text_exit_2_naming_the_key(text_file, tmp_path, capsys,
                                                               extra, message):
  out = tmp_path / "out"
  line = exit_line(text_argv(text_file, out, *extra), capsys)
  assert line.startswith("error: config key ") and message in line, line
  assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--set", "model.name=transformer"], "config key 'model.name': 'transformer' predicts the "
     "next token of a text; it needs dataset 'text', not 'digits'"),
    (["--set", "dataset.context=32"], "config key 'dataset.context': only for dataset 'text', "
     "not 'digits'"),
    (["--set", "dataset.name=text"], "config key 'dataset.path': required for dataset 'text'"),
], ids=["transformer on digits", "context on digits", "text without a path"])
def test_the_pairing_is_checked_before_any_data(tmp_path, capsys, argv, message):
  line = exit_line(argv + ["--out", str(tmp_path / "out")], capsys)
  assert message in line and not (tmp_path / "out").exists()
