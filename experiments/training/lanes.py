"""Many small trainings as lanes of one compiled program: the sweep's cells, the search's
trials.

Each :class:`Cell` (learning rate, momentum, seed, fold, optionally weight decay) is a
lane: the per-cell train states are stacked and the very epoch function of
``train.py`` is ``jax.vmap``-ped over them (or ``lax.map``-ped, on the CPU), with the
hyperparameters carried in the optimizer state by ``optax.inject_hyperparams``
(:func:`injected_optimizer`). Lanes are independent, so a diverging cell turns its own
lane non-finite and no other. :func:`train_cells` trains them in chunks, halving a
chunk that runs out of device memory and keeping each finished chunk in a store, so
that a rerun goes on from there.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Optional

import numpy as np

from ..config import ExperimentConfig
from ..data import Dataset, splits
from ..errors import ConfigError
from . import stopping

# JAX and Optax are imported where they are used: the sweep command's --help and a
# config mistake answer without them.
if TYPE_CHECKING:
  import jax
  import optax


class Cell(NamedTuple):
  learning_rate: float
  momentum: float
  seed: int
  fold: int = 0
  weight_decay: Optional[float] = None  # None: the config's own (no per-cell decay)



EVALUATION_LANES = 8  # lanes evaluated side by side at the end of a vmapped chunk


def injected_optimizer(config: ExperimentConfig, total_steps: int,
                       weight_decay_per_lane: bool = False,
                       momentum_per_lane: bool = True) -> optax.GradientTransformation:
  """The config's optimizer with its peak learning rate and momentum as state, so each cell
  carries its own, inside the config's pipeline (schedule shape, weight decay, clipping),
  which every cell shares, as is ``nesterov``. ``dual_process`` and ``sgd`` are
  ``dual_process`` (the same heavy-ball update); other optimizers take the cell's learning
  rate and ignore its momentum where they have none. An optax name or a function takes
  the cell's learning rate as ``learning_rate`` and its momentum as the argument
  ``sweep.momentum_argument`` names (e.g. ``b1``); where there is none, a sweep that varies
  momentum is refused in one line (``optax_names.swept_momentum_argument``). Without
  ``momentum_per_lane`` the cells' momenta are ignored and the optimizer keeps its own
  (a search space without a momentum range). With ``weight_decay_per_lane`` the weight
  decay is a third per-cell hyperparameter, applied as the retrained entry applies it
  (``optimizers.chain_for``). Without those keys it is the bare optimizer itself."""
  import optax

  from . import optax_names, optimizers
  shape = optimizers.schedule_shape(config.optimizer.schedule, total_steps)
  chosen = config.optimizer
  argument = optax_names.swept_momentum_argument(chosen, config.sweep)
  if chosen.name == "sgd":
    chosen = dataclasses.replace(chosen, name="dual_process")

  def pipeline(learning_rate, momentum, weight_decay=None):
    return optimizers.chain_for(chosen, optimizers.scaled(learning_rate, shape),
                                momentum if momentum_per_lane else None, argument,
                                weight_decay)

  if weight_decay_per_lane:
    return optax.inject_hyperparams(pipeline)(learning_rate=1.0, momentum=0.0,
                                              weight_decay=0.0)
  return optax.inject_hyperparams(pipeline)(learning_rate=1.0, momentum=0.0)


class Programs(NamedTuple):
  """What every lane engine builds first (the sweep's and search's cells, the suite's seeds)."""

  graph: Any  # the model's graph, shared by every lane
  initial: dict  # seed -> its TrainState at step 0 (parameters, optimizer and model state)
  epoch: Callable  # train.py's epoch over the model's graph
  evaluate: Callable  # train.py's evaluation
  vectorized: bool  # lanes side by side (vmap) or one after another (lax.map)


def programs(config: ExperimentConfig, dataset: Dataset, tx, seeds, num_train: int
             ) -> Programs:
  """Each seed's model and train state, built once, and the epoch and evaluation
  functions over the model's graph: the per-seed setup both lane engines share."""
  from .. import models
  from . import train as train_lib
  initial, graph = {}, None
  for seed in seeds:
    model = models.create(config.model, dataset.input_shape, dataset.num_classes, seed,
                          config.train.compute_dtype, sequence=dataset.sequence)
    graph, initial[seed] = train_lib.init_state(model, tx)
  epoch = train_lib.make_epoch(train_lib.make_train_step(graph, tx, config.loss.name),
                               num_train, config.train.batch_size)
  evaluate = train_lib.make_evaluate(graph, config.loss.name)
  vectorized = resolve_lanes(config.sweep.lanes if config.sweep else "auto") == "vmap"
  return Programs(graph, initial, epoch, evaluate, vectorized)


def train_cells(config: ExperimentConfig, dataset: Dataset, cells: list[Cell],
                chunk_size=None, store=None, stop=stopping.NEVER, say=None,
                momentum_per_lane: bool = True, validation=None,
                curves: bool = False) -> list[dict]:
  """Trains ``cells`` in vmapped chunks; returns one result per cell, in order. Without
  ``momentum_per_lane`` the cells' momenta are ignored (see :func:`injected_optimizer`).
  Each cell is evaluated on the test set and, with ``dataset.folds``, on its fold, or,
  with ``validation`` (``(x, y)`` held out of the training set), on those: its
  ``validation_accuracy``. With ``curves`` each result also has ``curve``, the cell
  evaluated every ``train.eval_every`` epochs too (``lane_curves.records``), inside the
  same program; without, the program is the one it always was.

  With ``train.devices`` above one, each chunk's cells are split over the
  devices (the data is replicated): cells never talk to each other, so the
  devices never do either.
  """
  import jax

  from . import train as train_lib
  from .devices import place, select_devices
  devices = select_devices(config, split_batch=False)
  mesh = jax.sharding.Mesh(np.array(devices), ("cells",))
  by_cell = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("cells"))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  split_of = {f: splits.for_run(dataset.train_y, config.dataset, f)
              for f in sorted({c.fold for c in cells})}
  num_train = len(next(iter(split_of.values())).train)  # every fold has N // k
  decays = any(c.weight_decay is not None for c in cells)
  if decays and any(c.weight_decay is None for c in cells):
    raise ValueError("train_cells: give every cell a weight_decay, or none")
  steps = train_lib.steps_per_epoch(num_train, config.train.batch_size)
  tx = injected_optimizer(config, config.train.epochs * steps, weight_decay_per_lane=decays,
                          momentum_per_lane=momentum_per_lane)
  built = programs(config, dataset, tx, sorted({c.seed for c in cells}), num_train)
  validated = config.dataset.folds is not None
  held_out = validation if validation is not None else (dataset.test_x[:1], dataset.test_y[:1])
  run_chunk = _chunk_program(config, built, tx, decays, validated, validation is not None,
                             curves)
  arrays = place([dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y,
                  *held_out], replicated)

  def train_chunk(chunk: list[Cell], size: int) -> list[dict]:
    padded = chunk + [chunk[-1]] * (size - len(chunk))  # one shape, one compilation
    lanes = place(_lane_inputs(padded, built.initial, split_of, validated), by_cell)
    *lanes, dropout_keys = lanes
    on_devices = run_chunk(*lanes, jax.random.wrap_key_data(dropout_keys), *arrays)
    return _chunk_results(chunk, size, on_devices,
                          (steps, config.train.eval_every) if curves else None)

  return in_chunks(cells, chunk_size or len(cells), len(devices), train_chunk, store, stop, say)


def _chunk_program(config: ExperimentConfig, built: Programs, tx, decays: bool,
                   validated: bool, held_out: bool = False, curves: bool = False) -> Callable:
  """The compiled program of a chunk: every lane initialized with its hyperparameters,
  trained for the run's epochs, then evaluated on the test set and on its fold
  (``validated``) or on the held-out arrays (``held_out``); with ``curves``, also after
  every ``train.eval_every`` epochs (``lane_curves.scan``)."""
  import jax
  import jax.numpy as jnp

  from . import lane_curves
  from . import train as train_lib

  def init_cell(params, model_state, learning_rate, momentum, weight_decay):
    opt_state = tx.init(params)
    hyperparams = dict(opt_state.hyperparams, learning_rate=learning_rate, momentum=momentum)
    if decays:
      hyperparams["weight_decay"] = weight_decay
    return train_lib.TrainState(params, opt_state._replace(hyperparams=hyperparams),
                                jnp.zeros((), jnp.int32), model_state)

  evaluate_lanes = _lane_evaluation(built, validated, held_out)

  @jax.jit
  def run_chunk(initial, learning_rates, momenta, weight_decays, seeds, train_indices,
                validation_indices, dropout_keys, train_x, train_y, test_x, test_y,
                val_x, val_y):
    states = jax.vmap(init_cell)(*initial, learning_rates, momenta, weight_decays)

    def one_epoch(states, epoch_index):
      keys = jax.vmap(lambda s: train_lib.epoch_key(s, epoch_index))(seeds)
      states, metrics = lanewise(built.epoch, (0, None, None, 0, 0, 0), built.vectorized)(
          states, train_x, train_y, keys, train_indices, dropout_keys)
      outputs = (metrics["loss"][:, -1], jnp.all(jnp.isfinite(metrics["loss"]), axis=1))
      return states, outputs + ((jnp.mean(metrics["loss"], axis=1),) if curves else ())

    evaluate = lambda states: evaluate_lanes(states, validation_indices, train_x, train_y,
                                             test_x, test_y, val_x, val_y)
    if curves:
      states, per_epoch, evaluations = lane_curves.scan(
          one_epoch, evaluate, states, config.train.epochs, config.train.eval_every)
    else:
      states, per_epoch = jax.lax.scan(one_epoch, states, jnp.arange(config.train.epochs))
    final_losses, finite = per_epoch[:2]
    tests = evaluate(states)
    params_finite = jax.vmap(train_lib.all_finite)(states.params)
    outputs = (tests, final_losses[-1], jnp.all(finite, axis=0) & params_finite)
    return outputs + ((per_epoch, evaluations),) if curves else outputs

  return run_chunk


def _lane_evaluation(built: Programs, validated: bool, held_out: bool) -> Callable:
  """Traced: ``evaluate(states, validation_indices, train_x, train_y, test_x, test_y,
  val_x, val_y) -> {key: [lanes]}``, every lane's test metrics and, with ``validated``
  or ``held_out``, its ``validation_accuracy``."""
  import jax

  def evaluate(states, validation_indices, train_x, train_y, test_x, test_y, val_x, val_y):
    def evaluate_lane(lane):  # lanes a few at a time: a CNN's evaluation is large
      lane_params, lane_state, validation = lane
      metrics = built.evaluate(lane_params, test_x, test_y, model_state=lane_state)
      if validated:
        metrics["validation_accuracy"] = built.evaluate(
            lane_params, train_x, train_y, validation, lane_state)["test_accuracy"]
      elif held_out:
        metrics["validation_accuracy"] = built.evaluate(
            lane_params, val_x, val_y, model_state=lane_state)["test_accuracy"]
      return metrics

    lanes = validation_indices.shape[0]
    return jax.lax.map(evaluate_lane, (states.params, states.model_state, validation_indices),
                       batch_size=min(EVALUATION_LANES, lanes) if built.vectorized else None)

  return evaluate


def _lane_inputs(padded: list[Cell], initial: dict, split_of: dict, validated: bool) -> tuple:
  """A chunk's per-lane inputs, stacked on the host: each seed's initial parameters and
  model state, the hyperparameters, the seeds, the folds' indices and the dropout keys."""
  import jax
  import jax.numpy as jnp

  from . import train as train_lib
  stacked = jax.tree.map(lambda *leaves: np.stack(leaves),
                         *[(initial[c.seed].params, initial[c.seed].model_state)
                           for c in padded])
  no_validation = np.zeros(1, np.int32)
  return (stacked, np.asarray([c.learning_rate for c in padded], np.float32),
          np.asarray([c.momentum for c in padded], np.float32),
          np.asarray([c.weight_decay or 0.0 for c in padded], np.float32),
          np.asarray([c.seed for c in padded]),
          np.stack([split_of[c.fold].train for c in padded]),
          np.stack([split_of[c.fold].validation if validated else no_validation
                    for c in padded]),
          jax.random.key_data(jnp.stack([train_lib.dropout_key(
              c.seed, c.fold, c.learning_rate, c.momentum) for c in padded])))


def _chunk_results(chunk: list[Cell], size: int, on_devices, curves=None) -> list[dict]:
  """One result per trained cell of a chunk (its padding lanes dropped); with ``curves``
  (steps per epoch, epochs between evaluations), each with its ``curve``."""
  from . import lane_curves
  from .devices import gather
  device_of_lane = lane_devices(on_devices[2])
  tests, final_loss, finite, *per_epoch = gather(on_devices)
  results, finals = [], []
  for i, cell in enumerate(chunk):
    diverged = not bool(finite[i])
    lane = {k: None if diverged else float(v[i]) for k, v in tests.items()}
    finals.append(lane)
    results.append({"cell": cell, "diverged": diverged, "device": device_of_lane[i],
                    "test_accuracy": lane["test_accuracy"], "test_loss": lane["test_loss"],
                    "validation_accuracy": lane.get("validation_accuracy"),
                    "final_loss": None if diverged else float(final_loss[i]),
                    "chunk_size": size})
  if curves is not None:
    (losses, evaluations), = per_epoch
    for result, curve in zip(results, lane_curves.records(losses, evaluations, finals,
                                                          *curves), strict=True):
      result["curve"] = curve
  return results


def resolve_lanes(lanes: str) -> str:
  """``vmap`` or ``map``: ``auto`` vmaps on accelerators and maps on the CPU.

  On the CPU, lanes side by side turn a convolution's matmuls into batched
  ones that run slower than the same matmuls one lane at a time (the author's
  CNN: 11.7 against 8.5 ms per lane-step at 4 lanes), and vmapping saves no
  dispatch that one compiled program does not save already.
  """
  if lanes == "auto":
    import jax
    return "map" if jax.default_backend() == "cpu" else "vmap"
  return lanes


def lanewise(fn: Callable, in_axes: tuple, vectorized: bool) -> Callable:
  """``fn`` over the leading axis of the arguments whose ``in_axes`` is 0.

  ``jax.vmap`` when ``vectorized``, else ``jax.lax.map`` over the lanes (one
  after another, inside the same compiled program); the results are the same.
  """
  import jax
  if vectorized:
    return jax.vmap(fn, in_axes=in_axes)

  def mapped(*args):
    lanes = [a for a, axis in zip(args, in_axes, strict=True) if axis == 0]

    def one(lane):
      it = iter(lane)
      return fn(*[next(it) if axis == 0 else a for a, axis in zip(args, in_axes, strict=True)])

    return jax.lax.map(one, lanes)

  return mapped


def in_chunks(cells: list[Cell], size: int, lanes_per_step: int,
              train_chunk: Callable[[list[Cell], int], list[dict]],
              store=None, stop=stopping.NEVER, say=None) -> list[dict]:
  """Trains ``cells`` ``size`` at a time, halving ``size`` when a chunk runs out of memory.

  ``size`` is kept a multiple of ``lanes_per_step`` (the devices) so every
  device gets whole lanes. A chunk that fails for lack of device memory leaves
  nothing behind and is retried, smaller, from the same cell. With ``store``
  (an ``outputs.ResultStore``) each finished chunk is kept as it ends and a
  rerun takes it from there; ``stop`` is asked after each chunk; ``say``, if
  given, gets a progress line after each trained chunk.
  """
  import jax
  tic = time.perf_counter()
  def whole_lanes(n: int) -> int:
    return max(lanes_per_step, -(-n // lanes_per_step) * lanes_per_step)

  size = whole_lanes(size)
  results = []
  while len(results) < len(cells):
    start = len(results)
    kept = store.get(f"chunk-{start:06d}") if store is not None else None
    if kept is not None:
      results.extend(dict(r, cell=Cell(*r["cell"])) for r in kept)
      continue
    chunk = cells[start:start + size]
    try:
      trained = train_chunk(chunk, size)
      if store is not None:
        store.put(f"chunk-{start:06d}", trained)
      results.extend(trained)
      if say is not None:
        say(f"{len(results)} of {len(cells)} cells trained "
            f"({time.perf_counter() - tic:.0f} s in this invocation)")
      if len(results) < len(cells) and stop.requested():
        raise stop.stop(f"after {len(results)} of {len(cells)} cells: finished chunks kept in "
                        f"{store.folder if store else 'memory'}; run the same command again "
                        "to resume")
    except jax.errors.JaxRuntimeError as error:
      if "RESOURCE_EXHAUSTED" not in str(error):
        raise
      if size == lanes_per_step:
        raise ConfigError(
            f"config key 'sweep.chunk_size': out of device memory even with {size} cell(s) "
            f"per chunk ({jax.devices()[0].device_kind}); use a smaller model, "
            "train.batch_size or dataset") from None
      size = whole_lanes(size // 2)
  return results


def lane_devices(per_lane: jax.Array) -> list[int]:
  """The id of the device that computed each lane of a per-lane output."""
  owner = [None] * per_lane.shape[0]
  for device, (lanes,) in per_lane.sharding.devices_indices_map(per_lane.shape).items():
    for lane in range(*lanes.indices(per_lane.shape[0])):
      owner[lane] = device.id
  return owner
