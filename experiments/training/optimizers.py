"""Optimizers by name, as optax pipelines: clipping, weight decay, the update with its schedule.

An optimizer entry of a config builds the chain optax users write:

    optax.chain(optax.clip_by_global_norm(clip_norm),
                optax.add_decayed_weights(weight_decay, mask),
                dual_process(schedule))          # or sgd, prodigy, ...

(``adam`` with weight decay is ``optax.adamw``). A link whose key is unset is
left out, so an entry without them is the bare optimizer, as before.

Besides the built-in names, ``optimizer.name`` takes any optax optimizer by name
(``optax.adamw``, ``optax.contrib.muon``) or ``"package.module:function"``, resolved
and checked in ``optax_names.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import NamedTuple, Optional

import jax
import optax
from optax import contrib

import dualprocess

from ..config import OptimizerConfig, ScheduleConfig
from ..errors import ConfigError
from . import optax_names

# Tuning-free methods take a learning-rate multiplier whose neutral value is 1.
_NEUTRAL_LEARNING_RATE = 1.0
# warmup_cosine with no warmup stated warms up for this share of the run.
DEFAULT_WARMUP_FRACTION = 0.05


class Resolved(NamedTuple):
  """What an optimizer entry means: its display name and effective constants."""

  label: str
  learning_rate: Optional[float]
  momentum: Optional[float]


def resolve(config: OptimizerConfig) -> Resolved:
  learning_rate, momentum = config.learning_rate, config.momentum
  if optax_names.is_factory(config):  # unset numbers: the factory's own defaults, where it has them
    if learning_rate is None:
      learning_rate = optax_names.number_default(config, "learning_rate")
    if momentum is None:
      momentum = optax_names.number_default(config, optax_names.momentum_argument(config))
    label = config.label or _default_label(config, learning_rate, momentum)
    return Resolved(label, learning_rate, momentum)
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
  label = config.label or _default_label(config, learning_rate, momentum)
  return Resolved(label, learning_rate, momentum)


def _default_label(config: OptimizerConfig, learning_rate, momentum) -> str:
  if config.name in ("dual_process", "sgd"):
    label = f"{config.name}(lr={learning_rate:.6g}, m={momentum or 0:.6g})"
  elif optax_names.is_factory(config):  # e.g. optax.adamw(lr=0.001, b1=0.95, b2=0.99)
    arguments = [] if learning_rate is None else [f"lr={learning_rate:.6g}"]
    if config.momentum is not None:
      arguments.append(f"{optax_names.momentum_argument(config)}={config.momentum:.6g}")
    arguments += [f"{name}={_shown(value)}" for name, value in config.kwargs.items()]
    label = config.name + (f"({', '.join(arguments)})" if arguments else "")
  else:
    label = config.name
  return label + "".join(f" + {part}" for part in pipeline_parts(config))


def pipeline_parts(config: OptimizerConfig) -> list[str]:
  """The links around the update, as the label shows them (empty for a bare optimizer)."""
  parts = []
  schedule = config.schedule
  if schedule.name != "constant":
    warmup = ("" if not (schedule.warmup_steps or schedule.warmup_fraction
                         or schedule.name == "warmup_cosine")
              else f" warmup {schedule.warmup_steps}" if schedule.warmup_steps is not None
              else f" warmup {schedule.warmup_fraction or DEFAULT_WARMUP_FRACTION:g}")
    parts.append(f"{schedule.name}{warmup}")
  if config.weight_decay:
    mask = " (kernels)" if config.weight_decay_mask == "kernels" else ""
    style = " decoupled" if config.weight_decay_style == "decoupled" else (
        " l2" if config.weight_decay_style == "l2" else "")
    parts.append(f"wd {config.weight_decay:g}{style}{mask}")
  if config.clip_norm is not None:
    parts.append(f"clip {config.clip_norm:g}")
  return parts


def describe(config: OptimizerConfig) -> dict:
  """The pipeline's keys for summary.json."""
  return {"schedule": dataclasses.asdict(config.schedule),
          "weight_decay": config.weight_decay, "weight_decay_mask": config.weight_decay_mask,
          "clip_norm": config.clip_norm}


def warmup_steps(schedule: ScheduleConfig, total_steps: int) -> int:
  if schedule.warmup_steps is not None:
    return schedule.warmup_steps
  fraction = schedule.warmup_fraction
  if fraction is None and schedule.name == "warmup_cosine":
    fraction = DEFAULT_WARMUP_FRACTION
  return int(round((fraction or 0.0) * total_steps))


def schedule_shape(schedule: ScheduleConfig, total_steps: int,
                   key: str = "optimizer.schedule") -> Optional[Callable]:
  """The learning rate's multiplier at each step (1 at the peak), an optax schedule;
  None for ``constant``. Decay runs from step 0 to ``decay_steps`` (default: the run's
  ``total_steps``), the warmup included."""
  if schedule.name == "constant":
    return None
  decay = schedule.decay_steps or total_steps
  warmup = warmup_steps(schedule, total_steps)
  if warmup >= decay:
    raise ConfigError(f"config key '{key}.warmup_steps': the warmup ({warmup} steps) must be "
                      f"shorter than the decay ({decay} steps: decay_steps or the run's)")
  schedules = optax.schedules
  if schedule.name == "warmup_cosine":
    return schedules.warmup_cosine_decay_schedule(0.0, 1.0, warmup, decay,
                                                  end_value=schedule.end_fraction)
  steps = decay - warmup
  main = {"cosine": lambda: schedules.cosine_decay_schedule(1.0, steps,
                                                             alpha=schedule.end_fraction),
          "linear": lambda: schedules.linear_schedule(1.0, schedule.end_fraction, steps),
          "exponential": lambda: schedules.exponential_decay(1.0, steps, schedule.decay_rate),
          }[schedule.name]()
  if not warmup:
    return main
  return schedules.join_schedules([schedules.linear_schedule(0.0, 1.0, warmup), main], [warmup])


def scaled(learning_rate: float, shape: Optional[Callable]) -> optax.ScalarOrSchedule:
  """``learning_rate`` at the peak of ``shape`` (a constant without one)."""
  if shape is None:
    return learning_rate
  return lambda count: learning_rate * shape(count)


def decay_mask(config: OptimizerConfig):
  """None (every parameter decays) or optax's mask of kernels: leaves with ndim >= 2."""
  if config.weight_decay_mask == "all":
    return None
  return lambda params: jax.tree.map(lambda p: p.ndim >= 2, params)


def around(config: OptimizerConfig, update: optax.GradientTransformation,
           weight_decay: bool = True) -> optax.GradientTransformation:
  """``update`` with the config's clipping and weight decay in front (itself if neither)."""
  links = []
  if config.clip_norm is not None:
    links.append(optax.clip_by_global_norm(config.clip_norm))
  if weight_decay and config.weight_decay:
    links.append(optax.add_decayed_weights(config.weight_decay, decay_mask(config)))
  return optax.chain(*links, update) if links else update


def update_for(config: OptimizerConfig, learning_rate: optax.ScalarOrSchedule,
               momentum, argument: Optional[str] = None) -> optax.GradientTransformation:
  """The entry's bare update (no clipping or weight decay) at ``learning_rate`` and
  ``momentum``, numbers or traced hyperparameters (the sweep injects both per lane);
  ``momentum`` is ignored by optimizers that take none. An optax name or a function is
  called with ``learning_rate`` (left out where None), ``momentum`` as its argument
  ``argument`` (default: the entry's :func:`momentum_argument`; left out where either is
  None) and the entry's kwargs."""
  if optax_names.is_factory(config):
    arguments = dict(config.kwargs)
    if learning_rate is not None:
      arguments["learning_rate"] = learning_rate
    argument = argument or optax_names.momentum_argument(config)
    if momentum is not None and argument is not None:
      arguments[argument] = momentum
    return optax_names.factory(config.name)(**arguments)
  if config.name == "adam":
    return optax.adam(learning_rate)
  return {
      "dual_process": lambda: dualprocess.dual_process(learning_rate, momentum,
                                                       nesterov=config.nesterov),
      "sgd": lambda: optax.sgd(learning_rate, momentum=momentum, nesterov=config.nesterov),
      "prodigy": lambda: contrib.prodigy(learning_rate),
      "dog": lambda: contrib.dog(learning_rate),
      "dadapt_adamw": lambda: contrib.dadapt_adamw(learning_rate),
      "schedule_free_sgd": lambda: contrib.schedule_free_sgd(learning_rate, b1=momentum),
      "cocob": lambda: contrib.cocob(learning_rate),
      "mechanize": lambda: contrib.mechanize(optax.sgd(learning_rate)),
  }[config.name]()


def chain_for(config: OptimizerConfig, learning_rate: optax.ScalarOrSchedule, momentum,
              argument: Optional[str] = None, weight_decay=None
              ) -> optax.GradientTransformation:
  """The entry's whole pipeline (clipping, weight decay, the update) at ``learning_rate``
  and ``momentum`` (see :func:`update_for`); ``weight_decay``, a number or a traced
  hyperparameter, replaces the entry's own (the search injects it per lane), so a search's
  trial and its retrained best are one chain. The decay acts as ``weight_decay_style``
  says (:meth:`OptimizerConfig.decay_style`): ``l2`` adds it to the gradient in front of
  the update; ``decoupled`` subtracts ``learning_rate(t) * decay * params`` after it
  (``adam``: ``optax.adamw`` itself)."""
  decay = config.weight_decay if weight_decay is None else weight_decay
  decays = weight_decay is not None or bool(config.weight_decay)
  style = config.decay_style()
  if config.name == "adam" and decays and style == "decoupled":
    return around(config, optax.adamw(learning_rate, weight_decay=decay,
                                      mask=decay_mask(config)), weight_decay=False)
  update = update_for(config, learning_rate, momentum, argument)
  if style == "decoupled" and decays:
    update = optax.chain(update, decoupled_weight_decay(decay, learning_rate,
                                                        decay_mask(config)))
    return around(config, update, weight_decay=False)
  if weight_decay is None:  # l2: the entry's own decay in front, as around() links it
    return around(config, update)
  return around(config, optax.chain(optax.add_decayed_weights(decay, decay_mask(config)),
                                    update), weight_decay=False)


class DecoupledDecayState(NamedTuple):
  count: jax.Array  # the steps taken, for the learning rate's schedule


def decoupled_weight_decay(weight_decay, learning_rate: optax.ScalarOrSchedule, mask=None
                           ) -> optax.GradientTransformation:
  """Adds ``-learning_rate(t) * weight_decay * params`` to the updates: the decay of SGDW
  and AdamW, applied after the update's momentum and scaling and following the schedule
  (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019).

  Args:
    weight_decay: the decay factor, a number or a traced hyperparameter.
    learning_rate: a number, a traced hyperparameter or a schedule of the step count.
    mask: optax's mask of the parameters that decay (None: all).
  """
  import jax.numpy as jnp

  def init(params):
    del params
    return DecoupledDecayState(count=jnp.zeros((), jnp.int32))

  def update(updates, state, params=None):
    if params is None:
      raise ValueError("decoupled_weight_decay needs the parameters")
    rate = learning_rate(state.count) if callable(learning_rate) else learning_rate
    updates = jax.tree.map(lambda u, p: u - rate * weight_decay * p, updates, params)
    return updates, DecoupledDecayState(count=optax.safe_int32_increment(state.count))

  transform = optax.GradientTransformation(init, update)
  return transform if mask is None else optax.masked(transform, mask)


def create(config: OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
  """The entry's pipeline; ``total_steps`` is the run's, for the schedule's default decay."""
  resolved = resolve(config)
  lr = scaled(resolved.learning_rate, schedule_shape(config.schedule, total_steps))
  return chain_for(config, lr, resolved.momentum)


def evaluation_params(config: OptimizerConfig, opt_state, params):
  """The parameters to evaluate: schedule-free methods are judged at their average."""
  if config.name == "schedule_free_sgd" or optax_names.is_factory(config):
    # Bare, or a link of the chain ``chain_for`` built (optax.contrib.schedule_free_adamw
    # by name too): its state found wherever it sits.
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_schedule_free)
             if _is_schedule_free(s)]
    if len(found) == 1:
      return contrib.schedule_free_eval_params(found[0], params)
  return params


def _is_schedule_free(node) -> bool:
  return isinstance(node, contrib.ScheduleFreeState)


def _shown(value) -> str:
  if isinstance(value, float):
    return f"{value:g}"
  return repr(value) if isinstance(value, str) else str(value)
