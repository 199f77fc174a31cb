"""The CIFAR-10 reader (experiments/data/cifar.py) on archives and folders made here: each
defect a copy can have is one line naming the file, and a hostile pickle is refused."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from experiments.data import cifar
from experiments.errors import ConfigError


def batch(n: int, seed: int, overrides=None) -> bytes:
  rng = np.random.default_rng(seed)
  content = {b"batch_label": b"batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
             b"labels": [int(v) for v in rng.integers(0, 10, n)]}
  content.update(overrides or {})
  return pickle.dumps(content, protocol=2)


def members(n: int = 3) -> dict[str, bytes]:
  return {name: batch(n, seed) for seed, name in enumerate(cifar.BATCHES)}


def write_archive(path, contents: dict[str, bytes]):
  with tarfile.open(path, "w:gz") as tar:
    for name, data in contents.items():
      info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return path


def error_of(path) -> str:
  with pytest.raises(ConfigError) as error:
    cifar.load_cifar10(path)
  assert "\n" not in str(error.value)
  return str(error.value)


def test_reads_the_archive_and_the_extracted_folder_alike(tmp_path):
  contents = members()
  archive = write_archive(tmp_path / cifar.ARCHIVE, contents)
  data = cifar.load_cifar10(archive)
  assert {k: v.shape for k, v in data.items()} == {
      "x_train": (15, 32, 32, 3), "y_train": (15,), "x_test": (3, 32, 32, 3), "y_test": (3,)}
  test = pickle.loads(contents["test_batch"], encoding="bytes")
  expected = test[b"data"].reshape(3, 3, 32, 32).transpose(0, 2, 3, 1)
  np.testing.assert_array_equal(data["x_test"], expected)
  assert data["x_test"].flags.c_contiguous and data["x_train"].flags.c_contiguous
  np.testing.assert_array_equal(data["y_test"], test[b"labels"])
  extracted = tmp_path / "torchvision" / cifar.FOLDER
  extracted.mkdir(parents=True)
  for name, raw in contents.items():
    (extracted / name).write_bytes(raw)
  again = cifar.load_cifar10(extracted.parent)
  for key in data:
    np.testing.assert_array_equal(again[key], data[key])
  assert cifar.load_cifar10(tmp_path)["y_train"].dtype == np.int32  # a folder with it


def test_reads_batches_that_numpy_1_wrote(tmp_path):
  """The published batches name numpy 1's module; numpy 2 renamed it (numpy._core)."""
  contents = members()
  old = {name: raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
         for name, raw in contents.items()}
  assert all(b"numpy.core.multiarray\n_reconstruct" in raw for raw in old.values())
  data = cifar.load_cifar10(write_archive(tmp_path / "old.tar.gz", old))
  new = cifar.load_cifar10(write_archive(tmp_path / "new.tar.gz", contents))
  np.testing.assert_array_equal(data["x_train"], new["x_train"])


def test_a_truncated_or_wrong_archive_is_named(tmp_path):
  whole = write_archive(tmp_path / "whole.tar.gz", members()).read_bytes()
  cut = tmp_path / "cut.tar.gz"
  cut.write_bytes(whole[:len(whole) // 2])
  assert error_of(cut).startswith(f"dataset file '{cut}': truncated or not a gzipped tar")
  text = tmp_path / "text.tar.gz"
  text.write_bytes(gzip.compress(b"not a tar at all"))
  assert f"'{text}': truncated or not a gzipped tar" in error_of(text)
  assert f"'{tmp_path / 'absent'}': not found" in error_of(tmp_path / "absent")


def test_a_missing_batch_is_named(tmp_path):
  contents = members()
  del contents["data_batch_3"]
  archive = write_archive(tmp_path / "a.tar.gz", contents)
  assert f"'{archive}': has no member {cifar.FOLDER}/data_batch_3" in error_of(archive)
  folder = tmp_path / "folder"
  folder.mkdir()
  for name, raw in contents.items():
    (folder / name).write_bytes(raw)
  assert f"'{folder / 'data_batch_3'}': not found" in error_of(folder)


@pytest.mark.parametrize("overrides, expected", [
    ({b"labels": [1, 2]}, "2 labels for 3 images"),
    ({b"labels": [1, 2, 10]}, "labels must lie in 0-9, found 10"),
    ({b"labels": "abc"}, "'labels' must be a list of integers"),
    ({b"data": np.zeros((3, 3072), np.float32)}, "'data' is float32 of shape (3, 3072)"),
    ({b"data": np.zeros((3, 1024), np.uint8)}, "'data' is uint8 of shape (3, 1024)"),
])
def test_a_wrong_batch_is_named(tmp_path, overrides, expected):
  contents = members()
  contents["data_batch_2"] = batch(3, 9, overrides)
  archive = write_archive(tmp_path / "a.tar.gz", contents)
  message = error_of(archive)
  assert message.startswith(f"dataset file '{archive} ({cifar.FOLDER}/data_batch_2)': ")
  assert expected in message


class Exploit:
  def __reduce__(self):
    return (os.system, ("touch pwned",))


def test_a_hostile_pickle_is_refused_not_run(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  contents = members()
  contents["test_batch"] = pickle.dumps({b"data": Exploit()}, protocol=2)
  contents["data_batch_1"] = b"\x80\x02garbage"
  archive = write_archive(tmp_path / "a.tar.gz", contents)
  assert "not a CIFAR-10 batch" in error_of(archive)
  del contents["data_batch_1"]
  write_archive(archive, {**members(), "test_batch": contents["test_batch"]})
  message = error_of(archive)
  assert "refused, not run" in message and "system" in message
  assert not (tmp_path / "pwned").exists()
