"""The sections of an experiment config: dataset, model, loss, optimizer, train.

Each is a frozen dataclass whose ``validate`` checks its own values and nothing else:
the schema imports no user code and no optax. The code a section names (a model
factory, an optax optimizer, a function) is imported and checked after parsing, by the
check stage (``experiments/loading.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, Optional, Union

from dualprocess.constants import NAMES as HYPERPARAMETER_SETS

from ..errors import ConfigError
from ..typed_yaml import WRITTEN_WHEN_SET, FrozenMapping, check_positive, check_range
from . import text

# The built-in names; optimizer.name also takes 'optax.NAME', 'optax.contrib.NAME' or
# 'package.module:function' (experiments/training/optax_names.py).
OPTIMIZERS = ("dual_process", "sgd", "adam", "prodigy", "dog", "dadapt_adamw",
              "schedule_free_sgd", "cocob", "mechanize")
# Built-in names that take a momentum (schedule_free_sgd as its b1).
MOMENTUM_OPTIMIZERS = ("dual_process", "sgd", "schedule_free_sgd")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
  # A built-in set (digits, mnist1d, mnist5k: shipped or generated; mnist, fashion_mnist,
  # cifar10: the published files, found in the data folder or downloaded there once);
  # 'arrays': the user's own arrays from dataset.path; or 'package.module:function',
  # imported (its code runs) and called with no arguments for the same arrays as a dict
  # (experiments/data/arrays.py). 'text': next-token prediction on a text, windows of
  # dataset.context tokens (experiments/data/text.py).
  name: str = "digits"
  # mnist, fashion_mnist: a folder with the four IDX files, or an .npz; cifar10: its
  # cifar-10-python.tar.gz or a folder holding it; read as they are (no checksums). Null:
  # the data folder $DUALPROCESS_DATA/NAME (default $XDG_CACHE_HOME/dualprocess/data/NAME,
  # ~/.cache/... without it), its published files downloaded there once and checked
  # (fashion_mnist: Debian's dataset-fashion-mnist first, where installed).
  # arrays (required): an .npz with x_train, y_train, x_test, y_test (optional x_val,
  # y_val), or a folder of those .npy files. text (required): a text file, a folder of
  # them (every non-hidden file, in path order), or 'python_stdlib' (the built-in corpus).
  # A relative path is read from the folder the command runs in (not the config's).
  path: Optional[str] = None
  # digits, mnist1d, mnist5k; the 70,000-image sets and arrays keep their own test split
  test_fraction: float = 0.2
  num_samples: int = 5000  # mnist1d only: generated examples (train + test)
  limit_train: Optional[int] = None  # keep only the first N training examples
  label_noise: float = 0.0  # fraction of training labels replaced by another class
  split_seed: int = 0
  # Pixels in [0, 1] ('unit') or [-1, 1] ('symmetric', i.e. 2x - 1: the author's grid).
  # arrays: uint8 features are scaled the same way (x / 255, then 2x - 1 if symmetric);
  # float features are never scaled but kept as they are ('symmetric' on them is an error).
  scale: Literal["unit", "symmetric"] = "unit"
  train_fraction: float = 1.0  # a stratified share of the training set, by split_seed
  # k-fold cross-validation of the training set: fold i validates on the i-th of
  # k stratified parts and trains on the rest (experiments/data/splits.py).
  folds: Optional[int] = None
  fold: int = 0
  # arrays and callables: the number of classes C (labels 0..C-1, every class in
  # training); null: the largest label over all splits, plus one.
  num_classes: Optional[int] = None
  # text: every byte a token (vocabulary 256, any file), or every UTF-8 character of
  # the training split (id 0: a character it never holds).
  mode: Literal["bytes", "chars"] = dataclasses.field(default="bytes", metadata=WRITTEN_WHEN_SET)
  # text: tokens per window (the model's context); the labels are the next tokens.
  context: int = dataclasses.field(default=128, metadata=WRITTEN_WHEN_SET)
  # text: tokens between window starts (null: context, windows that do not overlap).
  stride: Optional[int] = dataclasses.field(default=None, metadata=WRITTEN_WHEN_SET)
  # text: the train, validation and test shares of the tokens, contiguous blocks in order.
  fractions: tuple[float, ...] = dataclasses.field(default=(0.8, 0.1, 0.1),
                                                   metadata=WRITTEN_WHEN_SET)
  # text: the SHA-256 the bytes read must have (pins the text; null: not checked).
  sha256: Optional[str] = dataclasses.field(default=None, metadata=WRITTEN_WHEN_SET)

  NAMES = ("digits", "mnist1d", "mnist", "fashion_mnist", "mnist5k", "cifar10", "arrays",
           "text")
  WITH_PATH = ("mnist", "fashion_mnist", "cifar10", "arrays", "text")

  def is_own_arrays(self) -> bool:
    """Whether the data are the user's: ``arrays`` or a ``module:function`` callable."""
    return self.name == "arrays" or ":" in self.name

  def validate(self, key):
    module, colon, function = self.name.partition(":")
    if colon and not all(part.isidentifier() for part in
                         (*module.split("."), *function.split("."))):
      raise ConfigError(f"config key '{key}.name': {self.name!r} is not "
                        "'package.module:function' (dotted Python names on both sides)")
    if not colon and self.name not in self.NAMES:
      raise ConfigError(f"config key '{key}.name': unknown value {self.name!r}; allowed: "
                        + ", ".join(self.NAMES) + ", or 'package.module:function'")
    if self.name == "arrays" and self.path is None:
      raise ConfigError(f"config key '{key}.path': required for dataset 'arrays' (an .npz "
                        "with x_train, y_train, x_test, y_test, or a folder of those .npy)")
    if self.name not in self.WITH_PATH and self.path is not None:
      raise ConfigError(f"config key '{key}.path': only allowed for datasets 'mnist', "
                        f"'fashion_mnist', 'cifar10', 'arrays' and 'text', not '{self.name}'")
    text.check_dataset(self, key)
    if self.num_classes is not None:
      check_positive(f"{key}.num_classes", self.num_classes, minimum=2)
      if not self.is_own_arrays():
        raise ConfigError(f"config key '{key}.num_classes': only for dataset 'arrays' or a "
                          f"'module:function' callable, not '{self.name}' ("
                          + ("its vocabulary" if self.name == "text" else "it has 10") + ")")
    check_range(f"{key}.test_fraction", self.test_fraction, 0.0, 1.0, open_low=True,
                open_high=True)
    check_positive(f"{key}.num_samples", self.num_samples, minimum=20)
    if self.limit_train is not None:
      check_positive(f"{key}.limit_train", self.limit_train)
    check_range(f"{key}.label_noise", self.label_noise, 0.0, 1.0, open_high=True)
    check_positive(f"{key}.split_seed", self.split_seed, minimum=0)
    check_range(f"{key}.train_fraction", self.train_fraction, 0.0, 1.0, open_low=True)
    if self.scale == "symmetric" and self.name == "mnist1d":
      raise ConfigError(f"config key '{key}.scale': 'symmetric' maps pixels from [0, 1] to "
                        "[-1, 1]; mnist1d's signals are not pixels (use 'unit')")
    if self.folds is None:
      if self.fold:
        raise ConfigError(f"config key '{key}.fold': needs {key}.folds (the number of folds)")
    else:
      check_positive(f"{key}.folds", self.folds, minimum=2)
      if not 0 <= self.fold < self.folds:
        raise ConfigError(f"config key '{key}.fold': must lie in 0..{self.folds - 1} "
                          f"(dataset.folds = {self.folds}), got {self.fold}")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  # A built-in model, or the user's own: 'package.module:factory', imported (its code
  # runs, as Hydra's _target_ does) and called as factory(input_shape=...,
  # num_classes=..., rngs=nnx.Rngs(...), **kwargs) for an nnx.Module whose model(x) gives
  # logits [batch, num_classes]; nnx.Dropout and nnx.BatchNorm are switched by
  # model.train() / model.eval() (experiments/models/own.py); for dataset text, logits
  # [batch, context, vocab]. The keys below marked mlp, cnn or transformer are for the
  # built-in models only. transformer: a causal language model for dataset text
  # (experiments/models/transformer.py).
  name: Union[Literal["logistic", "mlp", "cnn", "transformer"], str] = "mlp"
  # 'package.module:factory' only: its other keyword arguments, e.g. {width: 32}.
  kwargs: dict[str, Any] = dataclasses.field(default_factory=FrozenMapping,
                                             metadata=WRITTEN_WHEN_SET)
  hidden_sizes: tuple[int, ...] = (128,)  # mlp
  activation: Literal["relu", "tanh", "gelu", "sigmoid"] = "relu"
  channels: tuple[int, ...] = (16, 32)  # cnn
  kernel_sizes: tuple[int, ...] = (3, 3)  # cnn, one per conv layer
  strides: tuple[int, ...] = (1, 1)  # cnn, one per conv layer
  padding: int = 1  # cnn, on each side
  pool: int = 1  # cnn: max-pool window and stride after each conv; 1 = no pooling
  dense_sizes: tuple[int, ...] = ()  # cnn: hidden dense layers before the classifier
  # cnn: dropout rate on the flattened features, before the dense layers; transformer:
  # after the embedding, every attention and every MLP.
  dropout: float = 0.0
  # transformer: the model width (the embeddings' and every block's)
  width: int = dataclasses.field(default=64, metadata=WRITTEN_WHEN_SET)
  depth: int = dataclasses.field(default=2, metadata=WRITTEN_WHEN_SET)  # transformer: blocks
  # transformer: attention heads; width is a multiple of them
  heads: int = dataclasses.field(default=4, metadata=WRITTEN_WHEN_SET)
  # transformer: the MLP's hidden width over the model width
  mlp_ratio: int = dataclasses.field(default=4, metadata=WRITTEN_WHEN_SET)
  # Weight initialization: Flax's defaults (LeCun normal, zero biases); He et al.'s
  # Kaiming uniform for ReLU (a = 0); or PyTorch's layer default (Kaiming uniform
  # with a = sqrt(5)). Biases of the last two: PyTorch's U(+-1/sqrt(fan_in)).
  init: Literal["default", "kaiming_uniform", "torch_default"] = "default"
  # cnn: how convolutions and pooling are computed; auto = im2col matmuls on the
  # CPU, XLA's convolution on accelerators (experiments/models/conv.py).
  conv: Literal["auto", "xla", "im2col"] = "auto"

  BUILT_IN = ("logistic", "mlp", "cnn", "transformer")

  def validate(self, key):
    module, colon, factory = self.name.partition(":")
    if colon:
      if not all(part.isidentifier() for part in (*module.split("."), *factory.split("."))):
        raise ConfigError(f"config key '{key}.name': {self.name!r} is not "
                          "'package.module:factory' (dotted Python names on both sides)")
      # The factory is imported and its signature checked after parsing, by the check
      # stage (experiments/loading.py); what it returns, when the model is made.
    elif self.name not in self.BUILT_IN:
      raise ConfigError(f"config key '{key}.name': unknown value {self.name!r}; allowed: "
                        + ", ".join(self.BUILT_IN) + ", or 'package.module:factory'")
    elif self.kwargs:
      raise ConfigError(f"config key '{key}.kwargs': only for a 'package.module:factory' "
                        f"model, not '{self.name}'")
    check_positive(f"{key}.pool", self.pool)
    check_range(f"{key}.dropout", self.dropout, 0.0, 1.0, open_high=True)
    if self.dropout and self.name not in ("cnn", "transformer"):
      raise ConfigError(f"config key '{key}.dropout': only for models 'cnn' and "
                        f"'transformer', not '{self.name}'")
    text.check_model(self, key)
    for field in ("hidden_sizes", "channels", "kernel_sizes", "strides", "dense_sizes"):
      for i, size in enumerate(getattr(self, field)):
        check_positive(f"{key}.{field}[{i}]", size)
    if self.name == "cnn":
      if not len(self.channels) == len(self.kernel_sizes) == len(self.strides) >= 1:
        raise ConfigError(
            f"config key '{key}.channels': cnn needs one entry per conv layer in channels, "
            f"kernel_sizes and strides, got {len(self.channels)}, {len(self.kernel_sizes)}, "
            f"{len(self.strides)}")
    check_positive(f"{key}.padding", self.padding, minimum=0)


@dataclasses.dataclass(frozen=True)
class LossConfig:
  name: Literal["dual_process", "cross_entropy"] = "dual_process"

  def validate(self, key):
    pass


SCHEDULES = ("constant", "cosine", "warmup_cosine", "linear", "exponential")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
  """The learning rate's shape over training, 1 at its peak; the optimizer's learning rate
  scales it (so a sweep varies the peak under one shape). experiments/training/optimizers.py."""

  name: Literal[SCHEDULES] = "constant"
  # A linear warmup from 0 to the peak: steps, or a fraction of the run's steps
  # (neither: none, except warmup_cosine, which then warms up for 5 % of them).
  warmup_steps: Optional[int] = None
  warmup_fraction: Optional[float] = None
  # Steps from the start to the end of the decay (warmup included); null: the run's.
  decay_steps: Optional[int] = None
  end_fraction: float = 0.0  # cosine, warmup_cosine, linear: the end value / the peak
  decay_rate: Optional[float] = None  # exponential: the factor over decay_steps

  def validate(self, key):
    if self.warmup_steps is not None and self.warmup_fraction is not None:
      raise ConfigError(f"config key '{key}.warmup_steps': give warmup_steps or "
                        "warmup_fraction, not both")
    if self.warmup_steps is not None:
      check_positive(f"{key}.warmup_steps", self.warmup_steps, minimum=0)
    if self.warmup_fraction is not None:
      check_range(f"{key}.warmup_fraction", self.warmup_fraction, 0.0, 1.0, open_high=True)
    if self.decay_steps is not None:
      check_positive(f"{key}.decay_steps", self.decay_steps)
    check_range(f"{key}.end_fraction", self.end_fraction, 0.0, 1.0)
    warmup = bool(self.warmup_steps or self.warmup_fraction)
    if self.name == "constant" and (warmup or self.decay_steps or self.end_fraction
                                    or self.decay_rate is not None):
      raise ConfigError(f"config key '{key}.name': 'constant' takes no warmup or decay; "
                        "use warmup_cosine, cosine, linear or exponential")
    if self.name == "exponential":
      if self.decay_rate is None or not 0.0 < self.decay_rate < 1.0:
        raise ConfigError(f"config key '{key}.decay_rate': exponential needs a decay_rate in "
                          f"(0, 1), got {self.decay_rate}")
    elif self.decay_rate is not None:
      raise ConfigError(f"config key '{key}.decay_rate': only for 'exponential', not "
                        f"'{self.name}'")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  # A built-in name, or any optax optimizer: 'optax.NAME' or 'optax.contrib.NAME' (e.g.
  # 'optax.adamw', 'optax.lion', 'optax.contrib.muon'), or 'package.module:function'
  # returning an optax.GradientTransformation. A module named here is imported, and its
  # code runs, when the config is loaded (as Hydra's _target_ does).
  name: Union[Literal[OPTIMIZERS], str] = "dual_process"
  # Passed as the update's learning_rate (scaled by the schedule); null: its own default.
  learning_rate: Optional[float] = None
  # dual_process, sgd, schedule_free_sgd (its b1); an optax name or a function: passed as
  # the argument momentum_argument names.
  momentum: Optional[float] = None
  # optax names and functions: the argument momentum is passed as (e.g. b1 of optax.adamw,
  # beta of optax.contrib.muon); null: 'momentum' where the function takes one.
  momentum_argument: Optional[str] = dataclasses.field(default=None, metadata=WRITTEN_WHEN_SET)
  # optax names and functions: their other keyword arguments, e.g. {b2: 0.95, eps: 1e-8};
  # the learning rate and momentum are set by the keys above.
  kwargs: dict[str, Any] = dataclasses.field(default_factory=FrozenMapping,
                                             metadata=WRITTEN_WHEN_SET)
  nesterov: bool = False  # dual_process and sgd (optax names: kwargs.nesterov)
  # A named set of dualprocess.hyperparameters instead of typed-in numbers:
  # 'double_bayesian' (the author's derived sqrt(2)/phi and (1 - sqrt(2)/phi)^2),
  # 'reported' (the same rounded, 0.016 and 0.874), 'information' (ours, KL2(e||u) and
  # H2(e)), 'golden_partition' (1/phi^2, 1/phi) or 'traditional' (0.01, 0.9).
  preset: Optional[Literal[HYPERPARAMETER_SETS]] = None
  label: Optional[str] = None  # the name shown in tables and plots
  # An optax chain, as its users write it: clip_by_global_norm(clip_norm), the weight
  # decay, then the optimizer with the learning rate following the schedule. null / 0:
  # left out.
  schedule: ScheduleConfig = ScheduleConfig()
  weight_decay: float = 0.0
  # How weight_decay acts. 'l2': weight_decay * params added to the gradient in front of
  # the update (coupled: it goes through the momentum, and an adaptive method's scaling).
  # 'decoupled': learning_rate(t) * weight_decay * params subtracted after the update,
  # scaled by the schedule, as SGDW and AdamW do (Loshchilov & Hutter 2019). null: adam
  # decoupled (optax.adamw), every other optimizer l2.
  weight_decay_style: Optional[Literal["l2", "decoupled"]] = dataclasses.field(
      default=None, metadata=WRITTEN_WHEN_SET)
  # Which parameters decay: all of them, or 'kernels' (two or more dimensions),
  # leaving biases and norms out.
  weight_decay_mask: Literal["all", "kernels"] = "all"
  clip_norm: Optional[float] = None

  def decay_style(self) -> str:
    """``l2`` or ``decoupled``: the declared style, or the optimizer's default."""
    if self.weight_decay_style is not None:
      return self.weight_decay_style
    return "decoupled" if self.name == "adam" else "l2"

  def validate(self, key):
    if self.weight_decay < 0 or not math.isfinite(self.weight_decay):
      raise ConfigError(f"config key '{key}.weight_decay': must be a number >= 0, got "
                        f"{self.weight_decay}")
    if self.clip_norm is not None and not (math.isfinite(self.clip_norm)
                                           and self.clip_norm > 0):
      raise ConfigError(f"config key '{key}.clip_norm': must be a positive number, got "
                        f"{self.clip_norm}")
    if self.schedule.name != "constant" and self.name == "schedule_free_sgd":
      raise ConfigError(f"config key '{key}.schedule': schedule_free_sgd takes no schedule "
                        "(it is built to need none); allowed for dual_process, sgd, adam, "
                        "prodigy, dog, dadapt_adamw, cocob, mechanize, optax names and "
                        "functions")
    if self.preset is not None:
      if self.learning_rate is not None or self.momentum is not None:
        raise ConfigError(f"config key '{key}.preset': sets learning_rate and momentum; give "
                          "either the preset or the numbers, not both")
      if self.name not in ("dual_process", "sgd"):
        raise ConfigError(f"config key '{key}.preset': only for dual_process and sgd")
    if self.learning_rate is not None:
      if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
        raise ConfigError(f"config key '{key}.learning_rate': must be a positive number, "
                          f"got {self.learning_rate}")
    if self.momentum is not None:
      check_range(f"{key}.momentum", self.momentum, 0.0, 1.0, open_high=True)
    if self.nesterov and self.name not in ("dual_process", "sgd"):
      raise ConfigError(f"config key '{key}.nesterov': only for dual_process and sgd"
                        + ("" if self.name in OPTIMIZERS else " (optax names: kwargs.nesterov)"))
    if self.name not in OPTIMIZERS:
      # An optax name or a function: imported (its module's code runs) and checked against
      # its signature and by one call after parsing (experiments/loading.py).
      return
    for field in ("kwargs", "momentum_argument"):
      if getattr(self, field):
        raise ConfigError(f"config key '{key}.{field}': only for an optax name or a "
                          f"'package.module:function', not optimizer '{self.name}'")
    if self.momentum is not None and self.name not in MOMENTUM_OPTIMIZERS:
      raise ConfigError(f"config key '{key}.momentum': not used by optimizer '{self.name}' "
                        "(allowed for dual_process, sgd, schedule_free_sgd, and optax names "
                        "and functions with a momentum_argument)")
    if self.name in ("sgd", "adam") and self.learning_rate is None and self.preset is None:
      raise ConfigError(f"config key '{key}.learning_rate': required for optimizer "
                        f"'{self.name}' (a positive number)")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  epochs: int = 20
  batch_size: int = 32
  seed: int = 0
  eval_every: int = 1  # epochs between test evaluations
  log_every: int = 1  # steps between lines in metrics.jsonl
  devices: Union[int, Literal["all"]] = 1
  # Checkpoints: every checkpoint_every_s seconds of training (null: never by
  # time), every checkpoint_every steps (null: never by steps), at the end and
  # at a stop; written in the background while training goes on.
  checkpoint_every_s: Optional[float] = 300.0
  checkpoint_every: Optional[int] = None
  keep_checkpoints: int = 3
  # A compiled segment of steps lasts about this long (its length is set from
  # the first segment's measured step time); a signal is answered at the next
  # segment end. max_segment_steps caps the length (null: no cap).
  segment_seconds: float = 1.0
  max_segment_steps: Optional[int] = None
  skip_nonfinite: bool = False
  progress: bool = True
  # The forward pass's arithmetic, built-in models: bfloat16 computes every layer in
  # bfloat16 while parameters and optimizer state stay float32 and the loss is computed
  # in float32 (mixed precision, for accelerators; no speed is claimed on a CPU).
  compute_dtype: Literal["float32", "bfloat16"] = dataclasses.field(
      default="float32", metadata=WRITTEN_WHEN_SET)

  def validate(self, key):
    for field in ("epochs", "batch_size", "eval_every", "log_every"):
      check_positive(f"{key}.{field}", getattr(self, field))
    # Two at least, so that a damaged newest checkpoint always has a fallback.
    check_positive(f"{key}.keep_checkpoints", self.keep_checkpoints, minimum=2)
    for field in ("checkpoint_every", "max_segment_steps"):
      if getattr(self, field) is not None:
        check_positive(f"{key}.{field}", getattr(self, field))
    for field in ("checkpoint_every_s", "segment_seconds"):
      value = getattr(self, field)
      if value is not None and not (math.isfinite(value) and value > 0):
        raise ConfigError(f"config key '{key}.{field}': must be a positive number of "
                          f"seconds, got {value}")
    check_positive(f"{key}.seed", self.seed, minimum=0)
    if self.devices != "all":
      check_positive(f"{key}.devices", self.devices)
