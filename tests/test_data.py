"""Each loader, on the embedded digits, generated MNIST-1D and MNIST files we write."""

import gzip
import struct

import numpy as np
import pytest

from experiments import data
from experiments.config import ConfigError, DatasetConfig


def test_digits_split_is_stratified_scaled_and_fixed_by_seed():
  d = data.load(DatasetConfig(name="digits", test_fraction=0.2, split_seed=0))
  assert d.train_x.shape[1:] == (8, 8, 1) and d.train_x.dtype == np.float32
  assert len(d.train_y) + len(d.test_y) == 1797
  assert 0.0 <= d.train_x.min() and d.train_x.max() <= 1.0
  counts = np.bincount(d.test_y, minlength=10)
  assert counts.min() >= 35 and counts.max() <= 37  # ~20% of each class
  again = data.load(DatasetConfig(name="digits", split_seed=0))
  np.testing.assert_array_equal(d.test_y, again.test_y)
  other = data.load(DatasetConfig(name="digits", split_seed=1))
  assert not np.array_equal(d.test_y, other.test_y)


def test_mnist1d_is_generated_locally_and_leaves_numpy_rng_alone():
  np.random.seed(123)
  before = np.random.get_state()[1].copy()
  d = data.load(DatasetConfig(name="mnist1d", num_samples=200, test_fraction=0.2))
  np.testing.assert_array_equal(np.random.get_state()[1], before)
  assert d.train_x.shape == (160, 40, 1) and d.test_x.shape == (40, 40, 1)
  assert set(np.unique(d.train_y)) <= set(range(10))


def write_idx(path, array, compress):
  header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                    *array.shape)
  payload = header + array.astype(np.uint8).tobytes()
  if compress:
    path = path.with_name(path.name + ".gz")
    path.write_bytes(gzip.compress(payload))
  else:
    path.write_bytes(payload)


def fake_mnist(rng, n):
  return rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), rng.integers(0, 10, n)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_idx_files(tmp_path, compress):
  rng = np.random.default_rng(0)
  (tx, ty), (vx, vy) = fake_mnist(rng, 50), fake_mnist(rng, 20)
  for key, array in (("train_x", tx), ("train_y", ty), ("test_x", vx), ("test_y", vy)):
    write_idx(tmp_path / data.IDX_FILES[key], array, compress)
  d = data.load(DatasetConfig(name="mnist", path=str(tmp_path)))
  assert d.train_x.shape == (50, 28, 28, 1) and d.test_x.shape == (20, 28, 28, 1)
  np.testing.assert_allclose(d.train_x[..., 0], tx / 255.0, rtol=1e-6)
  np.testing.assert_array_equal(d.test_y, vy)


def test_mnist_npz_file_and_folder(tmp_path):
  rng = np.random.default_rng(1)
  (tx, ty), (vx, vy) = fake_mnist(rng, 30), fake_mnist(rng, 10)
  np.savez(tmp_path / "mnist.npz", x_train=tx, y_train=ty, x_test=vx, y_test=vy)
  for path in (tmp_path / "mnist.npz", tmp_path):
    d = data.load(DatasetConfig(name="mnist", path=str(path)))
    np.testing.assert_array_equal(d.train_y, ty)
    assert d.test_x.shape == (10, 28, 28, 1)


def test_mnist_errors_name_the_file_and_what_was_expected(tmp_path):
  with pytest.raises(ConfigError, match="not found; expected a folder with train-images"):
    data.load(DatasetConfig(name="mnist", path=str(tmp_path / "missing")))
  write_idx(tmp_path / data.IDX_FILES["train_x"], np.zeros((2, 28, 28)), False)
  with pytest.raises(ConfigError, match="train-labels-idx1-ubyte"):
    data.load(DatasetConfig(name="mnist", path=str(tmp_path)))
  for key in ("train_y", "test_x", "test_y"):
    (tmp_path / data.IDX_FILES[key]).write_bytes(b"not an idx file")
  with pytest.raises(ConfigError, match="not a valid IDX file"):
    data.load(DatasetConfig(name="mnist", path=str(tmp_path)))
  bad_npz = tmp_path / "bad.npz"
  np.savez(bad_npz, x_train=np.zeros((2, 28, 28)))
  with pytest.raises(ConfigError, match="missing array 'y_train'"):
    data.load(DatasetConfig(name="mnist", path=str(bad_npz)))
  mismatched = tmp_path / "mismatch.npz"
  np.savez(mismatched, x_train=np.zeros((3, 28, 28)), y_train=np.zeros(2),
           x_test=np.zeros((1, 28, 28)), y_test=np.zeros(1))
  with pytest.raises(ConfigError, match="do not match"):
    data.load(DatasetConfig(name="mnist", path=str(mismatched)))
