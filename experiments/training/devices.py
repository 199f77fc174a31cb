"""Which devices a job uses, and moving arrays on and off them (one or many hosts).

``train.devices`` picks 1, N or ``all`` devices. The runner splits each batch
over them; the sweep splits its cells. A multi-host job is joined through
``jax.distributed.initialize`` when ``JAX_COORDINATOR_ADDRESS`` is set.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.experimental import multihost_utils

from ..config import ExperimentConfig
from ..errors import ConfigError


def maybe_initialize_distributed() -> None:
  """Joins a multi-host run when JAX_COORDINATOR_ADDRESS names the coordinator."""
  address = os.environ.get("JAX_COORDINATOR_ADDRESS")
  if address and not jax.distributed.is_initialized():
    for key in ("JAX_NUM_PROCESSES", "JAX_PROCESS_ID"):
      if not os.environ.get(key, "").isdigit():
        raise ConfigError(f"environment variable {key}: must be a non-negative integer when "
                          f"JAX_COORDINATOR_ADDRESS is set, got {os.environ.get(key)!r}")
    jax.distributed.initialize(coordinator_address=address,
                               num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                               process_id=int(os.environ["JAX_PROCESS_ID"]))


def select_devices(config: ExperimentConfig, split_batch: bool = True) -> list:
  """The devices ``train.devices`` asks for; with ``split_batch``, the batch must divide."""
  available = jax.devices()
  wanted = len(available) if config.train.devices == "all" else config.train.devices
  if wanted > len(available):
    raise ConfigError(f"config key 'train.devices': {wanted} requested but only "
                      f"{len(available)} available ({jax.default_backend()}); use 1..."
                      f"{len(available)} or 'all'")
  if split_batch and config.train.batch_size % wanted:
    raise ConfigError(f"config key 'train.batch_size': {config.train.batch_size} must be "
                      f"divisible by the {wanted} devices of train.devices")
  return available[:wanted]


def place(tree, sharding):
  """Puts host arrays on the mesh; each process supplies the slices it holds."""
  def put(leaf):
    leaf = np.asarray(leaf)
    return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])
  return jax.tree.map(put, tree)


def to_host(tree):
  """Replicated device values as numpy (works for multi-host arrays too)."""
  return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), tree)


def gather(tree):
  """Sharded device values as whole numpy arrays on every process."""
  if jax.process_count() > 1:
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)
