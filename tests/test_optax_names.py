"""Any optax optimizer by name, or a user's function, as an optimizer entry (issue 24, item 3),
and every bad one a one-line error with exit code 2 (item 7).

``optimizer.name: optax.NAME`` / ``optax.contrib.NAME`` with ``optimizer.kwargs``, or
``"package.module:function"``: the built update equals the one written by hand, in runs,
compare, the suite's entries and the sweep's lanes; a free-form mapping in typed YAML.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import pickle
import subprocess
import sys
import textwrap
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import yaml

from experiments import compare, data, loading, suite, typed_yaml
from experiments import config as config_lib
from experiments.config import ConfigError, OptimizerConfig
from experiments.training import lanes, optax_names, optimizers
from experiments.workflows import run as run_engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def entry(**fields) -> OptimizerConfig:
  return loading.build(OptimizerConfig, fields, "optimizer")


def trajectory(tx, steps=6):
  params = {"dense": {"kernel": jnp.arange(6.0).reshape(3, 2) / 7, "bias": jnp.ones(2)}}
  state = tx.init(params)
  out = []
  for i in range(steps):
    grads = jax.tree.map(lambda p, i=i: jnp.sin(p * (1 + i / 10)) * 3.0, params)
    updates, state = tx.update(grads, state, params)
    params = optax.apply_updates(params, updates)
    out.append(params)
  return out


def assert_same(ours, theirs):
  for a, b in zip(trajectory(ours), trajectory(theirs), strict=True):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
      np.testing.assert_array_equal(x, y)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
  """A module of the user's, outside the package, importable by name."""
  (tmp_path / "my_optimizers.py").write_text(textwrap.dedent("""
      import optax

      def lion_like(learning_rate, beta=0.9, decay=0.0):
        return optax.lion(learning_rate, b1=beta, weight_decay=decay)

      def fixed():  # its own learning rate inside
        return optax.sgd(0.05)

      def not_a_transformation(learning_rate):
        return {"learning_rate": learning_rate}

      class Factories:
        @staticmethod
        def adam(learning_rate):
          return optax.adam(learning_rate)
      """))
  (tmp_path / "broken_optimizers.py").write_text("raise RuntimeError('boom at import')\n")
  (tmp_path / "needs_missing.py").write_text("import not_installed_anywhere\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  return tmp_path


# ---------------------------------------------------------------------------------------
# typed YAML: a free-form mapping field


@dataclasses.dataclass(frozen=True)
class WithMapping:
  kwargs: dict[str, Any] = dataclasses.field(default_factory=typed_yaml.FrozenMapping)
  sizes: dict[str, int] = dataclasses.field(default_factory=typed_yaml.FrozenMapping)
  label: Optional[str] = None

  def validate(self, key):
    pass


def test_a_mapping_field_takes_any_yaml_values_and_stays_frozen():
  built = typed_yaml.build(WithMapping, yaml.safe_load(
      "kwargs: {b2: 0.95, eps: 1e-8, name: frobenius, shape: [1, 2], inner: {x: 1e-3}}\n"
      "sizes: {a: 3}"))
  # PyYAML reads 1e-8 (no dot) as a string; it means the number, at any depth.
  assert built.kwargs == {"b2": 0.95, "eps": 1e-8, "name": "frobenius", "shape": [1, 2],
                          "inner": {"x": 1e-3}}
  assert built.sizes == {"a": 3} and WithMapping().kwargs == {}
  with pytest.raises(TypeError, match="read-only"):
    built.kwargs["b2"] = 0.5
  with pytest.raises(TypeError, match="read-only"):
    built.kwargs.update(b2=0.5)
  assert hash(built) == hash(typed_yaml.build(WithMapping, {
      "kwargs": {"inner": {"x": 1e-3}, "shape": [1, 2], "name": "frobenius", "eps": 1e-8,
                 "b2": 0.95}, "sizes": {"a": 3}}))
  for twin in (copy.deepcopy(built), pickle.loads(pickle.dumps(built)),
               dataclasses.replace(built, label="x")):
    assert twin.kwargs == built.kwargs
    assert isinstance(twin.kwargs, typed_yaml.FrozenMapping)
  assert dataclasses.asdict(built)["kwargs"] == built.kwargs
  # Written back as plain YAML, read back the same.
  text = typed_yaml.dump(built)
  assert typed_yaml.build(WithMapping, yaml.safe_load(text)) == built


@pytest.mark.parametrize("data, message", [
    ({"kwargs": 3}, "config key 'kwargs': expected a mapping of names to values, got 3"),
    ({"kwargs": [1]}, "config key 'kwargs': expected a mapping of names to values"),
    ({"kwargs": {1: 2}}, "config key 'kwargs': the names of its entries are strings, got 1"),
    ({"sizes": {"a": "big"}}, "config key 'sizes.a': expected an integer, got 'big'"),
])
def test_a_bad_mapping_is_one_line(data, message):
  with pytest.raises(ConfigError) as info:
    typed_yaml.build(WithMapping, data)
  assert message in str(info.value) and "\n" not in str(info.value)


def test_kwargs_are_set_by_dotted_overrides_and_written_back():
  config = config_lib.load(None, ["optimizer.name=optax.adamw", "optimizer.learning_rate=1e-3",
                                  "optimizer.kwargs.b2=0.95", "optimizer.kwargs.eps=1e-7"])
  assert config.optimizer.kwargs == {"b2": 0.95, "eps": 1e-7}
  assert hash(config) == hash(config_lib.build(
      config_lib.ExperimentConfig, yaml.safe_load(config_lib.dump(config))))
  again = config_lib.build(config_lib.ExperimentConfig, yaml.safe_load(config_lib.dump(config)))
  assert again == config


def test_the_new_keys_are_written_only_when_set():
  # So a config.yaml written before them, compared as text to resume, is unchanged.
  for path in (None, "configs/sweep_digits.yaml", "configs/compare_digits.yaml"):
    text = config_lib.dump(config_lib.load(path))
    assert "momentum_argument" not in text and "optimizer.kwargs" not in text
    assert "kwargs" not in yaml.safe_load(text)["optimizer"]
  config = config_lib.load("configs/sweep_digits.yaml", [
      "optimizer.name=optax.adamw", "optimizer.learning_rate=0.001", "optimizer.kwargs.b2=0.9",
      "sweep.momentum_argument=b1"])
  written = yaml.safe_load(config_lib.dump(config))
  assert written["optimizer"]["kwargs"] == {"b2": 0.9}
  assert written["sweep"]["momentum_argument"] == "b1"
  assert "momentum_argument" not in written["optimizer"]


# ---------------------------------------------------------------------------------------
# Building: the update by name equals the one written by hand


def test_an_optax_name_with_kwargs_and_momentum_is_that_optimizer():
  config = entry(name="optax.adamw", learning_rate=1e-3, momentum=0.8,
                 momentum_argument="b1", kwargs={"b2": 0.95, "weight_decay": 0.1})
  assert_same(optimizers.create(config, 10),
              optax.adamw(1e-3, b1=0.8, b2=0.95, weight_decay=0.1))
  resolved = optimizers.resolve(config)
  assert resolved == ("optax.adamw(lr=0.001, b1=0.8, b2=0.95, weight_decay=0.1)", 1e-3, 0.8)


def test_the_pipeline_around_an_optax_name_is_the_chain_written_by_hand():
  config = entry(name="optax.lion", learning_rate=1e-3, momentum=0.95, momentum_argument="b1",
                 schedule={"name": "warmup_cosine", "warmup_steps": 2}, weight_decay=0.01,
                 weight_decay_mask="kernels", clip_norm=0.5, kwargs={"weight_decay": 0.0})
  lr = optax.schedules.warmup_cosine_decay_schedule(0.0, 1e-3, 2, 10, end_value=0.0)
  kernels = lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)
  by_hand = optax.chain(optax.clip_by_global_norm(0.5), optax.add_decayed_weights(0.01, kernels),
                        optax.lion(lr, b1=0.95, weight_decay=0.0))
  # kwargs.weight_decay = 0 and optimizer.weight_decay: not two decays, so allowed.
  assert_same(optimizers.create(config, 10), by_hand)
  assert optimizers.resolve(config).label == (
      "optax.lion(lr=0.001, b1=0.95, weight_decay=0) + warmup_cosine warmup 2 + wd 0.01 "
      "(kernels) + clip 0.5")


def test_unset_numbers_are_the_factorys_own_defaults():
  prodigy = optimizers.resolve(entry(name="optax.contrib.prodigy"))
  assert prodigy == ("optax.contrib.prodigy(lr=1)", 1.0, None)
  # 'momentum' is found by its name; muon's beta by momentum_argument.
  sgd = entry(name="optax.sgd", learning_rate=0.1, momentum=0.9, kwargs={"nesterov": True})
  assert optimizers.resolve(sgd).label == "optax.sgd(lr=0.1, momentum=0.9, nesterov=True)"
  assert_same(optimizers.create(sgd, 10), optax.sgd(0.1, 0.9, nesterov=True))
  muon = entry(name="optax.contrib.muon", learning_rate=0.02, momentum_argument="beta")
  assert optimizers.resolve(muon).momentum == 0.95
  assert_same(optimizers.create(muon, 10), optax.contrib.muon(0.02))


def test_a_users_function_is_called_with_the_entrys_numbers(user_module):
  config = entry(name="my_optimizers:lion_like", learning_rate=3e-4, momentum=0.85,
                 momentum_argument="beta", kwargs={"decay": 0.01})
  assert_same(optimizers.create(config, 10), optax.lion(3e-4, b1=0.85, weight_decay=0.01))
  assert optimizers.resolve(config).label == (
      "my_optimizers:lion_like(lr=0.0003, beta=0.85, decay=0.01)")
  assert_same(optimizers.create(entry(name="my_optimizers:fixed"), 10), optax.sgd(0.05))
  nested = entry(name="my_optimizers:Factories.adam", learning_rate=0.01)
  assert_same(optimizers.create(nested, 10), optax.adam(0.01))


@pytest.mark.parametrize("chained", [False, True])
def test_a_schedule_free_optax_name_is_evaluated_at_its_average(chained):
  config = entry(name="optax.contrib.schedule_free_adamw", learning_rate=0.01,
                 clip_norm=1.0 if chained else None)
  tx = optimizers.create(config, 10)
  params = {"w": jnp.array([1.0, -2.0])}
  state = tx.init(params)
  for step in range(3):
    updates, state = tx.update({"w": jnp.array([0.5, step - 1.0])}, state, params)
    params = optax.apply_updates(params, updates)
  inner = state[-1] if chained else state
  expected = optax.contrib.schedule_free_eval_params(inner, params)
  evaluated = optimizers.evaluation_params(config, state, params)
  np.testing.assert_array_equal(evaluated["w"], expected["w"])
  assert not np.array_equal(evaluated["w"], params["w"])
  plain = entry(name="optax.adamw", learning_rate=0.01)
  plain_state = optimizers.create(plain, 10).init(params)
  assert optimizers.evaluation_params(plain, plain_state, params) is params


# ---------------------------------------------------------------------------------------
# Bad entries: one line naming the key


BAD = [
    ({"name": "optax.adamww", "learning_rate": 1e-3},
     "config key 'optimizer.name': optax has no 'optax.adamww'; did you mean 'optax.adamw'"),
    ({"name": "optax.muon", "learning_rate": 1e-3},
     "config key 'optimizer.name': optax has no 'optax.muon'; did you mean "
     "'optax.contrib.muon'?"),
    ({"name": "optax.contrib.nothing_like_it"},
     "config key 'optimizer.name': optax has no 'optax.contrib.nothing_like_it' (nor a close"),
    ({"name": "rmsprop"}, "config key 'optimizer.name': unknown value 'rmsprop'; allowed: "
     "dual_process"),
    ({"name": "optax.schedules.cosine_decay_schedule"},
     "config key 'optimizer.name': unknown value 'optax.schedules.cosine_decay_schedule'"),
    ({"name": "optax.contrib"}, "config key 'optimizer.name': 'optax.contrib' is not an "
     "optimizer"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "kwargs": {"beta2": 0.9}},
     "config key 'optimizer.kwargs.beta2': optax.adamw takes no argument 'beta2'; it takes: b1, "
     "b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "kwargs": {"learning_rate": 0.1}},
     "config key 'optimizer.kwargs.learning_rate': set optimizer.learning_rate instead"),
    ({"name": "optax.adamw"}, "config key 'optimizer.learning_rate': required for optimizer "
     "'optax.adamw'"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "momentum": 0.9},
     "config key 'optimizer.momentum': optax.adamw takes no argument 'momentum'; name its "
     "momentum-like one in optimizer.momentum_argument"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "momentum_argument": "beta1"},
     "config key 'optimizer.momentum_argument': optax.adamw takes no argument 'beta1'"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "momentum_argument": "b1",
      "kwargs": {"b1": 0.9}},
     "config key 'optimizer.kwargs.b1': b1 is optax.adamw's momentum argument; set "
     "optimizer.momentum instead"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "weight_decay": 0.1,
      "kwargs": {"weight_decay": 0.1}},
     "config key 'optimizer.weight_decay': optax.adamw decays by its own kwargs.weight_decay"),
    ({"name": "optax.scale_by_adam", "learning_rate": 1e-3},
     "config key 'optimizer.learning_rate': optax.scale_by_adam takes no argument "
     "'learning_rate'"),
    ({"name": "optax.scale_by_adam", "schedule": {"name": "cosine"}},
     "config key 'optimizer.schedule': scales the learning rate, and optax.scale_by_adam has "
     "none to scale"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "nesterov": True},
     "config key 'optimizer.nesterov': only for dual_process and sgd (optax names: "
     "kwargs.nesterov)"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "preset": "reported"},
     "config key 'optimizer.preset'"),
    ({"name": "optax.adamw", "learning_rate": 1e-3, "kwargs": {"eps": -1.0, "mu_dtype": 3}},
     "config key 'optimizer.name': optax.adamw(...) with this entry's arguments raised"),
    ({"name": "adam", "learning_rate": 1e-3, "kwargs": {"b1": 0.9}},
     "config key 'optimizer.kwargs': only for an optax name or a 'package.module:function', "
     "not optimizer 'adam'"),
    ({"name": "sgd", "learning_rate": 0.1, "momentum_argument": "momentum"},
     "config key 'optimizer.momentum_argument': only for an optax name"),
    ({"name": "adam", "learning_rate": 1e-3, "momentum": 0.9},
     "config key 'optimizer.momentum': not used by optimizer 'adam'"),
    ({"name": "not_a_module_anywhere:make"},
     "config key 'optimizer.name': 'not_a_module_anywhere:make': cannot import module "
     "'not_a_module_anywhere': no module named 'not_a_module_anywhere' "),
    ({"name": "my_optimizers:lion_lik"},
     "config key 'optimizer.name': 'my_optimizers:lion_lik': 'my_optimizers' has no attribute "
     "'lion_lik'; did you mean 'lion_like'?"),
    ({"name": "broken_optimizers:make"}, "config key 'optimizer.name': 'broken_optimizers:make': "
     "cannot import module 'broken_optimizers' (RuntimeError: boom at import)"),
    ({"name": "needs_missing:make"}, "config key 'optimizer.name': 'needs_missing:make': cannot "
     "import module 'needs_missing' (ModuleNotFoundError: No module named "
     "'not_installed_anywhere')"),
    ({"name": "my optimizers:make"}, "config key 'optimizer.name': 'my optimizers:make' is "
     "not 'package.module:function'"),
    ({"name": "my_optimizers:not_a_transformation", "learning_rate": 0.1},
     "config key 'optimizer.name': my_optimizers:not_a_transformation returned a dict, not an "
     "optax.GradientTransformation"),
    ({"name": "my_optimizers:fixed", "learning_rate": 0.1},
     "config key 'optimizer.learning_rate': my_optimizers:fixed takes no argument "
     "'learning_rate' (it takes: none); leave it unset"),
    ({"name": "my_optimizers:lion_like", "learning_rate": 0.1, "kwargs": {"b1": 0.9}},
     "config key 'optimizer.kwargs.b1': my_optimizers:lion_like takes no argument 'b1'; it "
     "takes: beta, decay"),
]


@pytest.mark.parametrize("fields, message", BAD, ids=[m.split(":")[0] + str(i)
                                                      for i, (_, m) in enumerate(BAD)])
def test_a_bad_entry_is_one_line_naming_its_key(user_module, fields, message):
  with pytest.raises(ConfigError) as info:
    entry(**fields)
  assert message in str(info.value), str(info.value)
  assert "\n" not in str(info.value)


def test_entries_of_compare_and_the_suite_name_their_own_key(tmp_path):
  with pytest.raises(ConfigError, match=r"^config key 'compare.optimizers\[1\].kwargs.bogus'"):
    loading.load_config(None, ["compare.optimizers=[{name: dual_process}, {name: optax.lion, "
                               "learning_rate: 1.0e-4, kwargs: {bogus: 1}}]"])
  (tmp_path / "w.yaml").write_text("dataset: {name: digits}\n")
  (tmp_path / "suite.yaml").write_text(yaml.safe_dump({
      "workloads": [{"name": "w", "config": "w.yaml"}],
      "optimizers": [{"name": "dual_process"}, {"name": "optax.adamww", "learning_rate": 1e-3}]}))
  with pytest.raises(ConfigError, match=r"^config key 'optimizers\[1\].name': optax has no"):
    loading.load_suite(tmp_path / "suite.yaml")


# ---------------------------------------------------------------------------------------
# The sweep: the axes map onto learning_rate and sweep.momentum_argument


def swept(overrides):
  return config_lib.load(None, ["sweep.learning_rates=[0.001, 0.01]", *overrides])


def test_the_injected_optax_optimizer_is_that_optimizer_per_cell():
  config = swept(["optimizer.name=optax.adamw", "optimizer.learning_rate=0.5",
                  "optimizer.kwargs.b2=0.95", "sweep.momentum_argument=b1",
                  "sweep.momenta=[0.8, 0.9]"])
  tx = lanes.injected_optimizer(config, total_steps=10)
  params = {"w": jnp.array([1.0, -2.0])}
  state = tx.init(params)
  state.hyperparams["learning_rate"], state.hyperparams["momentum"] = 0.01, 0.8
  plain = optax.adamw(0.01, b1=0.8, b2=0.95)
  plain_state = plain.init(params)
  for step in range(3):
    grads = {"w": jnp.array([0.5, step - 1.0])}
    updates, state = tx.update(grads, state, params)
    expected, plain_state = plain.update(grads, plain_state, params)
    np.testing.assert_allclose(updates["w"], expected["w"], rtol=1e-6)


def test_the_optimizers_own_momentum_argument_serves_the_sweep_too():
  config = swept(["optimizer.name=optax.contrib.muon", "optimizer.learning_rate=0.02",
                  "optimizer.momentum_argument=beta", "sweep.momenta=[0.9, 0.95]"])
  assert optax_names.swept_momentum_argument(config.optimizer, config.sweep) == "beta"
  plain = swept(["optimizer.name=optax.sgd", "optimizer.learning_rate=0.1",
                 "sweep.momenta=[0.0, 0.9]"])
  assert optax_names.swept_momentum_argument(plain.optimizer, plain.sweep) == "momentum"
  # No momentum argument, and a single momentum of 0: the axis has nothing to set.
  flat = swept(["optimizer.name=optax.adamw", "optimizer.learning_rate=0.001",
                "sweep.momenta=[0.0]"])
  assert optax_names.swept_momentum_argument(flat.optimizer, flat.sweep) is None
  lanes.injected_optimizer(flat, total_steps=10).init({"w": jnp.zeros(2)})


@pytest.mark.parametrize("overrides, message", [
    (["optimizer.name=optax.adamw", "optimizer.learning_rate=0.001", "sweep.momenta=[0.0, 0.9]"],
     "config key 'sweep.momentum_argument': optax.adamw takes no argument 'momentum'; name the "
     "one the momentum axis sets (it takes: b1, b2,"),
    (["optimizer.name=optax.adamw", "optimizer.learning_rate=0.001", "sweep.momenta=[0.9]"],
     "config key 'sweep.momentum_argument': optax.adamw takes no argument 'momentum'"),
    (["optimizer.name=optax.adamw", "optimizer.learning_rate=0.001",
      "sweep.momentum_argument=beta1"],
     "config key 'sweep.momentum_argument': optax.adamw takes no argument 'beta1'; it takes: b1"),
    (["optimizer.name=optax.adamw", "optimizer.learning_rate=0.001", "optimizer.kwargs.b1=0.9",
      "sweep.momentum_argument=b1"],
     "config key 'sweep.momentum_argument': optax.adamw's b1 is set by optimizer.kwargs.b1 too"),
    (["optimizer.name=optax.scale_by_adam", "sweep.momenta=[0.0]"],
     "config key 'optimizer.name': optax.scale_by_adam takes no argument 'learning_rate', which "
     "the sweep's learning-rate axis sets"),
    (["sweep.momentum_argument=b1"], "config key 'sweep.momentum_argument': only for an optax "
     "name or a 'package.module:function' (optimizer.name), not 'dual_process'"),
    (["optimizer.name=adam", "optimizer.learning_rate=0.001", "sweep.momenta=[0.0, 0.9]"],
     "config key 'sweep.momenta': optimizer 'adam' takes no momentum"),
    (["sweep.momentum_argument=b-1"], "config key 'sweep.momentum_argument': must be an "
     "argument's name, got 'b-1'"),
])
def test_a_sweep_whose_axes_cannot_reach_the_optimizer_is_one_line(overrides, message):
  with pytest.raises(ConfigError) as info:
    lanes.injected_optimizer(swept(overrides), total_steps=10)
  assert message in str(info.value) and "\n" not in str(info.value)


def test_sweep_cells_of_an_optax_name_equal_plain_runs():
  config = config_lib.load(None, [
      "dataset.limit_train=128", "model.hidden_sizes=[8]", "train.epochs=1",
      "train.progress=false", "optimizer.name=optax.lion", "optimizer.learning_rate=0.001",
      "sweep.momentum_argument=b1", "sweep.momenta=[0.5, 0.9]",
      "sweep.learning_rates=[0.0003, 0.003]"])
  dataset = data.load(config.dataset)
  cells = [lanes.Cell(3e-4, 0.5, 0), lanes.Cell(3e-3, 0.9, 0)]
  results = lanes.train_cells(config, dataset, cells)
  for cell, result in zip(cells, results, strict=True):
    plain = dataclasses.replace(config, optimizer=dataclasses.replace(
        config.optimizer, learning_rate=cell.learning_rate, momentum=cell.momentum,
        momentum_argument="b1"))
    summary = run_engine.train_and_evaluate(plain, dataset, progress=False)
    assert result["test_accuracy"] == pytest.approx(summary["test_accuracy"], abs=1e-6)
    assert summary["label"] == f"optax.lion(lr={cell.learning_rate:g}, b1={cell.momentum:g})"


# ---------------------------------------------------------------------------------------
# The commands: run and compare with optax names, bad input as real commands


def command(module, args, tmp_path, **kwargs):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), ROOT]))
  return subprocess.run([sys.executable, "-m", f"experiments.{module}", *args],
                        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
                        **kwargs)


def test_run_trains_with_an_optax_name(tmp_path):
  out = tmp_path / "run"
  done = command("run", ["--set", "optimizer.name=optax.adamw",
                         "--set", "optimizer.learning_rate=0.001", "--set", "train.epochs=1",
                         "--set", "train.progress=false", "--out", str(out)], tmp_path)
  assert done.returncode == 0, done.stderr
  summary = json.loads((out / "summary.json").read_text())
  assert summary["status"] == "ok" and 0.0 <= summary["test_accuracy"] <= 1.0
  assert (summary["optimizer"], summary["label"]) == ("optax.adamw", "optax.adamw(lr=0.001)")
  assert summary["learning_rate"] == 0.001
  assert yaml.safe_load((out / "config.yaml").read_text())["optimizer"]["name"] == "optax.adamw"


def test_compare_with_optax_names_and_a_users_function(tmp_path, user_module):
  config = tmp_path / "compare.yaml"
  config.write_text(yaml.safe_dump({
      "dataset": {"name": "digits", "limit_train": 256},
      "model": {"name": "mlp", "hidden_sizes": [16]},
      "loss": {"name": "cross_entropy"},
      "train": {"epochs": 2, "batch_size": 32, "progress": False},
      "compare": {"seeds": [0, 1], "optimizers": [
          {"name": "dual_process"},
          {"name": "optax.adamw", "learning_rate": 0.003, "kwargs": {"b2": 0.99}},
          {"name": "optax.lion", "learning_rate": 0.0003, "momentum": 0.9,
           "momentum_argument": "b1"},
          {"name": "my_optimizers:lion_like", "learning_rate": 0.0003,
           "label": "my lion"}]}}))
  out = tmp_path / "out"
  assert compare.main([str(config), "--out", str(out)]) == 0
  rows = json.loads((out / "comparison.json").read_text())["rows"]
  assert [r["optimizer"] for r in rows] == [
      "dual_process(lr=0.0158679, m=0.874032)", "optax.adamw(lr=0.003, b2=0.99)",
      "optax.lion(lr=0.0003, b1=0.9)", "my lion"]
  assert [r["name"] for r in rows[1:]] == ["optax.adamw", "optax.lion",
                                           "my_optimizers:lion_like"]
  for row in rows:
    assert row["diverged"] == 0 and 0.0 <= row["test_accuracy"] <= 1.0
  assert rows[2]["momentum"] == 0.9 and rows[1]["momentum"] is None
  # The user's lion_like(beta=0.9) is optax.lion(b1=0.9): the same runs.
  assert rows[3]["per_seed_test_accuracy"] == rows[2]["per_seed_test_accuracy"]


def test_the_suite_trains_an_optax_entry(tmp_path):
  (tmp_path / "w.yaml").write_text(yaml.safe_dump({
      "dataset": {"name": "digits", "limit_train": 256},
      "model": {"name": "mlp", "hidden_sizes": [16]},
      "train": {"epochs": 1, "batch_size": 32, "progress": False}}))
  (tmp_path / "suite.yaml").write_text(yaml.safe_dump({
      "workloads": [{"name": "w", "config": "w.yaml", "target": 0.2}],
      "optimizers": [{"name": "dual_process"},
                     {"name": "optax.adamw", "learning_rate": 0.003, "kwargs": {"b2": 0.99}}],
      "seeds": [0, 1], "search": {"trials": 2, "spaces": [
          {"label": "tuned adam", "name": "adam", "learning_rate": {"min": 1e-4, "max": 1e-2}}]}}))
  out = tmp_path / "suite-out"
  assert suite.main([str(tmp_path / "suite.yaml"), "--out", str(out)]) == 0
  document = json.loads((out / "suite.json").read_text())
  workload = document["workloads"][0]
  assert [r["optimizer"] for r in workload["rows"]] == [
      "dual_process(lr=0.0158679, m=0.874032)", "optax.adamw(lr=0.003, b2=0.99)", "tuned adam"]
  adamw = workload["rows"][1]
  assert adamw["diverged"] == 0 and 0.0 <= adamw["test_accuracy"] <= 1.0
  assert adamw["seeds"] == 2 and adamw["learning_rate"] == 0.003
  assert workload["groups"][1]["name"] == "optax.adamw"


BAD_COMMANDS = [
    (["--set", "optimizer.name=optax.adamww", "--set", "optimizer.learning_rate=0.001"],
     "config key 'optimizer.name': optax has no 'optax.adamww'; did you mean 'optax.adamw'"),
    (["--set", "optimizer.name=optax.adamw", "--set", "optimizer.learning_rate=0.001",
      "--set", "optimizer.kwargs.beta2=0.9"],
     "config key 'optimizer.kwargs.beta2': optax.adamw takes no argument 'beta2'; it takes: b1"),
    (["--set", "optimizer.name=not_a_module_anywhere:make"],
     "config key 'optimizer.name': 'not_a_module_anywhere:make': cannot import module "
     "'not_a_module_anywhere'"),
    (["--set", "optimizer.name=cli_optimizers:not_a_transformation",
      "--set", "optimizer.learning_rate=0.1"],
     "config key 'optimizer.name': cli_optimizers:not_a_transformation returned a list, not an "
     "optax.GradientTransformation"),
    (["--set", "optimizer.name=cli_optimizers:fixed", "--set", "optimizer.learning_rate=0.1"],
     "config key 'optimizer.learning_rate': cli_optimizers:fixed takes no argument "
     "'learning_rate'"),
]


@pytest.mark.parametrize("args, message", BAD_COMMANDS,
                         ids=[m.split("'")[1] + str(i) for i, (_, m) in enumerate(BAD_COMMANDS)])
def test_a_bad_optimizer_is_one_line_and_exit_2_as_a_real_command(tmp_path, args, message):
  (tmp_path / "cli_optimizers.py").write_text(textwrap.dedent("""
      import optax

      def not_a_transformation(learning_rate):
        return [learning_rate]

      def fixed():
        return optax.sgd(0.05)
      """))
  out = tmp_path / "never"
  done = command("run", [*args, "--set", "train.epochs=1", "--set", "train.progress=false",
                         "--out", str(out)], tmp_path)
  assert done.returncode == 2, done.stderr
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
  assert not out.exists()  # refused before anything was written


def test_a_sweep_without_a_momentum_argument_says_so_as_a_real_command(tmp_path):
  done = command("sweep", ["configs/sweep_digits.yaml", "--set", "optimizer.name=optax.adamw",
                           "--set", "optimizer.learning_rate=0.001",
                           "--set", "dataset.limit_train=64", "--set", "train.epochs=1",
                           "--set", "train.progress=false",
                           "--out", str(tmp_path / "sweep")], tmp_path)
  assert done.returncode == 2, done.stderr
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      "error: config key 'sweep.momentum_argument': optax.adamw takes no argument "
      "'momentum'"), lines
