"""Handwritten-digit datasets, all local: embedded, generated, or the user's own files.

- ``digits``: scikit-learn's 1,797 real 8x8 handwritten digits (shipped inside
  the package), a stratified split fixed by ``split_seed``, scaled to [0, 1].
- ``mnist1d``: generated here with the ``mnist1d`` package's own generator
  (its defaults: 5,000 examples, 4,000/1,000 split); never downloaded.
- ``mnist``: the real 70,000 MNIST images read from files the user already
  has: the four IDX files (gzipped or not) in a folder, or a Keras-style
  ``mnist.npz``.
"""

from __future__ import annotations

import gzip
import pathlib
import struct
from typing import NamedTuple

import numpy as np

from experiments.config import ConfigError, DatasetConfig


class Dataset(NamedTuple):
  train_x: np.ndarray  # float32, [N, *input_shape]
  train_y: np.ndarray  # int32, [N]
  test_x: np.ndarray
  test_y: np.ndarray
  num_classes: int
  name: str

  @property
  def input_shape(self) -> tuple[int, ...]:
    return self.train_x.shape[1:]


def load(config: DatasetConfig) -> Dataset:
  loader = {"digits": load_digits, "mnist1d": load_mnist1d, "mnist": load_mnist}[config.name]
  dataset = loader(config)
  if config.limit_train is not None:
    dataset = dataset._replace(train_x=dataset.train_x[:config.limit_train],
                               train_y=dataset.train_y[:config.limit_train])
  return dataset


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


def load_digits(config: DatasetConfig) -> Dataset:
  from sklearn.datasets import load_digits as sklearn_digits

  bunch = sklearn_digits()
  images = (bunch.images / 16.0).astype(np.float32)[..., None]  # [N, 8, 8, 1] in [0, 1]
  labels = bunch.target.astype(np.int32)
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


IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
EXPECTED_MNIST = ("a folder with " + ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())
                  + ", or an mnist.npz with x_train, y_train, x_test, y_test")


def load_mnist(config: DatasetConfig) -> Dataset:
  path = pathlib.Path(config.path).expanduser()
  if path.is_file():
    arrays = _read_npz(path)
  elif path.is_dir():
    if (path / "mnist.npz").is_file() and not _find_idx(path, IDX_FILES["train_x"]):
      arrays = _read_npz(path / "mnist.npz")
    else:
      arrays = {key: _read_idx(_require_idx(path, name)) for key, name in IDX_FILES.items()}
  else:
    raise ConfigError(f"dataset file '{path}': not found; expected {EXPECTED_MNIST}")
  for split in ("train", "test"):
    x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
      raise ConfigError(f"dataset file '{path}': {split} images {x.shape} and labels {y.shape} "
                        "do not match (expected [N, H, W] images and [N] labels)")
    if y.size and (y.min() < 0 or y.max() > 9):
      raise ConfigError(f"dataset file '{path}': {split} labels must be digits 0-9")
  to_x = lambda x: (x.astype(np.float32) / 255.0)[..., None]
  return Dataset(to_x(arrays["train_x"]), arrays["train_y"].astype(np.int32),
                 to_x(arrays["test_x"]), arrays["test_y"].astype(np.int32), 10, "mnist")


def _find_idx(folder: pathlib.Path, name: str):
  for candidate in (folder / name, folder / f"{name}.gz"):
    if candidate.is_file():
      return candidate
  return None


def _require_idx(folder: pathlib.Path, name: str) -> pathlib.Path:
  found = _find_idx(folder, name)
  if found is None:
    raise ConfigError(f"dataset file '{folder / name}[.gz]': not found; expected "
                      f"{EXPECTED_MNIST}")
  return found


def _read_idx(path: pathlib.Path) -> np.ndarray:
  """Reads an IDX file (LeCun's format): magic, dimensions, then unsigned bytes."""
  opener = gzip.open if path.suffix == ".gz" else open
  try:
    with opener(path, "rb") as f:
      raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim not in (1, 3):
      raise ValueError("bad magic number")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    return data.reshape(shape)
  except (OSError, EOFError, ValueError, struct.error) as error:
    raise ConfigError(f"dataset file '{path}': not a valid IDX file of unsigned bytes "
                      f"({error})") from None


def _read_npz(path: pathlib.Path) -> dict:
  try:
    with np.load(path, allow_pickle=False) as npz:
      missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in npz.files]
      if missing:
        raise ConfigError(f"dataset file '{path}': missing array '{missing[0]}'; expected "
                          "x_train, y_train, x_test, y_test")
      return {"train_x": npz["x_train"], "train_y": npz["y_train"],
              "test_x": npz["x_test"], "test_y": npz["y_test"]}
  except ConfigError:
    raise
  except (OSError, ValueError) as error:
    raise ConfigError(f"dataset file '{path}': not a readable .npz ({error})") from None
