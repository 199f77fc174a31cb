"""Optimizers by name: the dual-process update and the peers a user would pick instead."""

from __future__ import annotations

from typing import NamedTuple, Optional

import optax
from optax import contrib

import dualprocess
from experiments.config import OptimizerConfig

# Tuning-free methods take a learning-rate multiplier whose neutral value is 1.
_NEUTRAL_LEARNING_RATE = 1.0


class Resolved(NamedTuple):
  """What an optimizer entry means: its display name and effective constants."""

  label: str
  learning_rate: Optional[float]
  momentum: Optional[float]


def resolve(config: OptimizerConfig) -> Resolved:
  learning_rate, momentum = config.learning_rate, config.momentum
  if config.preset is not None:
    learning_rate, momentum = dualprocess.hyperparameters(config.preset)
  if config.name == "dual_process":  # unset numbers: the default set, the author's
    default = dualprocess.hyperparameters()
    learning_rate = default.learning_rate if learning_rate is None else learning_rate
    momentum = default.momentum if momentum is None else momentum
  elif config.name == "schedule_free_sgd":
    momentum = 0.9 if momentum is None else momentum  # optax's default b1
  elif config.name in ("prodigy", "dog", "dadapt_adamw", "cocob", "mechanize"):
    learning_rate = _NEUTRAL_LEARNING_RATE if learning_rate is None else learning_rate
  if config.name == "schedule_free_sgd" and learning_rate is None:
    learning_rate = _NEUTRAL_LEARNING_RATE
  label = config.label or _default_label(config.name, learning_rate, momentum)
  return Resolved(label, learning_rate, momentum)


def _default_label(name, learning_rate, momentum) -> str:
  if name in ("dual_process", "sgd"):
    return f"{name}(lr={learning_rate:.6g}, m={momentum or 0:.6g})"
  return name


def create(config: OptimizerConfig) -> optax.GradientTransformation:
  resolved = resolve(config)
  lr, momentum = resolved.learning_rate, resolved.momentum
  if config.name == "dual_process":
    return dualprocess.dual_process(lr, momentum, nesterov=config.nesterov)
  if config.name == "sgd":
    return optax.sgd(lr, momentum=momentum, nesterov=config.nesterov)
  if config.name == "adam":
    return optax.adam(lr)
  if config.name == "prodigy":
    return contrib.prodigy(lr)
  if config.name == "dog":
    return contrib.dog(lr)
  if config.name == "dadapt_adamw":
    return contrib.dadapt_adamw(lr)
  if config.name == "schedule_free_sgd":
    return contrib.schedule_free_sgd(lr, b1=momentum)
  if config.name == "cocob":
    return contrib.cocob(lr)
  if config.name == "mechanize":
    return contrib.mechanize(optax.sgd(lr))
  raise ValueError(f"unknown optimizer {config.name!r}")  # config validation prevents this


def evaluation_params(config: OptimizerConfig, opt_state, params):
  """The parameters to evaluate: schedule-free methods are judged at their average."""
  if config.name == "schedule_free_sgd":
    return contrib.schedule_free_eval_params(opt_state, params)
  return params
