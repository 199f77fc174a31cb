"""The dual-process losses against optax's cross-entropies on (8192, 1000) logits.

Targets: dual_process_loss / softmax_cross_entropy_with_integer_labels <= 1.25;
cross_entropy_decomposition / softmax_cross_entropy <= 2.2 (it returns two more
quantities; the extra logarithm per element is the floor). Also reported, with
no target: the same integer-label pair's gradients (jit(grad(sum))), which is
what training pays.
Run: python -m benchmarks.loss_overhead --json
"""

from __future__ import annotations

import jax
import optax

import dualprocess
from benchmarks import timing


def main(argv=None) -> dict:
  args = timing.parser(__doc__).parse_args(argv)
  batch, classes = (64, 10) if args.smoke else (8192, 1000)
  key = jax.random.key(0)
  logits = 3.0 * jax.random.normal(key, (batch, classes))
  labels = jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0, classes)
  targets = jax.nn.softmax(jax.random.normal(jax.random.fold_in(key, 2), (batch, classes)))
  repeats = 5 if args.smoke else 50
  integer = timing.paired(jax.jit(dualprocess.dual_process_loss), (logits, labels),
                          jax.jit(optax.softmax_cross_entropy_with_integer_labels),
                          (logits, labels), repeats)
  def summed_gradient(loss):
    return jax.jit(jax.grad(lambda z, y: loss(z, y).sum()))

  gradient = timing.paired(summed_gradient(dualprocess.dual_process_loss), (logits, labels),
                           summed_gradient(optax.softmax_cross_entropy_with_integer_labels),
                           (logits, labels), repeats)
  soft = timing.paired(jax.jit(dualprocess.cross_entropy_decomposition), (logits, targets),
                       jax.jit(optax.softmax_cross_entropy), (logits, targets), repeats)
  result = {"shape": [batch, classes],
            "dual_process_loss_ratio": integer["ratio"],
            "decomposition_ratio": soft["ratio"],
            "dual_process_loss_gradient_ratio": gradient["ratio"],
            "dual_process_loss": integer, "decomposition": soft,
            "dual_process_loss_gradient": gradient,
            "targets": {"dual_process_loss_ratio": "<= 1.25", "decomposition_ratio": "<= 2.2"}}
  timing.report("loss_overhead", result, args.json)
  return result


if __name__ == "__main__":
  main()
