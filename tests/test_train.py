"""The run's own random streams: data order per epoch, dropout per run and step."""

import jax
import numpy as np

from experiments.training import train as train_lib
from experiments.workflows import run as run_engine


def key_bits(key):
  return tuple(np.asarray(jax.random.key_data(key)).ravel().tolist())


def test_each_run_has_its_own_dropout_stream_and_the_same_run_the_same_one():
  base = dict(seed=0, fold=0, learning_rate=0.016, momentum=0.874)
  reference = key_bits(train_lib.dropout_key(**base))
  assert key_bits(train_lib.dropout_key(**base)) == reference  # a resume draws the same
  for change in ({"seed": 1}, {"fold": 1}, {"learning_rate": 0.01}, {"momentum": 0.9}):
    assert key_bits(train_lib.dropout_key(**{**base, **change})) != reference, change
  # The sweep holds hyperparameters in float32; the same numbers give the same stream.
  assert key_bits(train_lib.dropout_key(0, 0, np.float32(0.016), np.float32(0.874))) == reference
  # Apart from the data order's key of the same seed.
  assert key_bits(train_lib.dropout_key(0)) != key_bits(train_lib.epoch_key(0, 0))


def test_a_bfloat16_run_learns_with_float32_parameters_optimizer_state_and_loss():
  import dataclasses

  import jax.numpy as jnp

  from experiments import config as config_lib
  from experiments import data, models
  from experiments.models import variables
  from experiments.training import optimizers

  config = config_lib.load(None, ["dataset.limit_train=640", "model.hidden_sizes=[32]",
                                  "train.epochs=3", "train.progress=false",
                                  "train.compute_dtype=bfloat16"])
  dataset = data.load(config.dataset)
  summary = run_engine.train_and_evaluate(config, dataset, progress=False)
  assert summary["test_accuracy"] > 0.5  # ten classes: chance is 0.1
  plain = run_engine.train_and_evaluate(dataclasses.replace(
      config, train=dataclasses.replace(config.train, compute_dtype="float32")), dataset,
      progress=False)
  assert abs(summary["test_accuracy"] - plain["test_accuracy"]) < 0.1
  # Inside: bfloat16 logits, a float32 loss, float32 parameters and optimizer state.
  tx = optimizers.create(config.optimizer, 100)
  graph, state = train_lib.init_state(models.create(
      config.model, dataset.input_shape, 10, 0, "bfloat16"), tx)
  x, y = dataset.train_x[:32], dataset.train_y[:32]
  logits, _ = variables.apply(graph, state.params, state.model_state, x, None)
  assert logits.dtype == jnp.bfloat16
  step = jax.jit(train_lib.make_train_step(graph, tx, "dual_process"))
  for _ in range(3):
    state, metrics = step(state, x, y, train_lib.dropout_key(0))
  assert metrics["loss"].dtype == jnp.float32
  floats = {leaf.dtype for leaf in jax.tree.leaves((state.params, state.opt_state))
            if jnp.issubdtype(leaf.dtype, jnp.floating)}
  assert floats == {jnp.dtype("float32")}
