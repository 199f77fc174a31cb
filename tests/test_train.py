"""The run's own random streams: data order per epoch, dropout per run and step."""

import jax
import numpy as np

from experiments.training import train as train_lib


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
