"""Jitted dual_process().update against optax.sgd on a 10M-parameter pytree.

Target: time ratio <= 1.05. Run: python -m benchmarks.update_overhead --json
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


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  total = 10_000 if args.smoke else 10_000_000
  params = make_params(total)
  grads = jax.tree.map(lambda p: 0.01 * p, params)
  hp = dualprocess.hyperparameters()  # the defaults of dual_process()
  fns = {}
  for name, tx in (("dual_process", dualprocess.dual_process()),
                   ("sgd", optax.sgd(hp.learning_rate, momentum=hp.momentum))):
    state = tx.init(params)
    fns[name] = (jax.jit(tx.update), (grads, state, params))
  result = timing.paired(*fns["dual_process"], *fns["sgd"], repeats=5 if args.smoke else 50)
  result.update(parameters=total, target="ratio <= 1.05")
  timing.report("update_overhead", result, args.json)
  return result


if __name__ == "__main__":
  main()
