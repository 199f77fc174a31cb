"""The dual-process losses against optax's cross-entropies on (8192, 1000) logits.

Targets: dual_process_loss / softmax_cross_entropy_with_integer_labels <= 1.25;
cross_entropy_decomposition / softmax_cross_entropy <= 2.2 (it returns two more
quantities; the extra logarithm per element is the floor). Also reported, with
no target: the same integer-label pair's gradients (jit(grad(sum))), which is
what training pays; the pair on bf16 logits; and the loss's label-shifted fast
path (with its ``lax.cond`` fallback) against the max-shifted form alone,
which says whether the conditional costs anything on this backend (on a GPU
its predicate might be read back to the host). ``--large`` (benchmarks.all on
a GPU) adds (65536, 1000) logits, float32 and bf16.
Run: python -m benchmarks.loss_overhead --json
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

import dualprocess
from benchmarks import timing
from dualprocess import losses


def measure(batch: int, classes: int, repeats: int, dtype=jnp.float32) -> dict:
  key = jax.random.key(0)
  logits = (3.0 * jax.random.normal(key, (batch, classes))).astype(dtype)
  labels = jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0, classes)
  integer = timing.paired(jax.jit(dualprocess.dual_process_loss), (logits, labels),
                          jax.jit(optax.softmax_cross_entropy_with_integer_labels),
                          (logits, labels), repeats)

  def summed_gradient(loss):
    return jax.jit(jax.grad(lambda z, y: loss(z, y).sum()))

  gradient = timing.paired(summed_gradient(dualprocess.dual_process_loss), (logits, labels),
                           summed_gradient(optax.softmax_cross_entropy_with_integer_labels),
                           (logits, labels), repeats)
  max_shifted = jax.jit(lambda z, y: losses._max_shifted_loss(z.astype(jnp.float32), y))
  cond = timing.paired(jax.jit(dualprocess.dual_process_loss), (logits, labels),
                       max_shifted, (logits, labels), repeats)
  result = {"shape": [batch, classes], "dtype": jnp.dtype(dtype).name,
            "dual_process_loss_ratio": integer["ratio"],
            "dual_process_loss_gradient_ratio": gradient["ratio"],
            "fast_path_vs_max_shifted_ratio": cond["ratio"],
            "dual_process_loss": integer, "dual_process_loss_gradient": gradient,
            "fast_path_vs_max_shifted": cond}
  if dtype == jnp.float32:
    targets = jax.nn.softmax(jax.random.normal(jax.random.fold_in(key, 2), (batch, classes)))
    soft = timing.paired(jax.jit(dualprocess.cross_entropy_decomposition), (logits, targets),
                         jax.jit(optax.softmax_cross_entropy), (logits, targets), repeats)
    result.update(decomposition_ratio=soft["ratio"], decomposition=soft)
  return result


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  batch, classes = (64, 10) if args.smoke else (8192, 1000)
  repeats = timing.repeats(args, full=50, quick=20, smoke=5)
  result = measure(batch, classes, repeats)
  result["bf16"] = measure(batch, classes, repeats, jnp.bfloat16)
  result["targets"] = {"dual_process_loss_ratio": "<= 1.25", "decomposition_ratio": "<= 2.2"}
  if args.large:
    result["large"] = measure(65536, classes, repeats)
    result["large_bf16"] = measure(65536, classes, repeats, jnp.bfloat16)
  timing.report("loss_overhead", result, args.json)
  return result


if __name__ == "__main__":
  main()
