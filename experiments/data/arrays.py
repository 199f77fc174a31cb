"""The user's own arrays: an ``.npz``, a folder of ``.npy`` files, or a Python callable.

Formats (``dataset.name``, ``dataset.path``):

- ``name: arrays``, ``path: data.npz``: an ``.npz`` with the arrays ``x_train``,
  ``y_train``, ``x_test``, ``y_test`` and optionally ``x_val``, ``y_val``
  (both or neither). An ``.npz`` is read into memory whole.
- ``name: arrays``, ``path: folder``: the files ``x_train.npy``,
  ``y_train.npy``, ``x_test.npy``, ``y_test.npy`` (optionally ``x_val.npy``,
  ``y_val.npy``), opened memory-mapped (``np.load(mmap_mode='r')``), for sets
  larger than memory.
- ``name: package.module:function`` (any name with a ``:``): the module is
  imported, which runs its code as Hydra's ``_target_`` does, and the function
  is called with no arguments; it returns a dict with the same keys, for data
  loaded or generated in code.

Examples have any shape ``[N, *example_shape]``: images ``[H, W, C]`` with any
``C``, sequences ``[L, C]``, tabular rows ``[F]``; every split has the
training examples' shape. ``uint8`` features are pixels, scaled to [0, 1]
(``scale: symmetric``: then ``2x - 1``, [-1, 1]); floating-point features are
kept as they are (as float32; ``symmetric`` on them is an error). Labels are
integers ``0..C-1``: ``C`` is ``dataset.num_classes`` or the largest label of
all splits plus one, and every class needs training examples. ``x_val`` and
``y_val`` become ``Dataset.validation``, scaled and checked like the test set;
the dataset options that pick and corrupt training examples
(``limit_train``, ``train_fraction``, ``folds``, ``label_noise``) never touch
it, and ``test_fraction`` does not apply (the test split is the user's).

Memory: the files stay mapped while they are checked, in chunks (NaN and
infinity included). Only the training examples kept by ``limit_train`` and
``train_fraction`` (and the test and validation sets) are then converted to
float32, chunk by chunk, with no float64 intermediate; float32 ``.npy`` files
are not copied at all (the training reads them when it puts them on the
device). The training holds its whole training set in float32 on the device,
so that much must fit there; ``limit_train`` and ``train_fraction`` take a part
of a larger file.

Every defect is a :class:`ConfigError` of one line naming the file (or the
config key) and what is allowed; the command line shows it and exits 2.
"""

from __future__ import annotations

import math
import pathlib
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from .. import imports
from ..config import DatasetConfig
from ..errors import ConfigError

KEYS = ("x_train", "y_train", "x_test", "y_test")
VALIDATION_KEYS = ("x_val", "y_val")
EXPECTED = ("an .npz with " + ", ".join(KEYS) + " (optionally x_val, y_val), or a folder of "
            + ", ".join(f"{k}.npy" for k in KEYS))
CHUNK_BYTES = 1 << 26  # 64 MiB of a memory-mapped array read at a time


def is_arrays(name: str) -> bool:
  """Whether ``dataset.name`` names the user's arrays: ``arrays`` or ``module:function``."""
  return name == "arrays" or ":" in name


class _Source:
  """Where the arrays came from (a folder, an .npz or a callable), for error messages."""

  def __init__(self, kind: str, where):
    self.kind, self.where = kind, where

  def __str__(self) -> str:
    return f"'{self.where}'"

  def at(self, key: str) -> str:
    """The start of a message about array ``key``: its file (or callable) and name."""
    if self.kind == "folder":
      return f"dataset file '{self.where / (key + '.npy')}': {key}"
    if self.kind == "npz":
      return f"dataset file '{self.where}': {key}"
    return f"config key 'dataset.name': {self.where!r}: {key}"


def load(config: DatasetConfig) -> dict:
  """The user's arrays, checked: the fields of a ``Dataset``, features as stored.

  Args:
    config: the dataset section; ``name`` is ``arrays`` (with ``path``) or a
      ``module:function`` callable.

  Returns:
    A dict of ``train_x, train_y, test_x, test_y, num_classes, name, validation``:
    features in their stored dtype (memory-mapped for a folder; :func:`features`
    converts them once the training examples are chosen), labels int32,
    ``validation`` an ``(x, y)`` pair or None.
  """
  if config.name == "arrays":
    arrays, source = read_path(pathlib.Path(config.path).expanduser())
    name = f"arrays ({source.where.name})"
  else:
    arrays, source = call(config.name), _Source("callable", config.name)
    name = config.name
  num_classes = check(arrays, source, config.num_classes, config.scale)
  labels = {k: np.asarray(arrays[k]).astype(np.int32) for k in arrays if k.startswith("y_")}
  validation = None
  if "x_val" in arrays:
    validation = (arrays["x_val"], labels["y_val"])
  return {"train_x": arrays["x_train"], "train_y": labels["y_train"],
          "test_x": arrays["x_test"], "test_y": labels["y_test"], "num_classes": num_classes,
          "name": name, "validation": validation}


def read_path(path: pathlib.Path) -> tuple[dict, _Source]:
  """The arrays of an ``.npz`` file or of a folder of ``.npy`` files (memory-mapped).

  Args:
    path: the ``.npz`` file or the folder.

  Returns:
    The arrays by key and their source (for error messages).
  """
  if path.is_dir():
    return _read_folder(path), _Source("folder", path)
  if not path.is_file():
    raise ConfigError(f"dataset file '{path}': not found{relative_to_cwd(path)}; expected "
                      f"{EXPECTED}")
  if not zipfile.is_zipfile(path):
    with open(path, "rb") as f:
      is_npy = f.read(6) == b"\x93NUMPY"
    what = ("a single .npy holds one array" if is_npy else "not an .npz (a zip of .npy arrays)")
    raise ConfigError(f"dataset file '{path}': {what}; expected {EXPECTED}")
  try:
    with np.load(path, allow_pickle=False) as npz:
      _check_keys(npz.files, f"dataset file '{path}'", "array")
      arrays = {k: npz[k] for k in KEYS + VALIDATION_KEYS if k in npz.files}
  except ConfigError:
    raise
  except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as error:
    raise ConfigError(f"dataset file '{path}': not a readable .npz ({error})") from None
  return arrays, _Source("npz", path)


def _read_folder(folder: pathlib.Path) -> dict:
  present = [k for k in KEYS + VALIDATION_KEYS if (folder / f"{k}.npy").is_file()]
  if not present:
    raise ConfigError(f"dataset file '{folder}': a folder without "
                      + ", ".join(f"{k}.npy" for k in KEYS) + f"; expected {EXPECTED}")
  _check_keys([f"{k}" for k in present], f"dataset file '{folder}'", "file", ".npy")
  arrays = {}
  for key in present:
    path = folder / f"{key}.npy"
    try:
      array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
      raise ConfigError(f"dataset file '{path}': not a readable .npy ({error})") from None
    if not isinstance(array, np.ndarray):
      raise ConfigError(f"dataset file '{path}': not a single .npy array")
    arrays[key] = array
  return arrays


def relative_to_cwd(path: pathlib.Path) -> str:
  """For a message on a missing relative ``dataset.path``: where it was looked for (a
  relative path is read from the folder the command runs in, not the config's)."""
  if path.is_absolute():
    return ""
  return f" (a relative dataset.path is read from the working directory, {pathlib.Path.cwd()})"


def _check_keys(present, where: str, what: str, suffix: str = "") -> None:
  for key in KEYS:
    if key not in present:
      raise ConfigError(f"{where}: missing {what} '{key}{suffix}'; expected {EXPECTED}")
  if ("x_val" in present) != ("y_val" in present):
    have, lack = ("x_val", "y_val") if "x_val" in present else ("y_val", "x_val")
    raise ConfigError(f"{where}: {what} '{have}{suffix}' without '{lack}{suffix}'; the "
                      "validation split needs both or neither")


def call(target: str) -> dict:
  """Imports ``package.module:function``, calls it with no arguments, checks the dict.

  Importing runs the module's code, as Hydra's ``_target_`` does: name only
  code you trust.

  Args:
    target: ``package.module:function`` (the function may be a dotted attribute).

  Returns:
    The returned arrays by key, as numpy arrays.
  """
  where = f"config key 'dataset.name': {target!r}"
  function = imports.import_target(target, "dataset.name", "a function returning a dict of "
                                   + ", ".join(KEYS))
  result = function()
  if not isinstance(result, Mapping):
    raise ConfigError(f"{where}: returned {type(result).__name__}; expected a dict of "
                      + ", ".join(KEYS) + " (optionally x_val, y_val)")
  _check_keys(list(result), where, "key")
  arrays = {}
  for key in KEYS + VALIDATION_KEYS:
    if key in result:
      try:
        arrays[key] = np.asarray(result[key])
      except (ValueError, TypeError) as error:
        raise ConfigError(f"{where}: '{key}' is not an array ({error})") from None
  return arrays


def check(arrays: dict, source: _Source, num_classes, scale: str) -> int:
  """Checks every split (counts, shapes, dtypes, finite features, labels); the class count.

  Args:
    arrays: ``x_train, y_train, x_test, y_test`` and optionally ``x_val, y_val``.
    source: where they came from, for the messages.
    num_classes: ``dataset.num_classes``, or None to infer it.
    scale: ``dataset.scale``.

  Returns:
    ``C``: ``num_classes`` or the largest label plus one.
  """
  splits = [s for s in ("train", "test", "val") if f"x_{s}" in arrays]
  shape, dtype = None, None
  for split in splits:
    shape, dtype = _check_features(arrays, split, source, shape, dtype)
    _check_labels(arrays, split, source)
  if scale == "symmetric" and dtype != np.uint8:
    raise ConfigError(f"config key 'dataset.scale': 'symmetric' scales uint8 pixels, but the "
                      f"features of {source} are {dtype}, kept as they are (use 'unit')")
  largest = max(int(np.asarray(arrays[f"y_{s}"]).max()) for s in splits)
  if num_classes is None:
    num_classes = largest + 1
  else:
    for split in splits:
      top = int(np.asarray(arrays[f"y_{split}"]).max())
      if top >= num_classes:
        raise ConfigError(f"{source.at(f'y_{split}')} has label {top}, outside 0.."
                          f"{num_classes - 1} (config key 'dataset.num_classes' = "
                          f"{num_classes})")
  if num_classes < 2:
    raise ConfigError(f"{source.at('y_train')} has one class only; labels 0..C-1 need C >= 2")
  check_classes(np.asarray(arrays["y_train"]), num_classes, source.at("y_train"))
  return num_classes


def _check_features(arrays: dict, split: str, source: _Source, shape, dtype):
  """One split's features: [N, *example_shape], uint8 or float, finite, the training
  examples' shape and kind; returns the shape and dtype the next split must have."""
  x, x_key = arrays[f"x_{split}"], f"x_{split}"
  if not isinstance(x, np.ndarray) or x.ndim < 2:
    raise ConfigError(f"{source.at(x_key)} has shape {np.shape(x)}; expected "
                      "[N, *example_shape] (one tabular feature: [N, 1])")
  if len(x) == 0:
    raise ConfigError(f"{source.at(x_key)} has no examples; every split needs some")
  if not (x.dtype == np.uint8 or np.issubdtype(x.dtype, np.floating)):
    raise ConfigError(f"{source.at(x_key)} has dtype {x.dtype}; features must be uint8 "
                      "(scaled by dataset.scale) or floating point (kept as they are)")
  if shape is None:
    shape, dtype = x.shape[1:], x.dtype
  elif x.shape[1:] != shape:
    raise ConfigError(f"{source.at(x_key)} has examples of shape {x.shape[1:]}, x_train "
                      f"of {shape}; every split needs the training examples' shape")
  elif (x.dtype == np.uint8) != (dtype == np.uint8):
    raise ConfigError(f"{source.at(x_key)} has dtype {x.dtype}, x_train {dtype}; all "
                      "splits need uint8 or all floating point")
  if x.dtype != np.uint8:
    _check_finite(x, source.at(x_key))
  return shape, dtype


def _check_labels(arrays: dict, split: str, source: _Source) -> None:
  """One split's labels: one non-negative integer per example."""
  x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
  x_key, y_key = f"x_{split}", f"y_{split}"
  if y.ndim != 1:
    raise ConfigError(f"{source.at(y_key)} has shape {y.shape}; expected one integer label "
                      "per example, [N]")
  if len(y) != len(x):
    raise ConfigError(f"{source.at(y_key)} has {len(y)} labels for the {len(x)} examples "
                      f"of {x_key}; the counts must agree")
  if not np.issubdtype(y.dtype, np.integer):
    raise ConfigError(f"{source.at(y_key)} has dtype {y.dtype}; labels must be integers "
                      "0..C-1")
  if np.asarray(y).min() < 0:
    raise ConfigError(f"{source.at(y_key)} has label {np.asarray(y).min()}; labels must be "
                      "integers 0..C-1")


def check_classes(labels: np.ndarray, num_classes: int, where: str) -> None:
  """Every class ``0..num_classes-1`` has a training example, or a ConfigError at ``where``.

  Args:
    labels: the training labels.
    num_classes: ``C``.
    where: the start of the message (a file and key, or a config key).
  """
  present = np.unique(labels)
  missing = len(present)
  for i, label in enumerate(present):
    if label != i:
      missing = i
      break
  if missing < num_classes:
    raise ConfigError(f"{where} has no example of class {missing} (classes 0..{num_classes - 1}"
                      "); every class needs training examples")


def _rows_per_chunk(x: np.ndarray) -> int:
  return max(1, CHUNK_BYTES // max(1, x.dtype.itemsize * math.prod(x.shape[1:])))


def _check_finite(x: np.ndarray, where: str) -> None:
  """NaN and infinity (also a float64 value beyond float32), read in chunks."""
  rows = _rows_per_chunk(x)
  for start in range(0, len(x), rows):
    chunk = np.asarray(x[start:start + rows])
    with np.errstate(over="ignore"):
      finite = np.isfinite(chunk.astype(np.float32, copy=False))
    if not finite.all():
      example = start + int(np.argmin(finite.reshape(len(chunk), -1).all(axis=1)))
      raise ConfigError(f"{where} holds NaN or infinite values (as float32), first in "
                        f"example {example}; features must be finite")


def features(x: np.ndarray, scale: str) -> np.ndarray:
  """Stored features as float32: uint8 scaled by ``scale``, floats as they are.

  Converted in chunks, so a memory-mapped file is read once, with no float64
  intermediate; a float32 array (memory-mapped or not) is returned uncopied.

  Args:
    x: ``[N, *example_shape]`` uint8 or floating point.
    scale: ``unit`` (``x / 255``) or ``symmetric`` (``2 x / 255 - 1``), for uint8.

  Returns:
    float32 ``[N, *example_shape]``.
  """
  if x.dtype == np.float32:
    return x
  out = np.empty(x.shape, np.float32)
  rows = _rows_per_chunk(x)
  for start in range(0, len(x), rows):
    part = out[start:start + rows]
    part[...] = x[start:start + rows]
    if x.dtype == np.uint8:
      part /= 255.0  # as the built-in sets: float32(x) / 255, then 2x - 1
      if scale == "symmetric":
        part *= 2.0
        part -= 1.0
  return out
