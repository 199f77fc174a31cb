"""Text for next-token prediction: the user's own file or folder, or a built-in corpus.

``load_text(path, mode, context, fractions)`` reads the text once and returns its
train, validation and test token arrays (:class:`TextData`):

- ``mode: bytes``: every byte is a token (vocabulary 256), any file at all. A single
  file is memory-mapped (``np.memmap``) and the splits are views of it: nothing is
  copied. A folder's files (every non-hidden file below it, in sorted order of their
  relative paths) are read once into one ``uint8`` array.
- ``mode: chars``: the text is decoded as UTF-8 and every character is a token. The
  vocabulary is the characters of the *training* split only, sorted by code point,
  ids ``1..V``; a character of the validation or test split that training never saw
  becomes id ``0`` (:data:`UNKNOWN`), so ``vocab_size = V + 1``. Memory while
  loading: the bytes, 4 bytes per character (the code points) and the tokens
  (``uint16`` when ``vocab_size <= 65536``, else ``int32``), which alone are kept.

The splits are contiguous blocks by position: the first ``fractions[0]`` of the
tokens train, the next ``fractions[1]`` validate and the rest test, so no text is in
two splits (a window of one split never reaches into another). Every split with a
non-zero fraction must hold ``context + 1`` tokens, one window and its labels.

Windows: the example starting at ``s`` is ``x = tokens[s : s + context]`` with the
next tokens ``y = tokens[s + 1 : s + context + 1]`` as labels. :func:`windows`
gathers a batch of them from the token array by start offsets (no window is copied
before its batch needs it; 8 bytes of memory per start offset, from
:func:`window_starts`); :func:`window_arrays` materializes all windows of a split,
``2 * n_windows * context * itemsize`` bytes, for code that wants ``[N, context]``
arrays (with ``stride == context`` that is twice the split).

The built-in corpus :data:`BUILTIN` (``python_stdlib``) is 2,000,246 bytes of the
Python standard library's own source: the 212 ``.py`` files (listed below) that are
byte-identical in CPython 3.11.2 (Debian's build), 3.11.7, 3.12.1 and 3.13.0, read from
the running interpreter's standard library. 115 of them are the ``encodings``
package's codec modules (mostly generated character tables, 68% of the bytes), so the
files come in the order of :func:`stdlib_order`: the other modules and the codecs,
each in path order, merged so that every split holds the same mix. The bytes used
(each file's, ``\\r\\n`` read as ``\\n``, joined) are pinned by :data:`STDLIB_SHA256`;
under a Python whose files differ, loading it is a :class:`ConfigError` naming what to
do, never a silently different corpus.

Every mistake is a :class:`ConfigError` of one line naming the file or the config key.
"""

from __future__ import annotations

import hashlib
import pathlib
import platform
import sysconfig
from typing import NamedTuple, Optional, Sequence

import numpy as np

from ..errors import ConfigError

__all__ = ["BUILTIN", "MODES", "STDLIB_SHA256", "TextData", "UNKNOWN", "load_text",
           "stdlib_bytes", "stdlib_files", "window_arrays", "window_starts", "windows"]

BUILTIN = "python_stdlib"
MODES = ("bytes", "chars")
UNKNOWN = 0  # the id of a character (chars mode) that the training split never holds
STDLIB_SHA256 = "50f80d5457afa4575d663c3ba3e35f7a020c46d89b675af6cfbecd3312fcb60b"
STDLIB_VERIFIED = "CPython 3.11.2 (Debian), 3.11.7, 3.12.1 and 3.13.0"

# The standard library's modules (paths without ".py") byte-identical in the
# versions of STDLIB_VERIFIED, outside test/, idlelib/ and lib2to3/.
STDLIB_MODULES = """
__future__ __hello__ __phello__/__init__ __phello__/spam _compression _markupbase _py_abc
_sitebuiltins _threading_local _weakrefset antigravity asyncio/exceptions asyncio/log
asyncio/mixins asyncio/protocols asyncio/threads asyncio/trsock asyncio/windows_utils
concurrent/__init__ concurrent/futures/_base contextvars curses/__init__ curses/has_key
curses/panel difflib email/_encoded_words email/contentmanager email/headerregistry
email/mime/__init__ email/mime/application email/mime/image email/quoprimime
ensurepip/__main__ ensurepip/_uninstall graphlib heapq importlib/metadata/_collections
importlib/metadata/_functools importlib/metadata/_itertools importlib/metadata/_text
importlib/readers importlib/simple json/__init__ json/scanner multiprocessing/__init__
multiprocessing/dummy/__init__ multiprocessing/dummy/connection multiprocessing/heap
multiprocessing/popen_forkserver multiprocessing/popen_spawn_posix
multiprocessing/reduction multiprocessing/sharedctypes nturl2path optparse pyclbr
pydoc_data/__init__ sre_compile sre_constants sre_parse string stringprep struct this
tomllib/__init__ tomllib/_parser tomllib/_re tomllib/_types tracemalloc unittest/__main__
unittest/_log unittest/signals unittest/suite unittest/util urllib/__init__
urllib/response urllib/robotparser weakref wsgiref/__init__ wsgiref/headers wsgiref/types
xml/__init__ xml/dom/NodeFilter xml/dom/__init__ xml/dom/domreg xml/dom/minicompat
xml/dom/pulldom xml/dom/xmlbuilder xml/etree/ElementPath xml/etree/__init__
xml/etree/cElementTree xml/parsers/__init__ xml/parsers/expat xml/sax/handler
xml/sax/saxutils xmlrpc/__init__ zoneinfo/__init__ zoneinfo/_common
"""
# The same for the encodings package (encodings/NAME.py).
STDLIB_CODECS = """
__init__ ascii base64_codec big5 big5hkscs bz2_codec charmap cp037 cp1006 cp1026 cp1125
cp1140 cp1250 cp1251 cp1252 cp1253 cp1254 cp1255 cp1256 cp1257 cp1258 cp273 cp424 cp437
cp500 cp720 cp737 cp775 cp850 cp852 cp855 cp856 cp857 cp858 cp860 cp861 cp862 cp863 cp864
cp865 cp866 cp869 cp874 cp875 cp932 cp949 cp950 euc_jis_2004 euc_jisx0213 euc_jp euc_kr
gb18030 gb2312 gbk hex_codec hp_roman8 hz iso2022_jp iso2022_jp_1 iso2022_jp_2
iso2022_jp_2004 iso2022_jp_3 iso2022_jp_ext iso2022_kr iso8859_1 iso8859_10 iso8859_11
iso8859_13 iso8859_14 iso8859_15 iso8859_16 iso8859_2 iso8859_3 iso8859_4 iso8859_5
iso8859_6 iso8859_7 iso8859_8 iso8859_9 johab koi8_r koi8_t koi8_u kz1048 latin_1
mac_arabic mac_croatian mac_cyrillic mac_farsi mac_greek mac_iceland mac_latin2 mac_roman
mac_romanian mac_turkish mbcs oem palmos ptcp154 quopri_codec raw_unicode_escape shift_jis
shift_jis_2004 shift_jisx0213 tis_620 unicode_escape utf_16_be utf_16_le utf_32_be
utf_32_le utf_7 utf_8 utf_8_sig uu_codec zlib_codec
"""


class TextData(NamedTuple):
  """A text's three splits as token arrays, and where the text came from."""

  train: np.ndarray  # [N_train] uint8 (bytes) or uint16/int32 (chars); maybe memory-mapped
  val: np.ndarray
  test: np.ndarray
  vocab_size: int  # 256 (bytes), or V + 1 (chars: id 0 is UNKNOWN)
  sha256: str  # of the bytes read (for the built-in corpus: the pinned value)
  source: str  # the file, the folder or the built-in corpus, in words
  mode: str
  context: int
  vocab: Optional[str] = None  # chars: the character of id i + 1 is vocab[i]


def load_text(path: str, mode: str = "bytes", context: int = 128,
              fractions: Sequence[float] = (0.8, 0.1, 0.1), sha256: Optional[str] = None,
              key: str = "dataset") -> TextData:
  """Reads a text once and splits its tokens into contiguous train/val/test blocks.

  Args:
    path: a text file, a folder of them, or :data:`BUILTIN`.
    mode: ``bytes`` (vocabulary 256) or ``chars`` (UTF-8 characters of the training split).
    context: the window length; every non-empty split holds at least ``context + 1`` tokens.
    fractions: the train, validation and test shares of the tokens, summing to 1; the
      training share is positive, a zero share gives an empty split.
    sha256: the SHA-256 (hex) the bytes read must have, to pin the user's own text.
    key: the config section, for the messages (``{key}.path``, ``{key}.context``...).

  Returns:
    The :class:`TextData`.

  Raises:
    ConfigError: a missing path, an empty text, a bad mode, context or fractions, a
      non-UTF-8 file in ``chars`` mode, a context longer than a split, or a checksum
      that differs.
  """
  fractions = _check_arguments(mode, context, fractions, key)
  if path == BUILTIN:
    raw, digest, source, files = _read_stdlib()
  else:
    raw, source, files = _read_path(path, key)
    digest = hashlib.sha256(raw).hexdigest()
  if sha256 is not None and digest != sha256.lower():
    raise ConfigError(f"config key '{key}.sha256': {source} hashes to {digest}, not the "
                      f"pinned {sha256}; the text changed (pin the new value if intended)")
  if mode == "bytes":
    tokens, vocab, vocab_size = raw, None, 256
    train, val, test = _split(tokens, fractions)
  else:
    codes = _code_points(raw, files, key)
    train, val, test = _split(codes, fractions)
    vocab_codes = np.unique(train)
    vocab_size = len(vocab_codes) + 1
    train, val, test = (_char_ids(part, vocab_codes) for part in (train, val, test))
    vocab = "".join(map(chr, vocab_codes.tolist()))
  total = sum(len(part) for part in (train, val, test))
  for name, part, share in zip(("train", "validation", "test"), (train, val, test),
                               fractions, strict=True):
    if share > 0 and len(part) < context + 1:
      raise ConfigError(f"config key '{key}.context': {context} needs {context + 1} tokens "
                        f"in every split; the {name} split of {source} has {len(part)} "
                        f"({share:g} of the text's {total} tokens, mode {mode})")
  return TextData(train, val, test, vocab_size, digest, source, mode, context, vocab)


def _check_arguments(mode: str, context: int, fractions, key: str) -> tuple:
  if mode not in MODES:
    raise ConfigError(f"config key '{key}.mode': {mode!r}; allowed: "
                      + ", ".join(map(repr, MODES)))
  if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 1:
    raise ConfigError(f"config key '{key}.context': {context!r}; expected a positive integer")
  try:
    shares = tuple(float(f) for f in fractions)
  except (TypeError, ValueError):
    shares = ()
  if (len(shares) != 3 or min(shares) < 0 or shares[0] <= 0
      or not np.isclose(sum(shares), 1.0)):
    raise ConfigError(f"config key '{key}.fractions': {fractions!r}; expected three "
                      "non-negative shares (train, validation, test) summing to 1, train > 0")
  return shares


def _split(tokens: np.ndarray, fractions: tuple) -> tuple:
  """Three contiguous views of ``tokens``: the shares of ``fractions``, in order."""
  n = len(tokens)
  first = int(round(fractions[0] * n))
  second = first + int(round(fractions[1] * n))
  second = min(second, n)
  return tokens[:first], tokens[first:second], tokens[second:]


def _read_path(path, key: str) -> tuple:
  """The bytes of a file (memory-mapped) or a folder (one array), its name and its files.

  ``files`` lists ``(start offset, path)`` of each file in the array, for messages.
  """
  where = pathlib.Path(path).expanduser()
  if where.is_file():
    if where.stat().st_size == 0:
      raise ConfigError(f"dataset file '{where}': empty; a text needs at least "
                        f"{key}.context + 1 tokens")
    return np.memmap(where, dtype=np.uint8, mode="r"), f"'{where}'", [(0, where)]
  if not where.is_dir():
    cwd = "" if where.is_absolute() else f" (a relative path is read from {pathlib.Path.cwd()})"
    raise ConfigError(f"dataset file '{where}': not found{cwd}; config key '{key}.path' "
                      f"takes a text file, a folder of text files or {BUILTIN!r}")
  members = sorted((p for p in where.rglob("*") if p.is_file()
                    and not any(part.startswith(".") for part in p.relative_to(where).parts)),
                   key=lambda p: p.relative_to(where).as_posix())
  sizes = [p.stat().st_size for p in members]
  if sum(sizes) == 0:
    raise ConfigError(f"dataset file '{where}': a folder with no text (no non-hidden, "
                      "non-empty files below it)")
  raw, files, offset = np.empty(sum(sizes), np.uint8), [], 0
  for member, size in zip(members, sizes, strict=True):
    with open(member, "rb") as f:
      got = f.readinto(memoryview(raw[offset:offset + size]))
    if got != size:
      raise ConfigError(f"dataset file '{member}': changed while it was read")
    files.append((offset, member))
    offset += size
  return raw, f"the folder '{where}' ({len(members)} files)", files


def _code_points(raw: np.ndarray, files: list, key: str) -> np.ndarray:
  """The text's characters as ``uint32`` code points; not UTF-8 is a ConfigError."""
  try:
    text = bytes(raw).decode("utf-8")
  except UnicodeDecodeError as error:
    offset, name = max((f for f in files if f[0] <= error.start), key=lambda f: f[0])
    raise ConfigError(f"dataset file '{name}': not UTF-8 at byte {error.start - offset} "
                      f"({error.reason}); config key '{key}.mode': 'chars' reads UTF-8 "
                      "text, 'bytes' reads any file") from None
  return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _char_ids(codes: np.ndarray, vocab_codes: np.ndarray) -> np.ndarray:
  """Each code point's id: ``1 +`` its place in ``vocab_codes``, :data:`UNKNOWN` if absent."""
  dtype = np.uint16 if len(vocab_codes) + 1 <= 1 << 16 else np.int32
  if not len(codes):
    return np.zeros(0, dtype)
  place = np.minimum(np.searchsorted(vocab_codes, codes), len(vocab_codes) - 1)
  return np.where(vocab_codes[place] == codes, place + 1, UNKNOWN).astype(dtype)


def stdlib_files() -> list[str]:
  """The built-in corpus's files, relative to the standard library, in corpus order."""
  modules = [f"{name}.py" for name in STDLIB_MODULES.split()]
  codecs = [f"encodings/{name}.py" for name in STDLIB_CODECS.split()]
  return stdlib_order(sorted(modules), sorted(codecs), _stdlib_root())


def stdlib_order(first: list[str], second: list[str], root: pathlib.Path) -> list[str]:
  """Two lists of files merged, each kept in its order, so that the bytes of ``first``
  are as near as may be the same share of every prefix of the result.

  Contiguous splits of the result then hold the two kinds of file in one mix.
  """
  size = lambda name: (root / name).stat().st_size if (root / name).is_file() else 1
  first_sizes, second_sizes = [size(n) for n in first], [size(n) for n in second]
  share = sum(first_sizes) / (sum(first_sizes) + sum(second_sizes))
  merged, i, j, taken_first, taken = [], 0, 0, 0, 0
  while i < len(first) or j < len(second):
    if j == len(second) or (i < len(first) and taken_first <= share * taken):
      merged.append(first[i])
      taken_first, taken, i = taken_first + first_sizes[i], taken + first_sizes[i], i + 1
    else:
      merged.append(second[j])
      taken, j = taken + second_sizes[j], j + 1
  return merged


def _stdlib_root() -> pathlib.Path:
  return pathlib.Path(sysconfig.get_paths()["stdlib"])


def stdlib_bytes() -> tuple[bytes, list]:
  """The built-in corpus's bytes as read from this Python, unchecked, and its files.

  Returns:
    ``(raw, files)``: the files' bytes (``\\r\\n`` read as ``\\n``) joined in
    :func:`stdlib_files` order, and ``(start offset, path)`` of each file.

  Raises:
    ConfigError: a file of the list is missing from this Python.
  """
  root = _stdlib_root()
  parts, files, offset = [], [], 0
  for name in stdlib_files():
    try:
      data = (root / name).read_bytes().replace(b"\r\n", b"\n")
    except OSError:
      raise ConfigError(f"dataset {BUILTIN!r}: '{root / name}' is missing from the "
                        f"standard library of this Python {platform.python_version()} (the "
                        f"corpus is the same in {STDLIB_VERIFIED}); run under one of those, "
                        "or give a text of your own as dataset.path") from None
    parts.append(data)
    files.append((offset, root / name))
    offset += len(data)
  return b"".join(parts), files


def _read_stdlib() -> tuple:
  """The built-in corpus's bytes, checked against :data:`STDLIB_SHA256`."""
  raw, files = stdlib_bytes()
  digest, version = hashlib.sha256(raw).hexdigest(), platform.python_version()
  if digest != STDLIB_SHA256:
    raise ConfigError(
        f"dataset {BUILTIN!r}: the {len(files)} standard-library files of this Python "
        f"{version} ({_stdlib_root()}) hash to {digest}, not the pinned {STDLIB_SHA256} "
        f"(the same in {STDLIB_VERIFIED}); run under one of those, or copy their files "
        "into a folder and give it as dataset.path")
  source = f"{BUILTIN} ({len(files)} files of the Python {version} standard library)"
  return np.frombuffer(raw, dtype=np.uint8), digest, source, files


def window_starts(length: int, context: int, stride: int) -> np.ndarray:
  """The start offsets ``0, stride, 2 * stride...`` of every window in a split.

  Args:
    length: the split's number of tokens.
    context: the window length.
    stride: the step between starts (``context``: windows that do not overlap).

  Returns:
    ``int64`` offsets ``s`` with ``s + context + 1 <= length`` (8 bytes a window).
  """
  if stride < 1:
    raise ConfigError(f"config key 'dataset.stride': {stride!r}; expected a positive integer")
  return np.arange(0, max(length - context, 0), stride, dtype=np.int64)


def windows(tokens, starts, context: int):
  """The windows starting at ``starts`` and their next-token labels, gathered from
  ``tokens``; both NumPy arrays, or both JAX arrays (inside ``jit``: one gather).

  Args:
    tokens: a split's tokens, ``[T]``.
    starts: ``[n]`` offsets from :func:`window_starts` (``s + context < T``).
    context: the window length.

  Returns:
    ``(x, y)``, each ``[n, context]`` of the tokens' dtype: ``y[i, t] = x[i, t + 1]``,
    and ``y[i, -1]`` is the token after the window.
  """
  offsets = starts[:, None] + np.arange(context + 1)
  gathered = tokens[offsets]
  return gathered[:, :-1], gathered[:, 1:]


def window_arrays(tokens: np.ndarray, context: int, stride: int) -> tuple:
  """Every window of a split with its labels, materialized.

  Memory: ``2 * n * context * tokens.itemsize`` bytes for ``n`` windows (about
  ``2 * len(tokens) * context / stride * itemsize``); gather batches with
  :func:`windows` instead when that is too much.

  Args:
    tokens: a split's tokens.
    context: the window length.
    stride: the step between window starts.

  Returns:
    ``(x, y)``, each ``[n, context]`` (``n = 0`` for a split too short for one window).
  """
  return windows(np.asarray(tokens), window_starts(len(tokens), context, stride), context)
