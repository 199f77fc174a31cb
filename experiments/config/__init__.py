"""The config schema: YAML in, typed frozen dataclasses out, every mistake named.

An experiment config has the sections ``dataset``, ``model``, ``loss``,
``optimizer``, ``train`` and, for the multi-run commands, ``compare`` or ``sweep``
(``sections.py``, ``experiment.py``); a suite config, its workloads and search spaces
(``suite.py``). Any mistake raises :class:`ConfigError` with one line that names the
dotted key (or the file) and what is allowed; the command line turns it into exit code 2.

The schema checks values only: it imports no user code and no optax. :func:`load`
parses and validates a file; ``experiments/loading.py`` is the loader the commands and
the API use, which also imports and checks the code a config names.
"""

from __future__ import annotations

import importlib.resources
import pathlib

from ..errors import ConfigError
from ..typed_yaml import apply_overrides, build, dump, to_dict
from ..typed_yaml import load_yaml as _load_yaml
from .experiment import CompareConfig, ExperimentConfig, LogRange, SweepConfig
from .sections import (
  MOMENTUM_OPTIMIZERS,
  OPTIMIZERS,
  SCHEDULES,
  DatasetConfig,
  LossConfig,
  ModelConfig,
  OptimizerConfig,
  ScheduleConfig,
  TrainConfig,
)
from .suite import (
  LOSSES,
  LogUniform,
  SearchConfig,
  SearchSpace,
  SuiteConfig,
  WorkloadConfig,
  trial_optimizer,
)
from .transfer import TransferConfig

__all__ = [
  "LOSSES", "MOMENTUM_OPTIMIZERS", "OPTIMIZERS", "SCHEDULES", "CompareConfig", "ConfigError",
  "DatasetConfig", "ExperimentConfig", "LogRange", "LogUniform", "LossConfig", "ModelConfig",
  "OptimizerConfig", "ScheduleConfig", "SearchConfig", "SearchSpace", "SuiteConfig",
  "SweepConfig", "TrainConfig", "TransferConfig", "WorkloadConfig", "apply_overrides", "build",
  "dump", "find", "load", "load_yaml", "to_dict", "trial_optimizer",
]

# The shipped configs are package data (experiments/configs/; a checkout's top-level
# configs/ links to it), so an installed wheel has them too.
SHIPPED_CONFIGS = pathlib.Path(str(importlib.resources.files(__package__.rpartition(".")[0])
                                   .joinpath("configs")))
DEFAULT_CONFIG = SHIPPED_CONFIGS / "default.yaml"


def find(path) -> pathlib.Path:
  """``path`` as given; where it does not exist and names a shipped config
  (``configs/NAME.yaml``), the shipped one, so that the README's commands work from an
  installed wheel in any folder."""
  path = pathlib.Path(path)
  shipped = SHIPPED_CONFIGS / path.name
  if not path.exists() and path.parent.name == "configs" and shipped.is_file():
    return shipped
  return path


def load_yaml(path, schema=ExperimentConfig) -> dict:
  """Reads a config file of ``schema`` (its sections or keys) as plain data."""
  return _load_yaml(find(path), schema)


def load(path=None, overrides=()) -> ExperimentConfig:
  """Parses, overrides and validates an experiment config; ``path=None`` is the default.

  Values only: the code it names is checked by ``experiments.loading.load_config``.
  """
  data = load_yaml(DEFAULT_CONFIG if path is None else path)
  return build(ExperimentConfig, apply_overrides(data, overrides))
