"""Transformer training steps: ours against a minimal Flax NNX transformer, tokens per second.

The same sizes (the built-in transformer's defaults: width 64, depth 2, 4 heads, MLP
ratio 4, context 128, vocabulary 256; batch 32), the same batches of the built-in
``python_stdlib`` corpus (``experiments/data/text.py``), plain cross-entropy averaged
over the tokens and ``optax.sgd(0.1, momentum=0.9)``, no dropout:

A: ``experiments/models/transformer.py`` (one fused query/key/value projection,
   ``jax.nn.dot_product_attention(is_causal=True)``), its steps in one jitted
   ``lax.scan`` that gathers each batch's windows from the token array on the device
   (``text.windows``), as the toolkit's segments run.
B: the transformer a Flax user writes: ``nnx.MultiHeadAttention`` with
   ``nnx.make_causal_mask``, ``nnx.Optimizer``, an ``nnx.jit`` train step called from a
   Python loop on batches prepared beforehand.

Segments of ``--steps`` steps run alternately after one warm-up each; medians give
``tokens_per_s``, ``plain_flax_tokens_per_s`` and ``transformer_speedup_vs_plain_flax``
(target >= 1). ``gflop_per_s`` is XLA's flop count of A's compiled step over its
median time, and ``fraction_of_matmul`` that over the GFLOP/s of a jitted float32
matmul (``--matmul`` square) timed in the same process.
Run: python -m benchmarks.transformer_step --json   (--quick: fewer steps and repeats)
"""

from __future__ import annotations

import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from benchmarks import timing
from experiments.data import text
from experiments.models import transformer

SIZES = {"width": 64, "depth": 2, "heads": 4, "mlp_ratio": 4}
SMOKE_SIZES = {"width": 32, "depth": 1, "heads": 2, "mlp_ratio": 2}
LEARNING_RATE, MOMENTUM = 0.1, 0.9


class PlainBlock(nnx.Module):
  """A pre-LayerNorm block written the plain way, with nnx.MultiHeadAttention."""

  def __init__(self, width: int, heads: int, mlp_ratio: int, rngs: nnx.Rngs):
    self.norm1, self.norm2 = nnx.LayerNorm(width, rngs=rngs), nnx.LayerNorm(width, rngs=rngs)
    self.attention = nnx.MultiHeadAttention(heads, width, decode=False, rngs=rngs)
    self.up = nnx.Linear(width, mlp_ratio * width, rngs=rngs)
    self.down = nnx.Linear(mlp_ratio * width, width, rngs=rngs)

  def __call__(self, x, mask):
    x = x + self.attention(self.norm1(x), mask=mask)
    return x + self.down(jax.nn.gelu(self.up(self.norm2(x))))


class PlainTransformer(nnx.Module):
  """The same language model as a Flax user writes it."""

  def __init__(self, vocab: int, context: int, width: int, depth: int, heads: int,
               mlp_ratio: int, rngs: nnx.Rngs):
    self.embed = nnx.Embed(vocab, width, rngs=rngs)
    self.position = nnx.Embed(context, width, rngs=rngs)
    self.blocks = nnx.List([PlainBlock(width, heads, mlp_ratio, rngs) for _ in range(depth)])
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.head = nnx.Linear(width, vocab, rngs=rngs)

  def __call__(self, tokens):
    x = self.embed(tokens) + self.position(jnp.arange(tokens.shape[1]))
    mask = nnx.make_causal_mask(tokens)
    for block in self.blocks:
      x = block(x, mask)
    return self.head(self.norm(x))


def token_loss(logits, y):
  """Cross-entropy averaged over every token of the batch."""
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def ours(sizes: dict, context: int, tokens: jax.Array):
  """A's jitted segment ``(params, opt_state, starts [steps, batch]) -> (params, ...)``,
  its initial carry and its jitted single step (for XLA's flop count)."""
  model = transformer.transformer((context,), 256, nnx.Rngs(0), **sizes)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  tx = optax.sgd(LEARNING_RATE, momentum=MOMENTUM)

  def step(carry, starts):
    params, opt_state = carry
    x, y = text.windows(tokens, starts, context)

    def loss_fn(params):
      return token_loss(nnx.merge(graphdef, params, rest)(x), y.astype(jnp.int32))

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), loss

  segment = jax.jit(lambda carry, starts: jax.lax.scan(step, carry, starts))
  return segment, (params, tx.init(params)), jax.jit(step)


def plain(sizes: dict, context: int):
  """B: the model, its optimizer and the nnx.jit train step a tutorial writes."""
  model = PlainTransformer(256, context, rngs=nnx.Rngs(0), **sizes)
  optimizer = nnx.Optimizer(model, optax.sgd(LEARNING_RATE, momentum=MOMENTUM), wrt=nnx.Param)

  @nnx.jit
  def train_step(model, optimizer, x, y):
    loss, grads = nnx.value_and_grad(lambda m: token_loss(m(x), y))(model)
    optimizer.update(model, grads)
    return loss

  def segment(batches):
    for x, y in batches:
      loss = train_step(model, optimizer, x, y)
    return loss

  return segment


def matmul_gflop_per_s(n: int, repeats: int) -> float:
  """The GFLOP/s of a jitted float32 ``[n, n] @ [n, n]`` (its median time)."""
  a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
  product = jax.jit(lambda a, b: a @ b)
  timing.time_call(product, a, a)
  seconds = statistics.median(timing.time_call(product, a, a) for _ in range(repeats * 3))
  return 2 * n**3 / seconds / 1e9


def measure(sizes: dict, context: int, batch: int, steps: int, repeats: int,
            matmul: int) -> dict:
  corpus = text.load_text(text.BUILTIN, "bytes", context)
  tokens = jnp.asarray(corpus.train)
  rng = np.random.default_rng(0)
  starts = rng.integers(0, len(corpus.train) - context - 1, size=(steps, batch))
  x, y = text.windows(corpus.train, starts.reshape(-1), context)
  batches = [(jnp.asarray(a, jnp.int32), jnp.asarray(b, jnp.int32)) for a, b in
             zip(x.reshape(steps, batch, context), y.reshape(steps, batch, context),
                 strict=True)]
  segment, carry, one_step = ours(sizes, context, tokens)
  starts = jnp.asarray(starts)
  plain_segment = plain(sizes, context)
  result = timing.paired(lambda: segment(carry, starts)[1], (),
                         lambda: plain_segment(batches), (), repeats=repeats)
  cost = one_step.lower(carry, starts[0]).compile().cost_analysis()
  flops = float((cost[0] if isinstance(cost, list) else cost)["flops"])
  per_step = result["median_a_s"] / steps
  gflop_per_s = flops / per_step / 1e9
  matmul_rate = matmul_gflop_per_s(matmul, repeats)
  return {"sizes": sizes, "context": context, "batch_size": batch, "vocab_size": 256,
          "timed_steps": steps, "repeats": repeats, "corpus_sha256": corpus.sha256,
          "s_per_step": per_step, "plain_flax_s_per_step": result["median_b_s"] / steps,
          "tokens_per_s": steps * batch * context / result["median_a_s"],
          "plain_flax_tokens_per_s": steps * batch * context / result["median_b_s"],
          "transformer_speedup_vs_plain_flax": 1.0 / result["ratio"],
          "step_gflop": flops / 1e9, "gflop_per_s": gflop_per_s,
          "matmul_size": matmul, "matmul_gflop_per_s": matmul_rate,
          "fraction_of_matmul": gflop_per_s / matmul_rate}


def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  parser.add_argument("--steps", type=int, default=None,
                      help="steps per timed segment (default 40; --quick 15; --smoke 2)")
  parser.add_argument("--matmul", type=int, default=1024,
                      help="the side of the reference float32 matmul (default 1024)")
  args = parser.parse_args(argv)
  steps = args.steps or (2 if args.smoke else 15 if args.quick else 40)
  repeats = timing.repeats(args, full=5, quick=3, smoke=1)
  sizes, context = (SMOKE_SIZES, 16) if args.smoke else (SIZES, 128)
  result = measure(sizes, context, 32, steps, repeats, 256 if args.smoke else args.matmul)
  result.update(target="transformer_speedup_vs_plain_flax >= 1",
                target_met=result["transformer_speedup_vs_plain_flax"] >= 1.0)
  timing.report("transformer_step", result, args.json)
  return result


if __name__ == "__main__":
  main()
