"""CIFAR-10 from its published archive, ``cifar-10-python.tar.gz``, read in place and checked.

The archive holds six pickled batches under ``cifar-10-batches-py/``: ``data_batch_1``
to ``data_batch_5`` (10,000 images each: the training set) and ``test_batch``. They
are read straight from the gzipped tar in one sequential pass (about two seconds for
the 170 MB archive), never extracted to disk: nothing beside the verified archive
can go stale or be half-written. A folder holding the archive, or the batches as
others extract them (``cifar-10-batches-py/``, e.g. torchvision's), is read too.

The batches are Python pickles. They are loaded by an unpickler that admits only
what a batch holds (dicts, lists, strings, numbers and numpy arrays), so a hostile
file cannot run code. Every defect a copy can have (cut short, not a tar, a missing
batch, a wrong array, labels that disagree) is a :class:`ConfigError` of one line
naming the file, as in ``experiments/data/idx.py``.
"""

from __future__ import annotations

import _codecs
import gzip
import io
import pathlib
import pickle
import posixpath
import tarfile
import zlib

import numpy as np

from ..errors import ConfigError

__all__ = ["ARCHIVE", "load_cifar10"]

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
BATCHES = (*TRAIN_BATCHES, TEST_BATCH)
SIDE, CHANNELS, NUM_CLASSES = 32, 3, 10
EXPECTED = (f"{ARCHIVE} (the 'python version' of https://www.cs.toronto.edu/~kriz/cifar.html), "
            f"a folder holding it, or its extracted {FOLDER}/ with "
            + ", ".join(BATCHES))


def _numpy_reconstruct():
  try:
    from numpy._core.multiarray import _reconstruct  # numpy >= 2
  except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct
  return _reconstruct


def _numpy_frombuffer():
  try:
    from numpy._core.numeric import _frombuffer  # numpy >= 2
  except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.numeric import _frombuffer
  return _frombuffer


# The globals a batch may name: numpy's array reconstruction under its numpy 1 and 2
# module names (the published batches were written by numpy 1 under Python 2), and the
# bytes encoding Python 3 writes into protocol-2 pickles.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numpy_frombuffer,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
    ("_codecs", "encode"): lambda: _codecs.encode,
}


class _BatchUnpickler(pickle.Unpickler):
  """An unpickler that resolves only :data:`_ALLOWED`: a batch needs nothing else."""

  def find_class(self, module, name):
    if (module, name) not in _ALLOWED:
      raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR-10 batch "
                                   "never holds (refused, not run)")
    return _ALLOWED[(module, name)]()


def load_cifar10(path) -> dict:
  """CIFAR-10's images and labels from ``path``: the archive, a folder holding it, or a
  folder of the extracted batches.

  Returns:
    ``{x_train, y_train, x_test, y_test}``: images uint8 ``[N, 32, 32, 3]`` (NHWC),
    labels int32 ``[N]`` in 0-9; 50,000 and 10,000 of them in the published archive.

  Raises:
    ConfigError: one line naming the file, for any defect.
  """
  path = pathlib.Path(path).expanduser()
  raw = _read_batches(path)
  train = [_batch(data, where) for data, where in (raw[name] for name in TRAIN_BATCHES)]
  x_test, y_test = _batch(*raw[TEST_BATCH])
  return {"x_train": _nhwc(np.concatenate([x for x, _ in train])),
          "y_train": np.concatenate([y for _, y in train]),
          "x_test": _nhwc(x_test), "y_test": y_test}


def _nhwc(pixels: np.ndarray) -> np.ndarray:
  """Rows of 3,072 bytes (1,024 red, green, blue, each row-major) as [N, 32, 32, 3]."""
  return np.ascontiguousarray(pixels.reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1))


def _read_batches(path: pathlib.Path) -> dict:
  """``{batch name: (pickled bytes, where it came from for messages)}``."""
  if path.is_file():
    return _from_archive(path)
  if path.is_dir():
    if (path / ARCHIVE).is_file():
      return _from_archive(path / ARCHIVE)
    for folder in (path / FOLDER, path):
      if any((folder / name).is_file() for name in BATCHES):
        return _from_folder(folder)
  raise ConfigError(f"dataset file '{path}': not found; expected {EXPECTED}")


def _from_archive(archive: pathlib.Path) -> dict:
  """The six batches from the gzipped tar, in one sequential pass; nothing extracted."""
  found = {}
  try:
    with tarfile.open(archive, "r|gz") as tar:
      for member in tar:
        name = posixpath.basename(member.name)
        if name in BATCHES and name not in found and member.isfile():
          found[name] = (tar.extractfile(member).read(), f"{archive} ({member.name})")
          if len(found) == len(BATCHES):
            break
  except (EOFError, tarfile.ReadError, zlib.error, gzip.BadGzipFile) as error:
    raise ConfigError(f"dataset file '{archive}': truncated or not a gzipped tar "
                      f"({_one_line(error)}); expected {EXPECTED}") from None
  except OSError as error:
    raise ConfigError(f"dataset file '{archive}': cannot be read "
                      f"({error.strerror or _one_line(error)})") from None
  missing = [name for name in BATCHES if name not in found]
  if missing:
    raise ConfigError(f"dataset file '{archive}': has no member {FOLDER}/{missing[0]}; "
                      f"expected {EXPECTED}")
  return found


def _from_folder(folder: pathlib.Path) -> dict:
  found = {}
  for name in BATCHES:
    path = folder / name
    if not path.is_file():
      raise ConfigError(f"dataset file '{path}': not found; expected {EXPECTED}")
    try:
      found[name] = (path.read_bytes(), str(path))
    except OSError as error:
      raise ConfigError(f"dataset file '{path}': cannot be read "
                        f"({error.strerror or error})") from None
  return found


def _batch(data: bytes, where: str):
  """One batch's pixels ``[N, 3072]`` uint8 and labels ``[N]`` int32, checked."""
  try:
    batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
  except Exception as error:  # any malformed pickle: many exception types
    raise ConfigError(f"dataset file '{where}': not a CIFAR-10 batch (a pickled dict) "
                      f"({type(error).__name__}: {_one_line(error)})") from None
  if not isinstance(batch, dict):
    raise ConfigError(f"dataset file '{where}': holds a {type(batch).__name__}, not a "
                      "CIFAR-10 batch (a dict with 'data' and 'labels')")
  pixels, labels = (batch.get(key.encode(), batch.get(key)) for key in ("data", "labels"))
  size = SIDE * SIDE * CHANNELS
  if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 \
      or pixels.shape[1] != size:
    what = (f"{pixels.dtype} of shape {pixels.shape}" if isinstance(pixels, np.ndarray)
            else type(pixels).__name__)
    raise ConfigError(f"dataset file '{where}': 'data' is {what}; expected uint8 "
                      f"[N, {size}] (N images of 3 x 32 x 32, channel-major)")
  return pixels, _labels(labels, len(pixels), where)


def _labels(labels, count: int, where: str) -> np.ndarray:
  """The labels as int32, one per image, each a class index."""
  try:
    values = np.asarray(labels)
  except (TypeError, ValueError):
    values = np.asarray([])
  if labels is None or values.ndim != 1 or (values.size and
                                            not np.issubdtype(values.dtype, np.integer)):
    raise ConfigError(f"dataset file '{where}': 'labels' must be a list of integers, "
                      f"got {type(labels).__name__}")
  if len(values) != count:
    raise ConfigError(f"dataset file '{where}': {len(values)} labels for {count} images; "
                      "the counts must agree")
  if values.size and (values.min() < 0 or values.max() >= NUM_CLASSES):
    bad = values.max() if values.max() >= NUM_CLASSES else values.min()
    raise ConfigError(f"dataset file '{where}': labels must lie in 0-{NUM_CLASSES - 1}, "
                      f"found {bad}")
  return values.astype(np.int32)


def _one_line(error) -> str:
  return " ".join(str(error).split()) or type(error).__name__
