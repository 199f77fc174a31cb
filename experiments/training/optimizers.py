"""Optimizers by name, as optax pipelines: clipping, weight decay, the update with its schedule.

An optimizer entry of a config builds the chain optax users write:

    optax.chain(optax.clip_by_global_norm(clip_norm),
                optax.add_decayed_weights(weight_decay, mask),
                dual_process(schedule))          # or sgd, prodigy, ...

(``adam`` with weight decay is ``optax.adamw``). A link whose key is unset is
left out, so an entry without them is the bare optimizer, as before.

Besides the built-in names, ``optimizer.name`` takes any optax optimizer,
``optax.NAME`` or ``optax.contrib.NAME`` (``optax.adamw``, ``optax.lion``,
``optax.contrib.muon``), with ``optimizer.kwargs``, or ``"package.module:function"``,
a function returning an ``optax.GradientTransformation``. Such a *factory* is
called with ``learning_rate`` (the schedule scales it, as for the built-in
names), its momentum-like argument (``momentum_argument``, e.g. ``b1``) set to
``optimizer.momentum``, and the kwargs. **Naming a module imports it and runs
its code**, when the config is loaded, as Hydra's ``_target_`` does: name only
code you trust. :func:`check` refuses, in one line naming the key, a name that
does not exist (with the close ones), a module that does not import, kwargs the
factory does not take (with the ones it does), a learning rate or momentum it
has no argument for, and a factory that does not return a GradientTransformation.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
from collections.abc import Callable
from typing import NamedTuple, Optional

import jax
import optax
from optax import contrib

import dualprocess

from .. import imports
from ..config import (
  MOMENTUM_OPTIMIZERS,
  OPTIMIZERS,
  ConfigError,
  OptimizerConfig,
  ScheduleConfig,
)

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
  if is_factory(config):  # unset numbers: the factory's own defaults, where it has them
    signature = _signature(factory(config.name))
    if learning_rate is None:
      learning_rate = _number_default(signature, "learning_rate")
    if momentum is None:
      momentum = _number_default(signature, momentum_argument(config))
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
  elif is_factory(config):  # e.g. optax.adamw(lr=0.001, b1=0.95, b2=0.99)
    arguments = [] if learning_rate is None else [f"lr={learning_rate:.6g}"]
    if config.momentum is not None:
      arguments.append(f"{momentum_argument(config)}={config.momentum:.6g}")
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
    parts.append(f"wd {config.weight_decay:g}{mask}")
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
  if is_factory(config):
    arguments = dict(config.kwargs)
    if learning_rate is not None:
      arguments["learning_rate"] = learning_rate
    argument = argument or momentum_argument(config)
    if momentum is not None and argument is not None:
      arguments[argument] = momentum
    return factory(config.name)(**arguments)
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
  hyperparameter, replaces the entry's own (the search injects it per lane). ``adam``
  decays decoupled, as ``optax.adamw``; every other update gets the decay added to the
  gradient in front of it, so a search's trial and its retrained best are one chain."""
  decay = config.weight_decay if weight_decay is None else weight_decay
  if config.name == "adam" and (weight_decay is not None or config.weight_decay):
    return around(config, optax.adamw(learning_rate, weight_decay=decay,
                                      mask=decay_mask(config)), weight_decay=False)
  update = update_for(config, learning_rate, momentum, argument)
  if weight_decay is None:
    return around(config, update)
  return around(config, optax.chain(optax.add_decayed_weights(decay, decay_mask(config)),
                                    update), weight_decay=False)


def create(config: OptimizerConfig, total_steps: int) -> optax.GradientTransformation:
  """The entry's pipeline; ``total_steps`` is the run's, for the schedule's default decay."""
  resolved = resolve(config)
  lr = scaled(resolved.learning_rate, schedule_shape(config.schedule, total_steps))
  return chain_for(config, lr, resolved.momentum)


def evaluation_params(config: OptimizerConfig, opt_state, params):
  """The parameters to evaluate: schedule-free methods are judged at their average."""
  if config.name == "schedule_free_sgd":
    # Bare, or the last link of the chain that ``around`` built: read from the state itself.
    if not isinstance(opt_state, contrib.ScheduleFreeState):
      opt_state = opt_state[-1]
    return contrib.schedule_free_eval_params(opt_state, params)
  if is_factory(config):  # optax.contrib.schedule_free_adamw, say, or a chain holding one
    found = [s for s in jax.tree.leaves(opt_state, is_leaf=_is_schedule_free)
             if _is_schedule_free(s)]
    if len(found) == 1:
      return contrib.schedule_free_eval_params(found[0], params)
  return params


def _is_schedule_free(node) -> bool:
  return isinstance(node, contrib.ScheduleFreeState)


# ---------------------------------------------------------------------------------------
# optax names and functions ('factories')

_OPTAX_MODULES = {"optax": optax, "optax.contrib": contrib}


def is_factory(config: OptimizerConfig) -> bool:
  """Whether the entry names an optax optimizer or a ``module:function``, not a built-in."""
  return config.name not in OPTIMIZERS


def factory(name: str, key: str = "optimizer.name") -> Callable:
  """The function ``name`` stands for: ``optax.NAME``, ``optax.contrib.NAME`` or
  ``package.module:function`` (imported: the module's code runs). A name that does not
  resolve is a ConfigError naming ``key``, with the close names where there are some."""
  if imports.is_target(name):
    return imports.import_target(name, key, "a function returning an "
                                 "optax.GradientTransformation")
  module_name, _, attribute = name.rpartition(".")
  module = _OPTAX_MODULES.get(module_name)
  if module is None or not attribute.isidentifier():
    allowed = ", ".join(OPTIMIZERS)
    near = _optax_near(name.rpartition(".")[2]) if name.strip() else []
    hint = f" (did you mean {imports.either(near)}?)" if near else ""
    raise ConfigError(f"config key '{key}': unknown value {name!r}; allowed: {allowed}, "
                      f"'optax.NAME', 'optax.contrib.NAME' or 'package.module:function'{hint}")
  found = None if attribute.startswith("_") else getattr(module, attribute, None)
  if found is None:
    near = _optax_near(attribute)
    hint = f"; did you mean {imports.either(near)}?" if near else " (nor a close name)"
    raise ConfigError(f"config key '{key}': optax has no {name!r}{hint}")
  if not callable(found) or inspect.isclass(found):
    raise ConfigError(f"config key '{key}': {name!r} is not an optimizer (a function "
                      "returning an optax.GradientTransformation)")
  return found


def _optax_functions() -> dict[str, list[str]]:
  """{function name: its full names} of optax and optax.contrib."""
  names = {}
  for module_name, module in _OPTAX_MODULES.items():
    for attribute in dir(module):
      if not attribute.startswith("_") and inspect.isfunction(getattr(module, attribute)):
        names.setdefault(attribute, []).append(f"{module_name}.{attribute}")
  return names


def _optax_near(attribute: str) -> list[str]:
  functions = _optax_functions()
  near = difflib.get_close_matches(attribute, list(functions), n=3, cutoff=0.6)
  return [full for name in near for full in functions[name]][:3]


def _one_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _signature(function) -> Optional[inspect.Signature]:
  """``function``'s signature; None where Python cannot read one (it takes anything)."""
  try:
    return inspect.signature(function)
  except (TypeError, ValueError):
    return None


def _keywords(signature: Optional[inspect.Signature]) -> Optional[dict]:
  """{name: parameter} of the arguments a call can pass by keyword; None: any name."""
  if signature is None or any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
    return None
  return {n: p for n, p in signature.parameters.items()
          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def takes_learning_rate(config: OptimizerConfig) -> bool:
  """Whether an optax name or a function takes ``learning_rate`` (what a search tunes)."""
  return _takes(_signature(factory(config.name)), "learning_rate")


def _takes(signature, name: str) -> bool:
  keywords = _keywords(signature)
  return keywords is None or name in keywords


def _number_default(signature, name: Optional[str]) -> Optional[float]:
  """The argument's default where it is a plain number (shown as the effective value)."""
  keywords = _keywords(signature) or {}
  parameter = keywords.get(name) if name else None
  default = None if parameter is None else parameter.default
  if isinstance(default, (int, float)) and not isinstance(default, bool):
    return float(default)
  return None


def momentum_argument(config: OptimizerConfig) -> Optional[str]:
  """The factory's argument ``optimizer.momentum`` goes to: ``momentum_argument``, or
  ``momentum`` where the factory takes an argument of that name; None: it has none."""
  if config.momentum_argument is not None:
    return config.momentum_argument
  keywords = _keywords(_signature(factory(config.name)))
  return "momentum" if keywords is not None and "momentum" in keywords else None


def swept_momentum_argument(config: OptimizerConfig, sweep=None) -> Optional[str]:
  """The argument a sweep's momentum axis sets (``sweep`` is the config's SweepConfig, or
  None): for an optax name or a function ``sweep.momentum_argument``, else
  :func:`momentum_argument`; None for a built-in name, which takes its momentum itself.
  A ConfigError where the axes cannot reach the optimizer: a factory without
  ``learning_rate``, a momentum argument it does not take, one set by its kwargs too, or
  a momentum axis that varies (more than one value, or one not 0) with nowhere to go."""
  named = None if sweep is None else sweep.momentum_argument
  varies = sweep is not None and (len(sweep.momenta) > 1 or any(sweep.momenta))
  if not is_factory(config):
    if named is not None:
      raise ConfigError(f"config key 'sweep.momentum_argument': only for an optax name or a "
                        f"'package.module:function' (optimizer.name), not '{config.name}'")
    if varies and config.name not in MOMENTUM_OPTIMIZERS:
      raise ConfigError(f"config key 'sweep.momenta': optimizer '{config.name}' takes no "
                        "momentum; sweep momenta [0], or name an optax optimizer (e.g. "
                        "optax.adam) with sweep.momentum_argument (e.g. b1)")
    return None
  name = config.name
  signature = _signature(factory(name))
  if not _takes(signature, "learning_rate"):
    raise ConfigError(f"config key 'optimizer.name': {name} takes no argument "
                      "'learning_rate', which the sweep's learning-rate axis sets")
  if named is not None and not _takes(signature, named):
    raise ConfigError(f"config key 'sweep.momentum_argument': {name} takes no argument "
                      f"{named!r}; it takes: {_takes_list(signature, ('learning_rate',))}")
  argument = named or momentum_argument(config)
  if argument is None and varies:
    raise ConfigError(f"config key 'sweep.momentum_argument': {name} takes no argument "
                      "'momentum'; name the one the momentum axis sets (it takes: "
                      f"{_takes_list(signature, ('learning_rate',))}), or sweep momenta [0]")
  if argument is not None and argument in config.kwargs:
    raise ConfigError(f"config key 'sweep.momentum_argument': {name}'s {argument} is set by "
                      f"optimizer.kwargs.{argument} too; the momentum axis sets it, leave it "
                      "out of the kwargs")
  return argument


def _takes_list(signature, leave_out=()) -> str:
  keywords = _keywords(signature)
  if keywords is None:
    return "any keyword"
  names = [n for n in keywords if n not in leave_out]
  return ", ".join(names) if names else "none"


def _shown(value) -> str:
  if isinstance(value, float):
    return f"{value:g}"
  return repr(value) if isinstance(value, str) else str(value)


def check(config: OptimizerConfig, key: str = "optimizer") -> None:
  """Refuses an optax name or function entry that cannot work, in one line naming the key:
  a name that does not resolve, kwargs or a momentum argument the factory does not take, a
  learning rate it has no argument for, a required argument left out, and (one call with
  the entry's numbers) a factory that raises or returns no GradientTransformation."""
  name = config.name
  signature = _signature(factory(name, f"{key}.name"))
  takes = ", ".join(n for n in (_keywords(signature) or {}))
  for argument in config.kwargs:
    if argument == "learning_rate":
      raise ConfigError(f"config key '{key}.kwargs.learning_rate': set {key}.learning_rate "
                        "instead (the schedule and the sweep scale it)")
    if not _takes(signature, argument):
      raise ConfigError(f"config key '{key}.kwargs.{argument}': {name} takes no argument "
                        f"{argument!r}; it takes: {_takes_list(signature, ('learning_rate',))}")
  if config.momentum_argument is not None:
    if not config.momentum_argument.isidentifier() or not _takes(signature,
                                                                   config.momentum_argument):
      raise ConfigError(f"config key '{key}.momentum_argument': {name} takes no argument "
                        f"{config.momentum_argument!r}; it takes: {takes}")
    if config.momentum_argument == "learning_rate":
      raise ConfigError(f"config key '{key}.momentum_argument': not learning_rate (set by "
                        f"{key}.learning_rate); name the momentum-like argument, e.g. b1")
  argument = momentum_argument(config)
  if argument is not None and argument in config.kwargs:
    raise ConfigError(f"config key '{key}.kwargs.{argument}': {argument} is {name}'s "
                      f"momentum argument; set {key}.momentum instead (the sweep varies it)")
  if config.momentum is not None and argument is None:
    raise ConfigError(f"config key '{key}.momentum': {name} takes no argument 'momentum'; "
                      f"name its momentum-like one in {key}.momentum_argument (it takes: "
                      f"{_takes_list(signature, ('learning_rate',))})")
  has_learning_rate = _takes(signature, "learning_rate")
  if config.learning_rate is not None and not has_learning_rate:
    raise ConfigError(f"config key '{key}.learning_rate': {name} takes no argument "
                      f"'learning_rate' (it takes: {takes or 'none'}); leave it unset")
  keywords = _keywords(signature) or {}
  given = {*config.kwargs, "learning_rate" if config.learning_rate is not None else "",
           argument if config.momentum is not None else ""}
  missing = [n for n, p in keywords.items() if p.default is p.empty and n not in given]
  if argument in missing:
    raise ConfigError(f"config key '{key}.momentum': required for optimizer {name!r} (its "
                      f"momentum argument {argument} has no default)")
  if "learning_rate" in missing:
    raise ConfigError(f"config key '{key}.learning_rate': required for optimizer {name!r} "
                      "(its learning_rate has no default; a positive number)")
  if missing:
    raise ConfigError(f"config key '{key}.kwargs': {name} needs argument(s) "
                      f"{', '.join(missing)}; give them in {key}.kwargs")
  resolved = resolve(config)
  if config.schedule.name != "constant" and resolved.learning_rate is None:
    raise ConfigError(f"config key '{key}.schedule': scales the learning rate, and {name} "
                      f"has none to scale ({'no default' if has_learning_rate else 'no argument'}"
                      " 'learning_rate'); use schedule 'constant'")
  if config.weight_decay and config.kwargs.get("weight_decay"):
    raise ConfigError(f"config key '{key}.weight_decay': {name} decays by its own "
                      f"kwargs.weight_decay; give one of the two")
  try:
    built = update_for(config, resolved.learning_rate, resolved.momentum)
  except Exception as error:  # the factory's own complaint about its arguments
    raise ConfigError(f"config key '{key}.name': {name}(...) with this entry's arguments "
                      f"raised {_one_line(error)}") from None
  if not isinstance(built, optax.GradientTransformation):
    raise ConfigError(f"config key '{key}.name': {name} returned a {type(built).__name__}, "
                      "not an optax.GradientTransformation")
