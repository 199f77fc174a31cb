"""The built-in causal transformer (``experiments/models/transformer.py``): logits'
shape, the causal mask, dropout switched by train()/eval() (also through the toolkit's
``variables.apply``), finite gradients, the bfloat16 compute dtype, the factory's errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from experiments.errors import ConfigError
from experiments.models import transformer, variables

CONTEXT, VOCAB = 16, 11
SMALL = {"width": 16, "depth": 2, "heads": 2, "mlp_ratio": 2}


def build(**kwargs) -> transformer.Transformer:
  return transformer.transformer((CONTEXT,), VOCAB, nnx.Rngs(0), **(SMALL | kwargs))


@functools.cache
def initial_state():
  """The arrays of every model here, made by one compiled program (eagerly, each
  initializer compiles apart: seconds); a dropout rate or compute dtype changes none."""
  return jax.jit(lambda: nnx.split(build())[1])()


def make(**kwargs) -> transformer.Transformer:
  graphdef, _ = nnx.split(nnx.eval_shape(lambda: build(**kwargs)))
  return nnx.merge(graphdef, initial_state(), copy=True)


@nnx.jit
def call(model, x):
  return model(x)


def tokens(seed: int = 0, batch: int = 3) -> jax.Array:
  return jax.random.randint(jax.random.key(seed), (batch, CONTEXT), 0, VOCAB)


def test_logits_shape_and_shorter_sequences():
  model = make()
  assert call(model, tokens()).shape == (3, CONTEXT, VOCAB)
  assert call(model, tokens()[:, :5]).shape == (3, 5, VOCAB)
  np.testing.assert_allclose(call(model, tokens()[:, :5]), call(model, tokens())[:, :5],
                             atol=1e-6)
  floats = tokens().astype(jnp.float32)  # the toolkit's pipeline gives float features
  np.testing.assert_array_equal(call(model, floats), call(model, tokens()))
  with pytest.raises(ValueError, match="longer than the model's context 16"):
    call(model, jnp.zeros((1, CONTEXT + 1), jnp.int32))


def test_a_later_token_never_changes_earlier_logits():
  model = make()
  x = tokens()
  for position in (0, 7, CONTEXT - 1):
    changed = x.at[:, position].set((x[:, position] + 1) % VOCAB)
    before, after = call(model, x), call(model, changed)
    np.testing.assert_allclose(after[:, :position], before[:, :position], atol=1e-6)
    assert np.abs(np.asarray(after[:, position:] - before[:, position:])).max() > 1e-4


def test_dropout_is_switched_by_train_and_eval():
  model = make(dropout=0.5)
  x = tokens()
  model.eval()
  np.testing.assert_array_equal(call(model, x), call(model, x))
  evaluated = call(model, x)
  model.train()
  first, second = call(model, x), call(model, x)
  assert not np.allclose(first, second) and not np.allclose(first, evaluated)
  no_dropout = make()
  no_dropout.train()
  np.testing.assert_array_equal(call(no_dropout, x), call(no_dropout, x))


def test_dropout_through_the_toolkits_variables_apply():
  graph, params, state = variables.split(make(dropout=0.5))
  x = tokens()
  evaluate = jax.jit(lambda x: variables.apply(graph, params, state, x)[0])
  train = jax.jit(lambda x, key: variables.apply(graph, params, state, x, key)[0])
  eval_a, eval_b = evaluate(x), evaluate(x)
  train_a, train_b = train(x, jax.random.key(1)), train(x, jax.random.key(1))
  train_c = train(x, jax.random.key(2))
  np.testing.assert_array_equal(eval_a, eval_b)
  np.testing.assert_array_equal(train_a, train_b)  # the key decides the masks
  assert not np.allclose(train_a, train_c) and not np.allclose(train_a, eval_a)


def test_gradients_are_finite_and_reach_every_parameter():
  model = make(dropout=0.5)
  model.train()
  x = tokens()
  y = jnp.roll(x, -1, axis=1)

  def loss(model):
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

  grads = nnx.jit(nnx.grad(loss))(model)
  for path, grad in jax.tree_util.tree_leaves_with_path(nnx.state(grads, nnx.Param)):
    assert np.isfinite(np.asarray(grad)).all(), path
    assert np.abs(np.asarray(grad)).max() > 0, path


def test_bfloat16_compute_keeps_float32_parameters():
  model = make(dtype="bfloat16")
  logits = call(model, tokens())
  assert logits.dtype == jnp.bfloat16 and np.isfinite(np.asarray(logits, np.float32)).all()
  for param in jax.tree.leaves(nnx.state(model, nnx.Param)):
    assert param.dtype == jnp.float32
  reference = call(make(), tokens())
  np.testing.assert_allclose(np.asarray(logits, np.float32), reference, atol=0.05)


@pytest.mark.parametrize("input_shape, kwargs, pattern", [
    ((CONTEXT, 1), {}, r"^config key 'model.name': the transformer reads windows"),
    ((CONTEXT,), {"context": 8}, r"^config key 'model.kwargs': 'context' is set by the data"),
    ((CONTEXT,), {"width": 10, "heads": 3}, r"^config key 'model.kwargs': width 10 is no"),
])
def test_factory_errors_are_one_line_naming_the_key(input_shape, kwargs, pattern):
  with pytest.raises(ConfigError, match=pattern):
    transformer.transformer(input_shape, VOCAB, nnx.Rngs(0), **kwargs)
