"""One loader for both schemas: a config in, validated, with the code it names checked.

A config arrives as a YAML file's path, a ``dict`` of its sections or the dataclass
itself, with ``--set``-style overrides. :func:`load_config` (experiments) and
:func:`load_suite` (suites, with each workload's experiment config) parse it, validate
its values (``experiments/config/``), then check the code it names, in the order of its
keys: a model factory (imported, its signature checked against the call), an optax
optimizer or a function (imported, checked by one call), a search space's optimizer as
a trial at its ranges' edges. Importing a module runs its code, as Hydra's ``_target_``
does. A config file's own folder, then the working directory, are searched for that
code before ``sys.path`` (``imports.user_code``). Every mistake is one
:class:`ConfigError` line naming the key.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import yaml

from . import config as config_lib
from . import imports
from .config import (
  ExperimentConfig,
  OptimizerConfig,
  SearchConfig,
  SearchSpace,
  SuiteConfig,
  TransferConfig,
)
from .errors import ConfigError

__all__ = ["build", "check_experiment", "check_suite", "load_config", "load_suite",
           "load_transfer", "override_strings"]

Config = Union[str, os.PathLike, Mapping, ExperimentConfig, None]
Overrides = Union[Sequence[str], Mapping[str, Any], str]

# What a command needs of its config, and the shipped example to point to.
SECTION_EXAMPLES = {"compare": "configs/compare_digits.yaml",
                    "sweep": "configs/sweep_digits.yaml"}


def load_config(config: Config = None, overrides: Overrides = (),
                section: Optional[str] = None) -> ExperimentConfig:
  """An experiment config from a path, a dict or the dataclass, overridden and checked.

  Args:
    config: a YAML file's path (``None``: ``configs/default.yaml``; a missing
      ``configs/NAME.yaml`` falls back to the shipped one), a dict of sections (those
      left out take their defaults), or an :class:`~experiments.config.ExperimentConfig`.
    overrides: ``--set``-style ``"KEY=VALUE"`` strings (the value parsed as YAML), or a
      dict of dotted keys to values (``{"optimizer.kwargs": {"b2": 0.95}}``).
    section: ``"compare"`` or ``"sweep"``: that section must be present.

  Returns:
    The validated config, its named code checked.

  Raises:
    ConfigError: a missing file, an unknown key or value, a missing ``section``, code
      that does not import or cannot be called as the config says.
    TypeError: ``config`` is none of the above.
  """
  strings = override_strings(overrides)
  folder = None
  if config is None or isinstance(config, (str, os.PathLike)):
    loaded = config_lib.load(config, strings)
    folder = None if config is None else config_lib.find(config).parent
  else:
    loaded = config_lib.build(ExperimentConfig, config_lib.apply_overrides(
        _as_data(config, ExperimentConfig), strings))
  if section is not None and getattr(loaded, section) is None:
    raise ConfigError(f"config key '{section}': missing; this command needs a {section} "
                      f"section (see {SECTION_EXAMPLES.get(section, 'configs/')})")
  with imports.user_code(folder):
    check_experiment(loaded)
  return loaded


def load_suite(config, overrides: Overrides = (), base=None
               ) -> tuple[SuiteConfig, dict[str, ExperimentConfig]]:
  """A suite config and each workload's experiment config, overridden and checked.

  Args:
    config: a suite YAML file's path (its workloads' ``config`` paths are relative to
      its folder), a dict of its keys, or a :class:`~experiments.config.SuiteConfig`.
    overrides: as for :func:`load_config`, on the suite's keys (``{"search.trials": 4}``).
    base: for a dict or a ``SuiteConfig``: the folder the workloads' ``config`` paths
      are relative to (default: the current working directory).

  Returns:
    ``(suite, workloads)``: the suite and a dict of workload name to its config.

  Raises:
    ConfigError: a mistake in the suite or in a workload's config (named by its index).
    TypeError: ``config`` is none of the above.
  """
  return _load_with_workloads(SuiteConfig, config, overrides, base,
                              "a suite config is required, e.g. configs/suite_quick.yaml")


def load_transfer(config, overrides: Overrides = (), base=None
                  ) -> tuple[TransferConfig, dict[str, ExperimentConfig]]:
  """A transfer study's config and each workload's experiment config, overridden and
  checked, as :func:`load_suite` (the same arguments, a
  :class:`~experiments.config.TransferConfig`)."""
  return _load_with_workloads(TransferConfig, config, overrides, base,
                              "a transfer study's config is required, e.g. "
                              "configs/transfer_quick.yaml")


def _load_with_workloads(schema, config, overrides: Overrides, base, required: str):
  """A config of ``schema`` (one with ``workloads``), its named code checked, and its
  workloads' experiment configs."""
  strings = override_strings(overrides)
  if config is None:
    raise ConfigError(required)
  folder = None
  if isinstance(config, (str, os.PathLike)):
    path = config_lib.find(config)
    data, base = config_lib.load_yaml(path, schema), path.parent
    folder = base
  else:
    data = _as_data(config, schema)
  _refuse_experiment_config(data, config)
  built = config_lib.build(schema, config_lib.apply_overrides(data, strings))
  with imports.user_code(folder):
    if isinstance(built, SuiteConfig):
      check_suite(built)
    else:
      check_optimizer(built.pair, "pair")
    return built, load_workloads(built, pathlib.Path.cwd() if base is None else base)


def load_workloads(suite, folder) -> dict[str, ExperimentConfig]:
  """Each workload's experiment config, of a suite or a transfer study (its ``config``
  path relative to ``folder``, its overrides applied), by name; a mistake in one names
  the workload."""
  workloads = {}
  for i, workload in enumerate(suite.workloads):
    try:
      workloads[workload.name] = load_config(pathlib.Path(folder) / workload.config,
                                             workload.overrides)
    except ConfigError as error:
      raise ConfigError(f"workloads[{i}] ({workload.name}): {error}") from None
  return workloads


def build(schema, data: Mapping, key: str = ""):
  """``config_lib.build`` and then the named-code check (:func:`check_experiment`,
  :func:`check_suite`, or an optimizer entry's or search spaces' own): what a dict
  becomes when a command reads it. ``key``: the dotted key ``data`` sits at."""
  built = config_lib.build(schema, data, key) if key else config_lib.build(schema, data)
  prefix = f"{key}." if key else ""
  if isinstance(built, ExperimentConfig):
    check_experiment(built)
  elif isinstance(built, SuiteConfig):
    check_suite(built)
  elif isinstance(built, OptimizerConfig):
    check_optimizer(built, key or "optimizer")
  elif isinstance(built, SearchConfig):
    for i, space in enumerate(built.spaces):
      check_space(space, f"{prefix}spaces[{i}]")
  return built


def check_experiment(config: ExperimentConfig) -> None:
  """Imports and checks the code an experiment config names, in the order of its keys."""
  if ":" in config.model.name:
    from .models import own

    own.factory(config.model, "model")
  check_optimizer(config.optimizer, "optimizer")
  if config.compare is not None:
    for i, optimizer in enumerate(config.compare.optimizers):
      check_optimizer(optimizer, f"compare.optimizers[{i}]")


def check_suite(suite: SuiteConfig) -> None:
  """Imports and checks the optimizers and search spaces a suite config names."""
  for i, optimizer in enumerate(suite.optimizers):
    check_optimizer(optimizer, f"optimizers[{i}]")
  for i, space in enumerate(suite.search.spaces):
    check_space(space, f"search.spaces[{i}]")


def check_optimizer(optimizer: OptimizerConfig, key: str) -> None:
  """An optax name or a function entry, checked by its signature and one call."""
  if optimizer.name not in config_lib.OPTIMIZERS:
    from .training import optax_check

    optax_check.check(optimizer, key)


def check_space(space: SearchSpace, key: str) -> None:
  """A search space naming an optax optimizer or a function, checked as the entry of a
  trial at its ranges' edges: the name first (one that does not resolve), then the
  learning rate the range sets (before the entry's own check, whose message would say
  to leave it unset), then the entry."""
  if space.name in config_lib.suite.BUILT_IN:
    return
  from .training import optax_check, optax_names

  momentum = (space.momentum if space.momentum is not None
              else 1.0 - space.one_minus_momentum.max
              if space.one_minus_momentum is not None else 0.0)
  probe = config_lib.trial_optimizer(space, {
      "learning_rate": space.learning_rate.max, "momentum": momentum,
      "weight_decay": None if space.weight_decay is None else space.weight_decay.min})
  optax_names.factory(space.name, f"{key}.name")
  if not optax_names.takes_learning_rate(probe):
    raise ConfigError(f"config key '{key}.name': {space.name} takes no argument "
                      "'learning_rate', which the search's learning-rate range sets")
  optax_check.check(probe, key)


def _refuse_experiment_config(data: Mapping, given) -> None:
  """A run, compare or sweep config given to the suite: said as such, not as an unknown
  key."""
  sections = {f.name for f in dataclasses.fields(ExperimentConfig)}
  if "workloads" not in data and set(data) & sections:
    where = f"'{given}'" if isinstance(given, (str, os.PathLike)) else "the config"
    raise ConfigError(f"config file {where}: this is a run config (it has "
                      f"{', '.join(sorted(set(data) & sections))}); this command needs a "
                      "config with 'workloads:', e.g. configs/suite_quick.yaml or "
                      "configs/transfer_quick.yaml")


def override_strings(overrides: Overrides) -> list[str]:
  """``KEY=VALUE`` strings from strings or a dict of dotted keys (values written as YAML,
  which the override parser reads back as the same value)."""
  if isinstance(overrides, str):
    return [overrides]
  if isinstance(overrides, Mapping):
    strings = []
    for key, value in overrides.items():
      text = yaml.safe_dump(plain(value), default_flow_style=True, width=float("inf"))
      strings.append(f"{key}={text.removesuffix(chr(10) + '...' + chr(10)).strip()}")
    return strings
  strings = list(overrides)
  for item in strings:
    if not isinstance(item, str):
      raise TypeError(f"overrides: expected 'KEY=VALUE' strings or a dict, got {item!r}")
  return strings


def plain(value):
  """A config value as plain YAML data: mappings as dicts, tuples as lists, a config
  dataclass as its dict, at any depth."""
  if dataclasses.is_dataclass(value) and not isinstance(value, type):
    return config_lib.to_dict(value)
  if isinstance(value, Mapping):
    return {key: plain(v) for key, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [plain(v) for v in value]
  if isinstance(value, os.PathLike):
    return os.fspath(value)
  if hasattr(value, "item") and getattr(value, "shape", None) == ():  # a numpy scalar
    return value.item()
  return value


def _as_data(config, schema) -> dict:
  """A dict or a ``schema`` dataclass as plain data; anything else a TypeError."""
  if isinstance(config, schema):
    return config_lib.to_dict(config)
  if isinstance(config, Mapping):
    return plain(config)
  raise TypeError(f"config: expected a path, a dict or a {schema.__name__}, got "
                  f"{type(config).__name__}")
