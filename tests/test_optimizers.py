"""Optimizer entries of a config: what a name and a preset resolve to."""

import pytest

import dualprocess as dp
from experiments.config import OptimizerConfig
from experiments.training import optimizers


def test_dual_process_without_numbers_is_the_derived_pair():
  resolved = optimizers.resolve(OptimizerConfig(name="dual_process"))
  assert (resolved.learning_rate, resolved.momentum) == dp.hyperparameters("double_bayesian")
  # Six digits: the derived pair's label cannot be mistaken for the rounded quotation.
  assert resolved.label == "dual_process(lr=0.0158679, m=0.874032)"
  reported = optimizers.resolve(OptimizerConfig(name="dual_process", preset="reported"))
  assert reported.label == "dual_process(lr=0.016, m=0.874)"


@pytest.mark.parametrize("preset", dp.constants.NAMES)
@pytest.mark.parametrize("name", ["dual_process", "sgd"])
def test_every_preset_resolves_to_its_named_set(name, preset):
  resolved = optimizers.resolve(OptimizerConfig(name=name, preset=preset))
  assert (resolved.learning_rate, resolved.momentum) == dp.hyperparameters(preset)


def test_explicit_numbers_win_over_the_default():
  resolved = optimizers.resolve(OptimizerConfig(name="dual_process", learning_rate=0.1))
  assert (resolved.learning_rate, resolved.momentum) == (0.1, dp.hyperparameters().momentum)


# Pipelines: clipping, weight decay, the update with its schedule.

import itertools  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from experiments import config as config_lib  # noqa: E402
from experiments.config import ConfigError, ScheduleConfig  # noqa: E402

TOTAL = 40


def trajectory(tx, steps=TOTAL):
  params = {"dense": {"kernel": jnp.arange(6.0).reshape(3, 2) / 7, "bias": jnp.ones(2)}}
  state = tx.init(params)

  @jax.jit
  def step(params, state, i):
    grads = jax.grad(lambda p: sum(jnp.sum(jnp.sin(x * (1 + i / 10)) ** 2)
                                   for x in jax.tree.leaves(p)) * 3.0)(params)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  out = []
  for i in range(steps):
    params, state = step(params, state, i)
    out.append(params)
  return out


def by_hand(name, schedule, weight_decay, mask, clip):
  """The chain an optax user writes for the same keys."""
  lr, momentum = {"dual_process": dp.hyperparameters(), "sgd": (0.1, 0.9),
                  "adam": (1e-3, None), "prodigy": (1.0, None)}[name]
  if schedule == "warmup_cosine":  # 5 % of 40 steps warm up
    lr = optax.schedules.warmup_cosine_decay_schedule(0.0, lr, 2, TOTAL, end_value=0.0)
  kernels = (lambda p: jax.tree.map(lambda x: x.ndim >= 2, p)) if mask == "kernels" else None
  links = [optax.clip_by_global_norm(clip)] if clip else []
  if name == "adam":
    update = optax.adamw(lr, weight_decay=weight_decay, mask=kernels) if weight_decay \
        else optax.adam(lr)
  else:
    if weight_decay:
      links.append(optax.add_decayed_weights(weight_decay, kernels))
    update = {"dual_process": lambda: dp.dual_process(lr, momentum),
              "sgd": lambda: optax.sgd(lr, momentum=momentum),
              "prodigy": lambda: optax.contrib.prodigy(lr)}[name]()
  return optax.chain(*links, update) if links else update


@pytest.mark.parametrize("name, schedule, weight_decay, mask, clip", [
    (name, schedule, wd, mask, clip)
    for name, schedule, (wd, mask), clip in itertools.product(
        ["dual_process", "sgd", "adam", "prodigy"], ["constant", "warmup_cosine"],
        [(0.0, "all"), (0.01, "all"), (0.01, "kernels")], [None, 0.05])])
def test_the_built_pipeline_equals_the_chain_written_by_hand(name, schedule, weight_decay,
                                                             mask, clip):
  entry = {"name": name, "schedule": {"name": schedule}, "weight_decay": weight_decay,
           "weight_decay_mask": mask, "clip_norm": clip}
  if name in ("sgd", "adam"):
    entry.update(learning_rate={"sgd": 0.1, "adam": 1e-3}[name])
  if name == "sgd":
    entry.update(momentum=0.9)
  built = optimizers.create(config_lib.build(OptimizerConfig, entry, "optimizer"), TOTAL)
  for ours, theirs in zip(trajectory(built), trajectory(by_hand(name, schedule, weight_decay,
                                                                mask, clip)), strict=True):
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
      np.testing.assert_array_equal(a, b)


def test_without_pipeline_keys_the_optimizer_is_the_bare_one():
  bare = optimizers.create(OptimizerConfig(name="sgd", learning_rate=0.1, momentum=0.9), 10)
  assert type(bare.init({"w": jnp.zeros(2)})) is type(optax.sgd(0.1, 0.9).init(
      {"w": jnp.zeros(2)}))


@pytest.mark.parametrize("schedule, checks", [
    # (step, multiple of the peak) pairs each schedule must hit.
    ({"name": "warmup_cosine", "warmup_steps": 10, "end_fraction": 0.1},
     [(0, 0.0), (5, 0.5), (10, 1.0), (55, 0.55), (100, 0.1)]),
    ({"name": "cosine", "end_fraction": 0.2}, [(0, 1.0), (50, 0.6), (100, 0.2)]),
    ({"name": "linear", "warmup_fraction": 0.2, "end_fraction": 0.0},
     [(0, 0.0), (20, 1.0), (60, 0.5), (100, 0.0)]),
    ({"name": "exponential", "decay_rate": 0.25, "decay_steps": 50},
     [(0, 1.0), (25, 0.5), (50, 0.25)]),
    ({"name": "warmup_cosine"}, [(0, 0.0), (5, 1.0), (100, 0.0)]),  # default: 5 % warmup
])
def test_schedules_reach_their_stated_values_at_the_stated_steps(schedule, checks):
  shape = optimizers.schedule_shape(config_lib.build(ScheduleConfig, schedule, "s"), 100)
  for step, value in checks:
    assert float(shape(step)) == pytest.approx(value, abs=1e-6), (step, value)
  lr = optimizers.scaled(0.3, shape)
  assert float(lr(checks[-1][0])) == pytest.approx(0.3 * checks[-1][1], abs=1e-6)


@pytest.mark.parametrize("entry, message", [
    ({"schedule": {"name": "exponential"}}, "'optimizer.schedule.decay_rate': exponential needs"),
    ({"schedule": {"name": "cosine", "decay_rate": 0.5}},
     "'optimizer.schedule.decay_rate': only for 'exponential'"),
    ({"schedule": {"name": "constant", "warmup_steps": 3}},
     "'optimizer.schedule.name': 'constant' takes no warmup"),
    ({"schedule": {"name": "linear", "warmup_steps": 3, "warmup_fraction": 0.1}},
     "give warmup_steps or warmup_fraction, not both"),
    ({"schedule": {"name": "cosine", "end_fraction": 2}}, "'optimizer.schedule.end_fraction'"),
    ({"schedule": {"name": "cosnie"}}, "unknown value 'cosnie'; allowed: constant, cosine"),
    ({"weight_decay": -1}, "'optimizer.weight_decay': must be a number >= 0"),
    ({"clip_norm": 0}, "'optimizer.clip_norm': must be a positive number"),
    ({"name": "schedule_free_sgd", "schedule": {"name": "cosine"}},
     "'optimizer.schedule': schedule_free_sgd takes no schedule"),
])
def test_bad_pipeline_keys_are_one_line(entry, message):
  with pytest.raises(ConfigError) as info:
    config_lib.build(OptimizerConfig, entry, "optimizer")
  assert message in str(info.value) and "\n" not in str(info.value)


def test_a_warmup_longer_than_the_run_is_one_line():
  config = config_lib.build(OptimizerConfig, {"schedule": {"name": "warmup_cosine",
                                                           "warmup_steps": 500}}, "optimizer")
  with pytest.raises(ConfigError, match=r"'optimizer.schedule.warmup_steps': the warmup \(500 "
                                        r"steps\) must be shorter than the decay \(100 steps"):
    optimizers.create(config, 100)


def test_labels_show_the_whole_pipeline():
  entry = {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
           "weight_decay_mask": "kernels", "clip_norm": 1.0,
           "schedule": {"name": "warmup_cosine", "warmup_fraction": 0.1}}
  label = optimizers.resolve(config_lib.build(OptimizerConfig, entry, "optimizer")).label
  assert label == "sgd(lr=0.1, m=0.9) + warmup_cosine warmup 0.1 + wd 0.0005 (kernels) + clip 1"


@pytest.mark.parametrize("links", [{}, {"clip_norm": 1.0}, {"weight_decay": 1e-3},
                                   {"clip_norm": 1.0, "weight_decay": 1e-3}])
def test_schedule_free_is_evaluated_at_its_average_bare_or_chained(links):
  config = config_lib.build(OptimizerConfig, {"name": "schedule_free_sgd", **links}, "optimizer")
  tx = optimizers.create(config, 10)
  params = {"w": jnp.array([1.0, -2.0])}
  state = tx.init(params)
  for step in range(3):
    updates, state = tx.update({"w": jnp.array([0.5, step - 1.0])}, state, params)
    params = optax.apply_updates(params, updates)
  inner = state[-1] if links else state
  expected = optax.contrib.schedule_free_eval_params(inner, params)
  evaluated = optimizers.evaluation_params(config, state, params)
  np.testing.assert_array_equal(evaluated["w"], expected["w"])
  assert not np.array_equal(evaluated["w"], params["w"])  # the average, not the iterate


def _one_step(config: OptimizerConfig, params, grads, total_steps=10):
  tx = optimizers.create(config, total_steps)
  updates, _ = tx.update(grads, tx.init(params), params)
  return jax.tree.map(lambda p, u: p + u, params, updates)


@pytest.mark.parametrize("name", ["sgd", "dual_process"])
def test_weight_decay_styles_are_what_their_names_say(name):
  """l2: the decay joins the gradient before the momentum; decoupled: it is subtracted
  after the update, scaled by the learning rate (SGDW). From zero momentum, one step:
  l2 gives p - lr (g + wd p), decoupled p - lr g - lr wd p; the two agree on the first step
  of plain momentum SGD and part on the second, where l2's decay has entered the trace."""
  params, grads = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.array([0.5, 0.25])}
  lr, wd, m = 0.1, 0.01, 0.9
  entry = lambda style: OptimizerConfig(name=name, learning_rate=lr, momentum=m,
                                        weight_decay=wd, weight_decay_style=style)
  expected = params["w"] - lr * (grads["w"] + wd * params["w"])
  for style in ("l2", "decoupled"):
    np.testing.assert_allclose(_one_step(entry(style), params, grads)["w"], expected,
                               rtol=1e-6)
  two = {}
  for style in ("l2", "decoupled"):
    tx = optimizers.create(entry(style), 10)
    state, p = tx.init(params), params
    for _ in range(2):
      updates, state = tx.update(grads, state, p)
      p = jax.tree.map(lambda a, u: a + u, p, updates)
    two[style] = p["w"]
  p1 = params["w"] - lr * (grads["w"] + wd * params["w"])
  trace_l2 = m * (grads["w"] + wd * params["w"]) + grads["w"] + wd * p1
  np.testing.assert_allclose(two["l2"], p1 - lr * trace_l2, rtol=1e-6)
  np.testing.assert_allclose(two["decoupled"], p1 - lr * (m * grads["w"] + grads["w"])
                             - lr * wd * p1, rtol=1e-6)


def test_decoupled_decay_follows_the_schedule_and_adam_takes_both_styles():
  params, grads = {"w": jnp.array([1.0, -2.0])}, {"w": jnp.zeros(2)}
  # Zero gradients: only the decay moves the parameters, by lr(t) * wd * p at step t.
  scheduled = OptimizerConfig(name="sgd", learning_rate=0.5, momentum=0.0, weight_decay=0.1,
                              weight_decay_style="decoupled",
                              schedule=ScheduleConfig(name="linear", end_fraction=0.0))
  tx = optimizers.create(scheduled, total_steps=4)
  state, p, shapes = tx.init(params), params, []
  for _ in range(4):
    updates, state = tx.update(grads, state, p)
    shapes.append(float(-updates["w"][0] / (0.5 * 0.1 * p["w"][0])))
    p = jax.tree.map(lambda a, u: a + u, p, updates)
  np.testing.assert_allclose(shapes, [1.0, 0.75, 0.5, 0.25], rtol=1e-6)
  adam = lambda style: OptimizerConfig(name="adam", learning_rate=0.1, weight_decay=0.1,
                                       weight_decay_style=style)
  grads = {"w": jnp.array([0.5, 0.25])}
  decoupled, l2 = (_one_step(adam(s), params, grads)["w"] for s in ("decoupled", None))
  np.testing.assert_allclose(decoupled, l2, rtol=1e-6)  # adam's default: optax.adamw
  assert not np.allclose(_one_step(adam("l2"), params, grads)["w"], decoupled)
