"""CNN epochs: the toolkit's against a minimal nnx.Conv scan, and against the matmul rate.

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
M: a jitted float32 matmul (2048 x 2048 by 2048 x 2048), the machine's matmul rate.

A, B and M are timed alternately in one process (``--steps`` consecutive steps
per segment), and the medians give seconds per step, the epoch they make
(steps per epoch x seconds per step) and the speedup B / A. The step's FLOPs are
XLA's count of the same training step compiled with XLA's convolution
(``step_gflop``: a convolution counts 2 x its multiply-adds, however it is
computed; ``step_gflop_as_compiled`` is the count of the im2col program, which
also counts its extra adds); ``toolkit_gflop_per_s`` is that over A's time and
``fraction_of_matmul`` that over M's rate. Targets on a CPU:
``fraction_of_matmul`` >= 0.35 for the author's CNN (stretch: 0.5) and >= 0.25
for the LeNet-style CNN, and the author's CNN >= 8x faster than B; on a GPU, A
no slower than B (XLA's convolution, which ``auto`` picks there).

The data is the real MNIST from ``--data DIR`` or, without it, from the
``mnist/`` folder of ``$DUALPROCESS_DATA`` (the four IDX files); else random
28x28 images stand in (the timing does not depend on pixel values).
Run: python -m benchmarks.cnn_epoch --json [--data DIR]
"""

from __future__ import annotations

import os
import pathlib
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from benchmarks import timing
from experiments import config as config_lib
from experiments import models
from experiments.data import idx
from experiments.models import conv
from experiments.training import train as train_lib

CASES = {"paper_cnn": ("configs/paper_mnist_grid.yaml", 54_000),
         "lenet_cnn": ("configs/mnist_cnn.yaml", 60_000)}
FRACTION_TARGETS = {"paper_cnn": 0.35, "lenet_cnn": 0.25}
PAPER_STRETCH = 0.5
MATMUL_SIZE = 2048


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
    for layer in self.convs:
      x = nnx.max_pool(jax.nn.relu(layer(x)), (self.pool,) * 2, strides=(self.pool,) * 2)
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


def xla_conv_step_flops(path: str, x, y) -> float:
  """XLA's FLOP count of the toolkit's step with XLA's convolution (``model.conv: xla``)."""
  config = config_lib.load(path, ["dataset.path=/unused", "model.conv=xla"])
  _, state, one_step = toolkit_segment(config, len(y), 1)
  return step_flops(one_step.lower(state, x, y, train_lib.dropout_key(0)).compile())


def matmul_timer():
  """(call, flops): one jitted float32 matmul of MATMUL_SIZE-square matrices."""
  a = jax.random.normal(jax.random.key(0), (MATMUL_SIZE, MATMUL_SIZE), jnp.float32)
  matmul = jax.jit(jnp.matmul)
  return (lambda: matmul(a, a)), 2.0 * MATMUL_SIZE**3


def alternate(calls: dict, repeats: int) -> dict:
  """Each call's seconds, ``repeats`` times in rotating order after one warm-up each."""
  names, seconds = list(calls), {name: [] for name in calls}
  for name in names:
    timing.time_call(calls[name])
  for r in range(repeats):
    for name in names[r % len(names):] + names[:r % len(names)]:
      seconds[name].append(timing.time_call(calls[name]))
  return seconds


def measure(name: str, x, y, steps: int, repeats: int) -> dict:
  path, num_train = CASES[name]
  config = config_lib.load(path, ["dataset.path=/unused"])
  num_train = min(num_train, len(y))
  batch = config.train.batch_size
  x, y = jnp.asarray(x[:num_train]), jnp.asarray(y[:num_train])
  ours, ours_state, one_step = toolkit_segment(config, num_train, steps)
  minimal, minimal_state = minimal_segment(config, num_train, steps)
  key, dropout_key, indices = jax.random.key(0), train_lib.dropout_key(0), jnp.arange(num_train)
  matmul, matmul_flops = matmul_timer()
  seconds = alternate({"a": lambda: ours(ours_state, x, y, key, 0, indices, dropout_key),
                       "b": lambda: minimal(minimal_state, x, y, key), "m": matmul}, repeats)
  flops = xla_conv_step_flops(path, x[:batch], y[:batch])
  compiled_flops = step_flops(one_step.lower(ours_state, x[:batch], y[:batch],
                                             dropout_key).compile())
  steps_per_epoch = num_train // batch
  per_step_a = statistics.median(seconds["a"]) / steps
  per_step_b = statistics.median(seconds["b"]) / steps
  toolkit_rate = flops / per_step_a / 1e9
  matmul_rate = matmul_flops / statistics.median(seconds["m"]) / 1e9
  return {"config": path, "batch_size": batch, "num_train": num_train,
          "steps_per_epoch": steps_per_epoch, "timed_steps": steps, "repeats": repeats,
          "conv": config.model.conv, "formulation": conv.resolve("auto"),
          "toolkit_s_per_step": per_step_a, "minimal_nnx_conv_s_per_step": per_step_b,
          "toolkit_epoch_s": per_step_a * steps_per_epoch,
          "minimal_nnx_conv_epoch_s": per_step_b * steps_per_epoch,
          "speedup": statistics.median(b / a for a, b in zip(seconds["a"], seconds["b"],
                                                             strict=True)),
          "step_gflop": flops / 1e9, "step_gflop_as_compiled": compiled_flops / 1e9,
          "toolkit_gflop_per_s": toolkit_rate, "matmul_gflop_per_s": matmul_rate,
          "matmul": f"jitted float32 {MATMUL_SIZE}x{MATMUL_SIZE} @ {MATMUL_SIZE}x{MATMUL_SIZE}",
          "fraction_of_matmul": toolkit_rate / matmul_rate,
          "fraction_target": FRACTION_TARGETS[name],
          "epoch_tflop": flops * steps_per_epoch / 1e12}


def mnist_or_stand_in(data, num_train: int):
  """(x, y, source): MNIST's training images from ``data`` or ``$DUALPROCESS_DATA/mnist``.

  ``--data`` must hold the four IDX files (a missing one is an error); the
  environment's folder is used where it exists. Else random images stand in.
  """
  environment = os.environ.get("DUALPROCESS_DATA")
  folder = pathlib.Path(data) if data else (
      pathlib.Path(environment) / "mnist" if environment else None)
  if folder is None or (not data and not folder.is_dir()):
    rng = np.random.default_rng(0)
    x = rng.random((num_train, 28, 28, 1), dtype=np.float32)
    return x, rng.integers(0, 10, num_train).astype(np.int32), "random stand-in"
  arrays = idx.read_folder(folder)
  x = arrays["train_x"][:num_train, :, :, None].astype(np.float32) / 255.0
  return x, arrays["train_y"][:num_train].astype(np.int32), f"mnist ({folder})"


def main(argv=None) -> dict:
  parser = timing.parser(__doc__)
  parser.add_argument("--data", default=None,
                      help="MNIST folder (default: $DUALPROCESS_DATA/mnist where present)")
  parser.add_argument("--steps", type=int, default=None,
                      help="steps per timed segment (default 100; --quick 50; --smoke 4)")
  args = parser.parse_args(argv)
  steps = args.steps or (4 if args.smoke else 50 if args.quick else 100)
  num = 600 if args.smoke else 60_000
  try:
    x, y, source = mnist_or_stand_in(None if args.smoke else args.data, num)
  except config_lib.ConfigError as error:
    parser.error(f"--data: {error}")
  repeats = timing.repeats(args, full=5, quick=3, smoke=1)
  cases = ["paper_cnn"] if args.smoke else list(CASES)  # --smoke: compilation dominates
  load_before = os.getloadavg()
  result = {name: measure(name, x, y, steps, repeats) for name in cases}
  paper = result["paper_cnn"]
  on_cpu = jax.default_backend() == "cpu"
  result.update(
      data=source, load_average_before=list(load_before),
      load_average_after=list(os.getloadavg()),
      target=("fraction_of_matmul >= 0.35 (paper_cnn; stretch 0.5) and >= 0.25 "
              "(lenet_cnn); paper_cnn speedup >= 8" if on_cpu
              else "paper_cnn speedup >= 1 (no slower than XLA's convolution)"),
      target_met=paper["speedup"] >= (8.0 if on_cpu else 1.0),
      fraction_target_met=all(result[name]["fraction_of_matmul"] >= FRACTION_TARGETS[name]
                              for name in cases) if on_cpu else None,
      stretch_met=paper["fraction_of_matmul"] >= PAPER_STRETCH if on_cpu else None)
  timing.report("cnn_epoch", result, args.json)
  return result


if __name__ == "__main__":
  main()
