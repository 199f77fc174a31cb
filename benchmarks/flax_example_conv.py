"""The Flax MNIST example's CNN with ``nnx.Conv`` against the same model with the drop-ins.

The CNN of Flax's NNX MNIST tutorial: conv 32 3x3, ReLU, 2x2 average pool; conv
64 3x3, ReLU, 2x2 average pool; dense 256, ReLU; dense 10 (``'SAME'`` padding,
nnx.Conv's default). It is written once, with ``nnx.Conv`` and ``nnx.avg_pool``
(A), as a user writes it, and the drop-ins ``experiments.models.conv.Conv`` and
``conv.avg_pool`` are then put in their place (B); nothing else changes. The
two models start from the same parameters (B loads A's state, as a user's
checkpoint would load), and the benchmark first checks that they agree on one
batch: the loss and every gradient, to float32 tolerance.

Then it times trained steps: each model's step (cross-entropy, the tutorial's
``optax.adamw(0.005, 0.9)``, batch 32) as one jitted ``lax.scan`` over
``--steps`` batches of random 28x28 images (the timing does not depend on pixel
values), A and B alternately, medians. ``speedup_vs_nnx_conv`` is A's time per
step over B's. Target on a CPU: at least 8x. On an accelerator the drop-ins are
``nnx``'s own calls (``formulation: auto``), so the speedup is about 1.

Run: python -m benchmarks.flax_example_conv --json [--quick | --smoke]
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from benchmarks import timing
from experiments.models import conv

TARGET_SPEEDUP = 8.0
RTOL, ATOL = 1e-4, 1e-5  # float32: sums over up to 3,136 products, summed in other orders


class CNN(nnx.Module):
  """The tutorial's CNN, with the convolution class and pooling function given."""

  def __init__(self, conv_class, avg_pool, *, rngs: nnx.Rngs):
    self.conv1 = conv_class(1, 32, kernel_size=(3, 3), rngs=rngs)
    self.conv2 = conv_class(32, 64, kernel_size=(3, 3), rngs=rngs)
    self.avg_pool = functools.partial(avg_pool, window_shape=(2, 2), strides=(2, 2))
    self.linear1 = nnx.Linear(3136, 256, rngs=rngs)
    self.linear2 = nnx.Linear(256, 10, rngs=rngs)

  def __call__(self, x):
    x = self.avg_pool(nnx.relu(self.conv1(x)))
    x = self.avg_pool(nnx.relu(self.conv2(x)))
    x = x.reshape(x.shape[0], -1)
    x = nnx.relu(self.linear1(x))
    return self.linear2(x)


def models():
  """(A, B): the model with nnx's layers, and with the drop-ins holding A's parameters."""
  reference = CNN(nnx.Conv, nnx.avg_pool, rngs=nnx.Rngs(0))
  fast = CNN(conv.Conv, conv.avg_pool, rngs=nnx.Rngs(1))
  nnx.update(fast, nnx.state(reference))
  return reference, fast


def loss_fn(graphdef, params, x, y):
  logits = nnx.merge(graphdef, params)(x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def agreement(reference, fast, x, y) -> dict:
  """The loss and every gradient of both models on one batch, compared."""
  results = []
  for model in (reference, fast):
    graphdef, params = nnx.split(model, nnx.Param)
    value_and_grad = jax.jit(jax.value_and_grad(functools.partial(loss_fn, graphdef)))
    results.append(value_and_grad(params, x, y))
  (loss_a, grads_a), (loss_b, grads_b) = results
  pairs = list(zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b), strict=True))
  close = all(np.allclose(a, b, rtol=RTOL, atol=ATOL) for a, b in pairs)
  return {"loss_nnx_conv": float(loss_a), "loss_dropin": float(loss_b),
          "max_abs_grad_difference": max(float(jnp.max(jnp.abs(a - b))) for a, b in pairs),
          "values_and_gradients_match": bool(close and np.isclose(loss_a, loss_b, rtol=RTOL)),
          "tolerance": {"rtol": RTOL, "atol": ATOL}}


def segment(model, steps: int, batch: int):
  """A jitted ``lax.scan`` of ``steps`` training steps, and its initial carry."""
  tx = optax.adamw(0.005, 0.9)
  graphdef, params = nnx.split(model, nnx.Param)

  def step(carry, batch_xy):
    params, opt_state = carry
    grads = jax.grad(functools.partial(loss_fn, graphdef))(params, *batch_xy)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  def run(carry, x, y):
    xs = (x.reshape(steps, batch, *x.shape[1:]), y.reshape(steps, batch))
    return jax.lax.scan(step, carry, xs)[0]

  return jax.jit(run), (params, tx.init(params))


def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  parser.add_argument("--steps", type=int, default=None,
                      help="steps per timed segment (default 100; --quick 40; --smoke 2)")
  parser.add_argument("--batch-size", type=int, default=32, help="the tutorial's 32")
  args = parser.parse_args(argv)
  steps = args.steps or (2 if args.smoke else 40 if args.quick else 100)
  batch = 4 if args.smoke else args.batch_size
  repeats = timing.repeats(args, full=7, quick=3, smoke=1)
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.random((steps * batch, 28, 28, 1), dtype=np.float32))
  y = jnp.asarray(rng.integers(0, 10, steps * batch).astype(np.int32))
  reference, fast = models()
  result = agreement(reference, fast, x[:batch], y[:batch])
  load_before = os.getloadavg()
  run_a, carry_a = segment(reference, steps, batch)
  run_b, carry_b = segment(fast, steps, batch)
  paired = timing.paired(run_a, (carry_a, x, y), run_b, (carry_b, x, y), repeats=repeats)
  on_cpu = jax.default_backend() == "cpu"
  speedup = paired["median_a_s"] / paired["median_b_s"]
  result.update(
      batch_size=batch, timed_steps=steps, repeats=repeats,
      formulation=conv.resolve("auto"),
      nnx_conv_s_per_step=paired["median_a_s"] / steps,
      dropin_s_per_step=paired["median_b_s"] / steps,
      speedup_vs_nnx_conv=speedup, median_paired_speedup=paired["ratio"],
      target=f"speedup_vs_nnx_conv >= {TARGET_SPEEDUP:g} on a CPU" if on_cpu else
      "about 1: the drop-ins are nnx's own calls on an accelerator",
      target_met=(speedup >= TARGET_SPEEDUP) if on_cpu else None,
      load_average_before=list(load_before), load_average_after=list(os.getloadavg()))
  timing.report("flax_example_conv", result, args.json)
  return result


if __name__ == "__main__":
  main()
