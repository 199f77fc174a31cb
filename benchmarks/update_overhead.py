"""Jitted dual_process().update against optax.sgd on a 10M-parameter pytree.

Target: time ratio <= 1.05. With ``--large`` (benchmarks.all on a GPU) also a
100M-parameter tree. Each size reports the achieved memory bandwidth of the
update: the bytes XLA's cost analysis says the compiled update moves, over its
median time.
Run: python -m benchmarks.update_overhead --json
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import dualprocess
from benchmarks import timing


def make_params(total: int) -> dict:
  # A few layers of mixed shapes, like a small network, adding up to `total`.
  shapes = {"embed": (total // 4,), "dense1": (total // 4 // 1000, 1000),
            "dense2": (total // 4 // 500, 500)}
  used = sum(jnp.zeros(s).size for s in shapes.values())
  shapes["rest"] = (total - used,)
  key = jax.random.key(0)
  return {name: jax.random.normal(jax.random.fold_in(key, i), shape)
          for i, (name, shape) in enumerate(shapes.items())}


def measure(total: int, repeats: int) -> dict:
  params = make_params(total)
  grads = jax.tree.map(lambda p: 0.01 * p, params)
  hp = dualprocess.hyperparameters()  # the defaults of dual_process()
  fns = {}
  for name, tx in (("dual_process", dualprocess.dual_process()),
                   ("sgd", optax.sgd(hp.learning_rate, momentum=hp.momentum))):
    state = tx.init(params)
    fns[name] = (jax.jit(tx.update), (grads, state, params))
  result = timing.paired(*fns["dual_process"], *fns["sgd"], repeats=repeats)
  update, args = fns["dual_process"]
  moved = update.lower(*args).compile().cost_analysis()["bytes accessed"]
  result.update(parameters=total, bytes_moved=moved,
                achieved_bandwidth_gb_s=moved / result["median_a_s"] / 1e9)
  return result


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  total = 10_000 if args.smoke else 10_000_000
  result = measure(total, timing.repeats(args, full=50, quick=20, smoke=5))
  result["target"] = "ratio <= 1.05"
  if args.large:
    result["large"] = measure(100_000_000, timing.repeats(args, full=50, quick=20, smoke=5))
  timing.report("update_overhead", result, args.json)
  return result


if __name__ == "__main__":
  main()
