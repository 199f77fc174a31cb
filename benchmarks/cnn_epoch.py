"""CNN epochs: the toolkit's against a minimal nnx.Conv scan, side by side, with GFLOP/s.

For the author's CNN (``configs/paper_mnist_grid.yaml``: two 3x3 convolutions
of 16 and 32 channels with max-pooling, dropout, dense 128; batch 64; one
fold's 54,000 training images) and the LeNet-style CNN
(``configs/mnist_cnn.yaml``: 5x5 convolutions of 6 and 16 channels; batch
128; 60,000 images):

A: the toolkit's epoch (``experiments.training.train``, the model as configured, its
   convolutions in the formulation ``model.conv: auto`` picks for the backend),
   with its loss decomposition, per-step metrics and finiteness check.
B: the minimal epoch a Flax user writes: ``nnx.Conv``, ``nnx.max_pool``,
   ``nnx.Linear``, the same dropout, plain cross-entropy and ``optax.sgd``, one
   jitted ``lax.scan`` over the same batches; no metrics.

Both are timed on the same ``--steps`` consecutive steps, alternately, and the
medians give seconds per step, the epoch they make (steps per epoch x seconds
per step), the speedup B / A and the achieved GFLOP/s (XLA's flop count of
one compiled step over its time). Targets on a CPU: the author's CNN at least
8x faster than B (stretch: an epoch in 4 s); on a GPU, A no slower than B
(XLA's convolution, which ``auto`` picks there).

The data is the real MNIST from ``--data`` (default ``../shared/data/mnist``
where present); without it, random 28x28 images stand in (the timing does not
depend on pixel values).
Run: python -m benchmarks.cnn_epoch --json
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from benchmarks import epoch_overhead, timing
from experiments import config as config_lib
from experiments import models
from experiments.training import train as train_lib

CASES = {"paper_cnn": ("configs/paper_mnist_grid.yaml", 54_000),
         "lenet_cnn": ("configs/mnist_cnn.yaml", 60_000)}

class MinimalCNN(nnx.Module):
  """The config's CNN as plain Flax: nnx.Conv, nnx.max_pool, nnx.Linear."""

  def __init__(self, model: config_lib.ModelConfig, rngs: nnx.Rngs):
    features, size, self.convs = 1, 28, nnx.List()
    for channels, kernel in zip(model.channels, model.kernel_sizes, strict=True):
      self.convs.append(nnx.Conv(features, channels, kernel_size=(kernel, kernel),
                                 padding=[(model.padding, model.padding)] * 2, rngs=rngs))
      features, size = channels, (size + 2 * model.padding - kernel + 1) // model.pool
    sizes = [size * size * features, *model.dense_sizes]
    self.dense = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:],
                                                                       strict=True)])
    self.out = nnx.Linear(sizes[-1], 10, rngs=rngs)
    self.pool, self.rate = model.pool, model.dropout

  def __call__(self, x, key):
    for conv in self.convs:
      x = nnx.max_pool(jax.nn.relu(conv(x)), (self.pool,) * 2, strides=(self.pool,) * 2)
    x = models.dropout(x.reshape(x.shape[0], -1), self.rate, key)
    for layer in self.dense:
      x = jax.nn.relu(layer(x))
    return self.out(x)

def toolkit_segment(config, num_train: int, steps: int):
  tx = optax.sgd(0.016, momentum=0.874)
  model = models.create(config.model, (28, 28, 1), 10, 0)
  graphdef, state = train_lib.init_state(model, tx)
  train_step = train_lib.make_train_step(graphdef, tx, config.loss.name)
  segment = train_lib.make_segment(train_step, num_train, config.train.batch_size, steps)
  return jax.jit(segment), state, jax.jit(train_step)

def minimal_segment(config, num_train: int, steps: int):
  tx = optax.sgd(0.016, momentum=0.874)
  graphdef, params = nnx.split(MinimalCNN(config.model, nnx.Rngs(0)), nnx.Param)
  batch = config.train.batch_size

  def step(carry, indices, train_x, train_y, key):
    params, opt_state = carry

    def loss_fn(params):
      logits = nnx.merge(graphdef, params)(train_x[indices], key)
      return optax.softmax_cross_entropy_with_integer_labels(logits, train_y[indices]).mean()

    updates, opt_state = tx.update(jax.grad(loss_fn)(params), opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  def segment(carry, train_x, train_y, key):
    order = jax.random.permutation(key, num_train)[:steps * batch].reshape(steps, batch)

    def body(carry, xs):
      i, indices = xs
      return step(carry, indices, train_x, train_y, jax.random.fold_in(key, i)), None

    return jax.lax.scan(body, carry, (jnp.arange(steps), order))[0]

  return jax.jit(segment), (params, tx.init(params))

def step_flops(compiled_step) -> float:
  cost = compiled_step.cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost["flops"])

def measure(name: str, x, y, steps: int, repeats: int) -> dict:
  path, num_train = CASES[name]
  config = config_lib.load(path, ["dataset.path=/unused"])
  num_train = min(num_train, len(y))
  batch = config.train.batch_size
  x, y = jnp.asarray(x[:num_train]), jnp.asarray(y[:num_train])
  ours, ours_state, one_step = toolkit_segment(config, num_train, steps)
  minimal, minimal_state = minimal_segment(config, num_train, steps)
  key, dropout_key, indices = jax.random.key(0), train_lib.dropout_key(0), jnp.arange(num_train)
  result = timing.paired(
      lambda: ours(ours_state, x, y, key, 0, indices, dropout_key), (),
      lambda: minimal(minimal_state, x, y, key), (), repeats=repeats)
  flops = step_flops(one_step.lower(ours_state, x[:batch], y[:batch], dropout_key).compile())
  steps_per_epoch = num_train // batch
  per_step_a, per_step_b = result["median_a_s"] / steps, result["median_b_s"] / steps
  return {"config": path, "batch_size": batch, "num_train": num_train,
          "steps_per_epoch": steps_per_epoch, "timed_steps": steps, "repeats": repeats,
          "conv": config.model.conv, "formulation": _formulation(),
          "toolkit_s_per_step": per_step_a, "minimal_nnx_conv_s_per_step": per_step_b,
          "toolkit_epoch_s": per_step_a * steps_per_epoch,
          "minimal_nnx_conv_epoch_s": per_step_b * steps_per_epoch,
          "speedup": per_step_b / per_step_a, "step_gflop": flops / 1e9,
          "toolkit_gflop_per_s": flops / per_step_a / 1e9,
          "epoch_tflop": flops * steps_per_epoch / 1e12}

def _formulation() -> str:
  from experiments.models import conv
  return conv.resolve("auto")

def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  parser.add_argument("--data", default=str(epoch_overhead.DEFAULT_MNIST),
                      help="MNIST folder (default: ../shared/data/mnist where present)")
  parser.add_argument("--steps", type=int, default=None,
                      help="steps per timed segment (default 100; --quick 50; --smoke 4)")
  args = parser.parse_args(argv)
  steps = args.steps or (4 if args.smoke else 50 if args.quick else 100)
  num = 600 if args.smoke else 60_000
  x, y, source = epoch_overhead.mnist_or_stand_in(None if args.smoke else args.data, num)
  repeats = timing.repeats(args, full=5, quick=3, smoke=1)
  cases = ["paper_cnn"] if args.smoke else list(CASES)  # --smoke: compilation dominates
  result = {name: measure(name, x, y, steps, repeats) for name in cases}
  paper = result["paper_cnn"]
  on_cpu = jax.default_backend() == "cpu"
  result.update(
      data=source,
      target=("paper_cnn speedup >= 8 (stretch: toolkit epoch <= 4 s)" if on_cpu
              else "paper_cnn speedup >= 1 (no slower than XLA's convolution)"),
      target_met=paper["speedup"] >= (8.0 if on_cpu else 1.0),
      stretch_met=paper["toolkit_epoch_s"] <= 4.0 if on_cpu else None)
  timing.report("cnn_epoch", result, args.json)
  return result

if __name__ == "__main__":
  main()
