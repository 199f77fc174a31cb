"""Text for next-token prediction (``experiments/data/text.py``): contiguous disjoint
splits, the pinned built-in corpus, a vocabulary of the training split only, windows
whose labels are the inputs shifted by one, and every bad input as one ConfigError line."""

from __future__ import annotations

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.data import text
from experiments.errors import ConfigError


def write(tmp_path, name: str, content: bytes):
  path = tmp_path / name
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(content)
  return path


@pytest.fixture(scope="module")
def builtin() -> text.TextData:
  return text.load_text(text.BUILTIN, "bytes", context=64)


def test_splits_are_contiguous_disjoint_and_cover_the_text(tmp_path):
  content = bytes(range(256)) * 40
  path = write(tmp_path, "t.bin", content)
  data = text.load_text(str(path), "bytes", context=8, fractions=(0.7, 0.2, 0.1))
  assert bytes(np.concatenate([data.train, data.val, data.test])) == content
  assert (len(data.train), len(data.val), len(data.test)) == (7168, 2048, 1024)
  assert data.vocab_size == 256 and data.train.dtype == np.uint8
  assert isinstance(data.train.base, np.memmap) or isinstance(data.train, np.memmap)
  assert data.sha256 == hashlib.sha256(content).hexdigest()


def test_a_folder_is_read_in_sorted_order_without_hidden_files(tmp_path):
  write(tmp_path, "b/2.txt", b"world\n")
  write(tmp_path, "a.txt", b"hello ")
  write(tmp_path, ".hidden/x.txt", b"secret")
  data = text.load_text(str(tmp_path), "bytes", context=2, fractions=(0.5, 0.25, 0.25))
  assert bytes(np.concatenate([data.train, data.val, data.test])) == b"hello world\n"
  assert "2 files" in data.source


def test_builtin_corpus_is_pinned_and_its_splits_hold_the_same_mix(builtin):
  assert builtin.sha256 == text.STDLIB_SHA256
  total = len(builtin.train) + len(builtin.val) + len(builtin.test)
  assert total == 2_000_246 and len(text.stdlib_files()) == 212
  assert abs(len(builtin.train) / total - 0.8) < 1e-5
  codec_share = lambda part: bytes(part).count(b"-> LATIN") / len(part)
  assert 0.5 < codec_share(builtin.val) / codec_share(builtin.train) < 2.0
  assert 0.5 < codec_share(builtin.test) / codec_share(builtin.train) < 2.0


def test_builtin_checksum_mismatch_is_one_line_naming_the_way_out(monkeypatch):
  monkeypatch.setattr(text, "STDLIB_SHA256", "0" * 64)
  with pytest.raises(ConfigError) as error:
    text.load_text(text.BUILTIN, "bytes", context=8)
  message = str(error.value)
  assert "\n" not in message and "python_stdlib" in message and "0" * 64 in message
  assert "3.13.0" in message and "dataset.path" in message


def test_user_checksum_pins_the_text(tmp_path):
  path = write(tmp_path, "t.txt", b"abcdefghij" * 10)
  good = hashlib.sha256(b"abcdefghij" * 10).hexdigest()
  assert text.load_text(str(path), context=4, sha256=good.upper()).sha256 == good
  with pytest.raises(ConfigError, match=r"^config key 'dataset.sha256': '.*t.txt' hashes"):
    text.load_text(str(path), context=4, sha256="1" * 64)


def test_vocabulary_is_built_from_the_training_split_only(tmp_path):
  path = write(tmp_path, "t.txt", ("abcab" * 16 + "é€z" + "ab" * 8 + "a").encode())
  data = text.load_text(str(path), "chars", context=4, fractions=(0.8, 0.0, 0.2))
  assert data.vocab == "abc" and data.vocab_size == 4 and data.train.dtype == np.uint16
  assert len(data.val) == 0
  decoded = "".join("?" if t == text.UNKNOWN else data.vocab[t - 1] for t in data.test)
  assert decoded == "???" + "ab" * 8 + "a"
  assert np.all(data.train > 0)


def test_chars_split_by_characters_not_bytes(tmp_path):
  path = write(tmp_path, "t.txt", ("é" * 50 + "a" * 50).encode())
  data = text.load_text(str(path), "chars", context=4, fractions=(0.5, 0.25, 0.25))
  assert len(data.train) == 50 and data.vocab == "é"
  assert set(data.val.tolist()) == {text.UNKNOWN}


def test_windows_labels_are_the_inputs_shifted_by_one():
  tokens = np.arange(100, dtype=np.uint16) * 3
  starts = text.window_starts(len(tokens), 10, 7)
  assert starts[-1] + 10 + 1 <= 100 and starts[-1] + 7 + 10 + 1 > 100
  x, y = text.windows(tokens, starts, 10)
  assert x.shape == y.shape == (len(starts), 10) and x.dtype == np.uint16
  np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
  np.testing.assert_array_equal(y[:, -1], tokens[starts + 10])
  jx, jy = jax.jit(text.windows, static_argnums=2)(jnp.asarray(tokens), jnp.asarray(starts),
                                                   10)
  np.testing.assert_array_equal(np.asarray(jx), x)
  np.testing.assert_array_equal(np.asarray(jy), y)


def test_window_arrays_with_a_stride(builtin):
  x, y = text.window_arrays(builtin.test, 64, 64)
  assert x.shape == ((len(builtin.test) - 64 - 1) // 64 + 1, 64)
  np.testing.assert_array_equal(x.reshape(-1)[:640], builtin.test[:640])
  np.testing.assert_array_equal(y[:, :-1], x[:, 1:])
  assert text.window_arrays(np.zeros(5, np.uint8), 8, 1)[0].shape == (0, 8)


@pytest.mark.parametrize("content, kwargs, pattern", [
    (None, {}, r"^dataset file '.*missing.txt': not found"),
    (b"", {}, r"^dataset file '.*t.txt': empty"),
    (b"ok \xff\xfe bad", {"mode": "chars", "context": 2},
     r"^dataset file '.*t.txt': not UTF-8 at byte 3 .*'dataset.mode'"),
    (b"0123456789" * 10, {"context": 10},
     r"^config key 'dataset.context': 10 needs 11 tokens in every split; the validation"),
    (b"0123456789", {"context": 200},
     r"^config key 'dataset.context': 200 needs 201 tokens in every split; the train"),
    (b"0123456789", {"mode": "words"}, r"^config key 'dataset.mode': 'words'; allowed"),
    (b"0123456789", {"context": 0}, r"^config key 'dataset.context': 0; expected"),
    (b"0123456789", {"fractions": (0.5, 0.5)}, r"^config key 'dataset.fractions'"),
    (b"0123456789", {"fractions": (0.0, 0.5, 0.5)}, r"^config key 'dataset.fractions'"),
])
def test_bad_input_is_one_line_naming_the_file_or_key(tmp_path, content, kwargs, pattern):
  path = tmp_path / ("missing.txt" if content is None else "t.txt")
  if content is not None:
    path.write_bytes(content)
  arguments = {"context": 4} | kwargs
  with pytest.raises(ConfigError, match=pattern) as error:
    text.load_text(str(path), **arguments)
  assert "\n" not in str(error.value)


def test_bad_file_in_a_folder_is_named(tmp_path):
  write(tmp_path, "a.txt", "fine text ".encode() * 5)
  write(tmp_path, "b.txt", b"\x80")
  with pytest.raises(ConfigError, match=r"^dataset file '.*b.txt': not UTF-8 at byte 0"):
    text.load_text(str(tmp_path), "chars", context=2)
  (tmp_path / "a.txt").write_bytes(b"")
  (tmp_path / "b.txt").write_bytes(b"")
  with pytest.raises(ConfigError, match=r"^dataset file '.*': a folder with no text"):
    text.load_text(str(tmp_path), context=2)
