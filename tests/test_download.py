"""Datasets by name (experiments/data/download.py) against a real HTTP server on 127.0.0.1,
and the CIFAR-10 reader (experiments/data/cifar.py) on archives made here.

The server serves small files in the datasets' real formats (gzipped IDX files, a
cifar-10-python.tar.gz of tiny pickled batches); the known checksums are patched to
theirs. It can serve wrong bytes or cut a file short, and counts the requests.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import pickle
import socket
import struct
import sys
import tarfile
import threading

import numpy as np
import pytest

from experiments.data import cifar, download, idx
from experiments.errors import ConfigError

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_gz(array: np.ndarray) -> bytes:
  """``array`` (uint8) as a gzipped IDX file, as LeCun's files are."""
  header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
  return gzip.compress(header + array.tobytes(), mtime=0)


def mnist_like(seed: int = 0):
  """The four files of a 5-train / 3-test MNIST, and its arrays."""
  rng = np.random.default_rng(seed)
  arrays = {"train_x": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
            "train_y": rng.integers(0, 10, 5, dtype=np.uint8),
            "test_x": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            "test_y": rng.integers(0, 10, 3, dtype=np.uint8)}
  files = {file: idx_gz(arrays[key]) for file, key in
           zip(MNIST_FILES, ("train_x", "train_y", "test_x", "test_y"), strict=True)}
  return files, arrays


def cifar_batch(n: int, seed: int, labels=None) -> bytes:
  """A batch as CIFAR-10 pickles it (protocol 2, bytes keys): 'data' [n, 3072] uint8."""
  rng = np.random.default_rng(seed)
  data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
  labels = list(rng.integers(0, 10, n)) if labels is None else labels
  return pickle.dumps({b"batch_label": b"batch", b"data": data,
                       b"labels": [int(v) for v in labels]}, protocol=2)


def cifar_archive(members: dict[str, bytes]) -> bytes:
  buffer = io.BytesIO()
  with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
    for name, data in members.items():
      info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
      info.size = len(data)
      tar.addfile(info, io.BytesIO(data))
  return buffer.getvalue()


def cifar_members(n: int = 4) -> dict[str, bytes]:
  return {name: cifar_batch(n, seed) for seed, name in enumerate(cifar.BATCHES)}


class Handler(http.server.BaseHTTPRequestHandler):
  """Serves ``server.files``; ``server.modes[path]``: 'corrupt' (wrong bytes) or 'short'
  (half the body, then the connection closes)."""

  def do_GET(self):
    self.server.requests.append(self.path)
    body = self.server.files.get(self.path)
    if body is None:
      self.send_error(404)
      return
    mode = self.server.modes.get(self.path)
    if mode == "corrupt":
      body = bytes(b ^ 0x5A for b in body)
    self.send_response(200)
    self.send_header("Content-Length", str(len(body)))
    self.end_headers()
    self.wfile.write(body[:len(body) // 2] if mode == "short" else body)

  def log_message(self, *args):
    del args


@pytest.fixture
def server():
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
  httpd.files, httpd.modes, httpd.requests = {}, {}, []
  httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
  thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
  thread.start()
  yield httpd
  httpd.shutdown()
  httpd.server_close()
  thread.join()


@pytest.fixture
def cache(tmp_path, monkeypatch):
  """An empty cache folder, and no mirror from the environment."""
  monkeypatch.setenv(download.HOME_ENV, str(tmp_path / "cache"))
  monkeypatch.delenv(download.MIRROR_ENV, raising=False)
  return tmp_path / "cache"


def serve(monkeypatch, server, name: str, files: dict[str, bytes], mirrors=None) -> None:
  """Serves ``files`` as dataset ``name``, the module's tables patched to them."""
  for file, body in files.items():
    server.files[f"/{name}/{file}"] = body
  sums = {file: download.Published(hashlib.md5(body).hexdigest(),
                                   hashlib.sha256(body).hexdigest())
          for file, body in files.items()}
  monkeypatch.setitem(download.CHECKSUMS, name, sums)
  monkeypatch.setitem(download.MIRRORS, name, mirrors or (f"{server.url}/{name}/",))


def closed_port_url() -> str:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return f"http://127.0.0.1:{s.getsockname()[1]}"


def leftovers(folder) -> list[str]:
  return sorted(p for p in os.listdir(folder) if p.endswith(".part")) if folder.exists() else []


def test_download_into_an_empty_cache_then_nothing_more(server, cache, monkeypatch, capsys):
  files, arrays = mnist_like()
  serve(monkeypatch, server, "mnist", files)
  folder = download.locate("mnist")
  assert folder == cache / "mnist"
  assert sorted(os.listdir(folder)) == sorted(MNIST_FILES)  # no temporary file left
  assert {(folder / f).read_bytes() == body for f, body in files.items()} == {True}
  read = idx.read_folder(folder)
  for key, expected in arrays.items():
    np.testing.assert_array_equal(read[key], expected)
  assert len(server.requests) == 4
  assert download.locate("mnist") == folder and download.cached("mnist") == folder
  assert len(server.requests) == 4  # the second call downloads nothing
  assert capsys.readouterr().err == ""  # no progress bar: stderr is not a terminal


def test_cifar10_downloads_and_reads_as_nhwc(server, cache, monkeypatch):
  members = cifar_members()
  serve(monkeypatch, server, "cifar10", {cifar.ARCHIVE: cifar_archive(members)})
  folder = download.locate("cifar10")
  assert os.listdir(folder) == [cifar.ARCHIVE]
  data = cifar.load_cifar10(folder)
  assert data["x_train"].shape == (20, 32, 32, 3) and data["x_train"].dtype == np.uint8
  assert data["x_test"].shape == (4, 32, 32, 3) and data["y_test"].dtype == np.int32
  first = pickle.loads(members["data_batch_1"], encoding="bytes")
  row = first[b"data"][1]  # 1024 red, then green, then blue, each row-major
  np.testing.assert_array_equal(data["x_train"][1, 2, 5], row[[2 * 32 + 5, 1024 + 69, 2048 + 69]])
  np.testing.assert_array_equal(data["y_train"][:4], first[b"labels"])
  assert len(server.requests) == 1


def one_line_error(call) -> str:
  with pytest.raises(ConfigError) as error:
    call()
  assert "\n" not in str(error.value)
  return str(error.value)


def test_a_corrupted_download_is_deleted_and_named(server, cache, monkeypatch):
  files, _ = mnist_like()
  serve(monkeypatch, server, "mnist", files)
  server.modes["/mnist/t10k-images-idx3-ubyte.gz"] = "corrupt"
  message = one_line_error(lambda: download.locate("mnist"))
  assert f"'{cache / 'mnist' / 't10k-images-idx3-ubyte.gz'}'" in message
  assert "SHA-256" in message and "deleted" in message
  assert not (cache / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
  assert leftovers(cache / "mnist") == []


def test_an_interrupted_download_leaves_nothing(server, cache, monkeypatch):
  files, _ = mnist_like()
  serve(monkeypatch, server, "mnist", files)
  server.modes["/mnist/train-images-idx3-ubyte.gz"] = "short"
  message = one_line_error(lambda: download.locate("mnist"))
  assert "train-images-idx3-ubyte.gz" in message and "closed after" in message
  assert not (cache / "mnist" / "train-images-idx3-ubyte.gz").exists()
  assert leftovers(cache / "mnist") == []
  server.modes.clear()  # the mirror is whole again: the next call completes the cache
  assert idx.find_split_files(download.locate("mnist")) is not None


def test_offline_names_the_folder_and_the_files(cache, monkeypatch):
  monkeypatch.setitem(download.MIRRORS, "fashion_mnist", (f"{closed_port_url()}/x/",))
  message = one_line_error(lambda: download.locate("fashion_mnist"))
  assert f"in '{cache / 'fashion_mnist'}'" in message and "dataset.path" in message
  assert all(file in message for file in MNIST_FILES)
  assert download.cached("fashion_mnist") is None


def test_a_different_file_already_there_is_used_with_one_warning(server, cache, monkeypatch,
                                                                 caplog):
  files, _ = mnist_like()
  serve(monkeypatch, server, "mnist", files)
  (cache / "mnist").mkdir(parents=True)
  for name, content in files.items():
    (cache / "mnist" / name).write_bytes(content)
  own = cache / "mnist" / "train-labels-idx1-ubyte.gz"
  own.write_bytes(b"a re-compressed copy")
  with caplog.at_level("WARNING", logger=download.__name__):
    assert download.locate("mnist") == cache / "mnist"
    download.locate("mnist")
  said = [r.getMessage() for r in caplog.records]
  assert len(said) == 1 and f"'{own}'" in said[0] and "your own copy" in said[0]
  assert server.requests == [] and own.read_bytes() == b"a re-compressed copy"


def test_mirrors_in_order_the_environment_first(server, cache, monkeypatch):
  files, _ = mnist_like()
  serve(monkeypatch, server, "mnist", files,
        mirrors=(f"{closed_port_url()}/mnist", f"{server.url}/missing/", f"{server.url}/mnist"))
  download.locate("mnist")  # the first mirror is down, the second answers 404
  assert server.requests.count("/missing/train-images-idx3-ubyte.gz") == 1
  monkeypatch.setenv(download.HOME_ENV, str(cache / "again"))
  monkeypatch.setitem(download.MIRRORS, "mnist", (f"{closed_port_url()}/mnist/",))
  monkeypatch.setenv(download.MIRROR_ENV, server.url + "/")
  assert download.mirrors("mnist")[0] == f"{server.url}/mnist/"
  assert sorted(os.listdir(download.locate("mnist"))) == sorted(MNIST_FILES)


class Terminal(io.StringIO):
  def isatty(self):
    return True


def test_the_progress_bar_shows_on_a_terminal_unless_turned_off(server, cache, monkeypatch):
  files, _ = mnist_like()
  serve(monkeypatch, server, "mnist", files)
  monkeypatch.setattr("sys.stderr", Terminal())
  monkeypatch.delenv("TQDM_DISABLE", raising=False)
  download.locate("mnist", progress=False)
  assert sys.stderr.getvalue() == ""
  monkeypatch.setenv(download.HOME_ENV, str(cache / "again"))
  download.locate("mnist")
  assert "downloading train-images-idx3-ubyte.gz" in sys.stderr.getvalue()


def test_data_home_precedence(tmp_path, monkeypatch):
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  monkeypatch.delenv(download.HOME_ENV, raising=False)
  monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
  assert download.data_home() == tmp_path / "home" / ".cache" / "dualprocess" / "data"
  monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute only
  assert download.data_home() == tmp_path / "home" / ".cache" / "dualprocess" / "data"
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
  assert download.data_home() == tmp_path / "xdg" / "dualprocess" / "data"
  monkeypatch.setenv(download.HOME_ENV, str(tmp_path / "own"))
  assert download.data_home() == tmp_path / "own"


def test_the_recorded_files_and_an_unknown_name():
  assert download.file_names("mnist") == download.file_names("fashion_mnist") == MNIST_FILES
  assert download.file_names("cifar10") == (cifar.ARCHIVE,)
  assert download.CHECKSUMS["cifar10"][cifar.ARCHIVE].md5 == "c58f30108f718f92721af3b95e74349a"
  for sums in (s for table in download.CHECKSUMS.values() for s in table.values()):
    assert len(sums.md5) == 32 and (sums.sha256 is None or len(sums.sha256) == 64)
  assert "known: mnist" in one_line_error(lambda: download.locate("cifar100"))
