"""MNIST-format files: LeCun's IDX (gzipped or not) and Keras-style ``.npz``, checked.

Every defect a real copy can have (a wrong file under the right name, a copy
cut short, images and labels that disagree, labels out of range) is a
:class:`ConfigError` naming the file and what is wrong; the command line shows
it as one line and exits 2.
"""

from __future__ import annotations

import gzip
import math
import pathlib
import struct
import zipfile
import zlib

import numpy as np

from ..errors import ConfigError

# The four files under the names the common distributions use: LeCun's
# originals (also Debian's and torchvision's raw folder), and the mirrors that
# write a dot before 'idx' (e.g. Kaggle's copy). Each may end in .gz.
SPLIT_FILES = {
    "train_x": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_y": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_x": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_y": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
# Sub-folders where some distributions keep them (torchvision's layout).
SUBFOLDERS = (".", "raw", "MNIST/raw", "FashionMNIST/raw")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
EXPECTED = ("a folder with train-images-idx3-ubyte, train-labels-idx1-ubyte, "
            "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (each may be gzipped), or an "
            ".npz with " + ", ".join(NPZ_KEYS))
_UNSIGNED_BYTE = 0x08


def find_split_files(folder: pathlib.Path):
  """The four IDX files in ``folder`` (or a known sub-folder), or None if some are missing."""
  for sub in SUBFOLDERS:
    base = folder / sub
    found = {key: _first_file(base, names) for key, names in SPLIT_FILES.items()}
    if all(found.values()):
      return found
  return None


def _first_file(folder: pathlib.Path, names):
  for name in names:
    for candidate in (folder / name, folder / f"{name}.gz"):
      if candidate.is_file():
        return candidate
  return None


def missing_file(folder: pathlib.Path) -> str:
  """The first of the four files that ``folder`` lacks, for the error message."""
  for names in SPLIT_FILES.values():
    if _first_file(folder, names) is None:
      return str(folder / names[0]) + "[.gz]"
  return str(folder)


def read_idx(path: pathlib.Path, ndim: int) -> np.ndarray:
  """Reads an IDX file of unsigned bytes with ``ndim`` dimensions (3: images, 1: labels)."""
  raw = _read_bytes(path)
  expected_magic = (_UNSIGNED_BYTE << 8) | ndim
  if len(raw) < 4:
    raise ConfigError(f"dataset file '{path}': truncated ({len(raw)} bytes, shorter than "
                      "the IDX header)")
  magic = struct.unpack(">I", raw[:4])[0]
  if magic != expected_magic:
    kind = "images" if ndim == 3 else "labels"
    raise ConfigError(f"dataset file '{path}': bad magic number 0x{magic:08x} (expected "
                      f"0x{expected_magic:08x} for IDX {kind} of unsigned bytes)")
  header = 4 + 4 * ndim
  if len(raw) < header:
    raise ConfigError(f"dataset file '{path}': truncated inside the IDX header")
  shape = struct.unpack(f">{ndim}I", raw[4:header])
  size = math.prod(shape)
  if len(raw) - header != size:
    how = "truncated" if len(raw) - header < size else "has trailing bytes"
    raise ConfigError(f"dataset file '{path}': {how}: the header promises "
                      f"{'x'.join(map(str, shape))} = {size} bytes of data, the file holds "
                      f"{len(raw) - header}")
  return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _read_bytes(path: pathlib.Path) -> bytes:
  try:
    if path.suffix == ".gz":
      with gzip.open(path, "rb") as f:
        return f.read()
    return path.read_bytes()
  except EOFError:
    raise ConfigError(f"dataset file '{path}': truncated (the gzip stream ends early)") \
        from None
  except (gzip.BadGzipFile, zlib.error) as error:
    raise ConfigError(f"dataset file '{path}': not a valid gzip file ({error})") from None
  except OSError as error:
    raise ConfigError(f"dataset file '{path}': cannot be read ({error.strerror or error})") \
        from None


def read_folder(folder: pathlib.Path, num_classes: int = 10) -> dict:
  """The four IDX files of ``folder`` as ``{train_x, train_y, test_x, test_y}``, checked."""
  files = find_split_files(folder)
  if files is None:
    raise ConfigError(f"dataset file '{missing_file(folder)}': not found; expected {EXPECTED}")
  arrays = {key: read_idx(path, 3 if key.endswith("_x") else 1) for key, path in files.items()}
  for split in ("train", "test"):
    check_split(arrays[f"{split}_x"], arrays[f"{split}_y"], files[f"{split}_y"],
                num_classes, images_name=files[f"{split}_x"].name)
  return arrays


def read_npz(path: pathlib.Path, num_classes: int = 10) -> dict:
  """A Keras-style ``.npz`` (``x_train, y_train, x_test, y_test``), checked."""
  try:
    with np.load(path, allow_pickle=False) as npz:
      missing = [k for k in NPZ_KEYS if k not in npz.files]
      if missing:
        raise ConfigError(f"dataset file '{path}': missing array '{missing[0]}'; expected "
                          + ", ".join(NPZ_KEYS))
      arrays = {"train_x": npz["x_train"], "train_y": npz["y_train"],
                "test_x": npz["x_test"], "test_y": npz["y_test"]}
  except ConfigError:
    raise
  except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as error:
    raise ConfigError(f"dataset file '{path}': not a readable .npz ({error})") from None
  for split in ("train", "test"):
    x = arrays[f"{split}_x"]
    if x.ndim != 3:
      raise ConfigError(f"dataset file '{path}': x_{split} has shape {x.shape}; expected "
                        "[N, height, width] images")
    check_split(x, arrays[f"{split}_y"], path, num_classes, images_name=f"x_{split}",
                labels_name=f"y_{split}")
  return arrays


def check_split(images, labels, path, num_classes: int, images_name: str,
                labels_name: str = "labels") -> None:
  """Image and label counts agree and every label is a class index."""
  if labels.ndim != 1:
    raise ConfigError(f"dataset file '{path}': {labels_name} have shape {labels.shape}; "
                      "expected one label per image")
  if len(images) != len(labels):
    raise ConfigError(f"dataset file '{path}': {len(labels)} {labels_name} for "
                      f"{len(images)} images in {images_name}; the counts must agree")
  if labels.size and not np.issubdtype(labels.dtype, np.integer):
    raise ConfigError(f"dataset file '{path}': {labels_name} must be integers, got "
                      f"{labels.dtype}")
  if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
    bad = labels.max() if labels.max() >= num_classes else labels.min()
    raise ConfigError(f"dataset file '{path}': {labels_name} must lie in 0-{num_classes - 1}, "
                      f"found {bad}")
