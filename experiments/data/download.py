"""Real datasets by name: their published files, found in a cache folder or downloaded once.

``mnist``, ``fashion_mnist`` and ``cifar10`` are the files their authors publish, kept
under one cache folder (:func:`data_home`), one sub-folder per dataset. A file missing
there is downloaded from the dataset's public mirrors, tried in order, and kept only if
its checksums match the recorded ones: it is written to a temporary file in the same
folder, checked, then renamed, so an interrupted or corrupted download never leaves
anything under the final name. A file already there is used and never replaced; where
its checksums differ from the published ones (a re-compressed copy, say) one warning
line says so, and its format is checked when it is read.

Every failure is a :class:`ConfigError` of one line (the command line exits 2): offline,
it names the folder and the exact files to put there, or ``dataset.path`` to set.

The mirrors are overridable: :data:`MIRRORS` is a module-level table of base URLs, and
``$DUALPROCESS_DATA_MIRROR`` names one more base URL tried first, laid out like the
cache folder (``<mirror>/<dataset>/<file>``), so a served copy of a cache folder is a
mirror (tests point both at a server on 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import pathlib
import sys
import tempfile
import urllib.error
import urllib.request
from typing import NamedTuple, Optional

from ..errors import ConfigError

__all__ = ["CHECKSUMS", "MIRRORS", "cached", "data_home", "file_names", "locate", "mirrors"]

HOME_ENV = "DUALPROCESS_DATA"
MIRROR_ENV = "DUALPROCESS_DATA_MIRROR"
TIMEOUT_S = 30.0  # per connection attempt and per read: a stalled mirror counts as down
CHUNK = 1 << 20
USER_AGENT = "dualprocess-data/1 (Python urllib)"
_log = logging.getLogger(__name__)


class Published(NamedTuple):
  """A file's checksums: the MD5 its dataset's page publishes, and the SHA-256 recorded
  here where it is known for certain (None where not)."""
  md5: str
  sha256: Optional[str] = None


# MNIST: LeCun's page publishes no checksums; these MD5s are the ones torchvision (and
# every other loader) records for his files. The SHA-256s are those TensorFlow Datasets,
# torchvision's prototype datasets and others record for the same files (9,912,422,
# 28,881, 1,648,877 and 4,542 bytes). Fashion-MNIST: the MD5s its README publishes; the
# SHA-256s as recorded by the same loaders (26,421,880, 29,515, 4,422,102 and 5,148
# bytes). CIFAR-10: the MD5 its page publishes; the SHA-256 Keras records (170,498,071
# bytes). Debian's dataset-fashion-mnist recompressed its files: their bytes, and so
# their checksums, differ from these (the images inside are read as a user's copy).
CHECKSUMS: dict[str, dict[str, Published]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": Published(
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": Published(
            "d53e105ee54ea40749a09fcbcd1e9432",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": Published(
            "9fb629c4189551a2d022fa330f9573f3",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": Published(
            "ec29112dd5afa0611ce80d1b7f02629c",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": Published(
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": Published(
            "25c81989df183df01b3e8a0aad5dffbe",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": Published(
            "bef4ecab320f06d8554ea6380940ec79",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": Published(
            "bb300cfdad3c16e7a12a480ee83cd310",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
    "cifar10": {
        "cifar-10-python.tar.gz": Published(
            "c58f30108f718f92721af3b95e74349a",
            "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),
    },
}

# Base URLs, tried in order after $DUALPROCESS_DATA_MIRROR: the mirrors torchvision and
# Keras download from, then the authors' own pages.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion_mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}


class _Unreachable(Exception):
  """A mirror that gave no complete file (down, refused, timed out, cut off)."""


def data_home() -> pathlib.Path:
  """The cache folder: ``$DUALPROCESS_DATA`` if set, else ``$XDG_CACHE_HOME/dualprocess/data``
  (an absolute ``XDG_CACHE_HOME`` only, as the XDG spec asks), else
  ``~/.cache/dualprocess/data``."""
  own = os.environ.get(HOME_ENV)
  if own:
    return pathlib.Path(own).expanduser().absolute()
  xdg = os.environ.get("XDG_CACHE_HOME")
  base = pathlib.Path(xdg) if xdg and os.path.isabs(xdg) else pathlib.Path.home() / ".cache"
  return base / "dualprocess" / "data"


def file_names(name: str) -> tuple[str, ...]:
  """The files dataset ``name`` consists of, as its authors publish them."""
  return tuple(_table(name))


def mirrors(name: str) -> tuple[str, ...]:
  """The base URLs tried for ``name``, in order: ``$DUALPROCESS_DATA_MIRROR/<name>/`` if
  set, then :data:`MIRRORS`."""
  _table(name)
  extra = os.environ.get(MIRROR_ENV, "").strip()
  own = (f"{extra.rstrip('/')}/{name}/",) if extra else ()
  return own + tuple(MIRRORS.get(name, ()))


def cached(name: str) -> Optional[pathlib.Path]:
  """The dataset's folder if every file is there, else None; never downloads. A file
  whose checksums differ from the published ones is said once, in a warning."""
  folder = data_home() / name
  present = [_check_existing(folder / file, sums) for file, sums in _table(name).items()]
  return folder if all(present) else None


def locate(name: str, progress: bool = True) -> pathlib.Path:
  """The folder holding dataset ``name``'s files, downloading the missing ones.

  Args:
    name: ``mnist``, ``fashion_mnist`` or ``cifar10``.
    progress: False turns the download's progress bar off; it is off anyway when
      stderr is not a terminal (and with ``TQDM_DISABLE=1``).

  Returns:
    ``data_home() / name``, with every file of :func:`file_names` checked.

  Raises:
    ConfigError: a download fails its checksum (the copy is deleted); no mirror gives
      the file (offline); the folder can't be made; a file there cannot be read.
  """
  folder = data_home() / name
  table = _table(name)
  missing = [file for file, sums in table.items()
             if not _check_existing(folder / file, sums)]
  for i, file in enumerate(missing):
    _download(name, folder, file, missing[i:], progress)
  return folder


def _table(name: str) -> dict[str, Published]:
  if name not in CHECKSUMS:
    raise ConfigError(f"dataset '{name}': no published files known to download; known: "
                      + ", ".join(CHECKSUMS))
  return CHECKSUMS[name]


def _check_existing(path: pathlib.Path, sums: Published) -> bool:
  """Whether ``path`` is there; a copy whose checksums differ is the user's own, used as
  it is, with one warning (it is never downloaded again silently)."""
  if not path.is_file():
    return False
  hashes = _hashes()
  try:
    with path.open("rb") as f:
      while block := f.read(CHUNK):
        for h in hashes:
          h.update(block)
  except OSError as error:
    raise ConfigError(f"dataset file '{path}': cannot be read ({error.strerror or error}); "
                      "fix its permissions or delete it to download it again") from None
  wrong = _mismatch(hashes, sums)
  if wrong and path not in _warned:
    # A copy someone put there (re-compressed by a distribution, say) is theirs to use;
    # it is said once, never replaced, and its format is checked when it is read.
    _warned.add(path)
    _log.warning("dataset file '%s': %s; read as your own copy (delete it to download "
                 "the published one)", path, wrong)
  return True


_warned: set = set()  # files already said to differ from the published ones


def _hashes():
  return hashlib.md5(usedforsecurity=False), hashlib.sha256()


def _mismatch(hashes, sums: Published) -> Optional[str]:
  """What differs from the recorded checksums, or None."""
  md5, sha256 = (h.hexdigest() for h in hashes)
  if sums.sha256 is not None and sha256 != sums.sha256:
    return f"its SHA-256 is {sha256}, not the recorded {sums.sha256}"
  if md5 != sums.md5:
    return f"its MD5 is {md5}, not the published {sums.md5}"
  return None


def _download(name: str, folder: pathlib.Path, file: str, missing: list[str],
              progress: bool) -> None:
  """Fetches ``file`` from the first mirror that gives a complete copy with the right
  checksums; a wrong copy is deleted and the next mirror tried."""
  _make_folder(folder)
  failures, corrupt = [], None
  for base in mirrors(name):
    url = base if base.endswith("/") else base + "/"
    url += file
    _log.info("downloading %s into '%s'", url, folder)
    try:
      wrong = _fetch(url, folder / file, _table(name)[file], progress)
    except _Unreachable as error:
      failures.append(f"{url}: {error}")
      continue
    if wrong is None:
      return
    corrupt = corrupt or f"the copy downloaded from {url} was deleted: {wrong}"
  if corrupt:
    raise ConfigError(f"dataset file '{folder / file}': {corrupt}; try again later, set "
                      f"{MIRROR_ENV} to a mirror with the published file, or set "
                      "dataset.path to your copy")
  last = _one_line(failures[-1]) if failures else f"no mirror for '{name}'"
  raise ConfigError(f"dataset '{name}': cannot download {file} ({last}); put "
                    f"{', '.join(missing)} in '{folder}', or set dataset.path to your copy")


def _make_folder(folder: pathlib.Path) -> None:
  try:
    folder.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise ConfigError(f"dataset folder '{folder}': cannot be created "
                      f"({error.strerror or error}); set {HOME_ENV} to a writable folder, "
                      "or dataset.path to your copy") from None


def _fetch(url: str, final: pathlib.Path, sums: Published, progress: bool) -> Optional[str]:
  """Downloads ``url`` to a temporary file beside ``final``, hashing as it goes; renames
  it to ``final`` if whole and matching. Returns what mismatched (the copy deleted) or
  None; raises :class:`_Unreachable` when no whole file arrived."""
  response = _open(url)
  temp = None
  try:
    with response:
      total = response.headers.get("Content-Length")
      total = int(total) if total and total.isdigit() else None
      fd, temp = _temporary(final)
      hashes = _hashes()
      with os.fdopen(fd, "wb") as out, _bar(final.name, total, progress) as bar:
        received = _copy(response, out, hashes, bar, temp)
        out.flush()
        os.fsync(out.fileno())
    if total is not None and received != total:
      raise _Unreachable(f"the connection closed after {received} of {total} bytes")
    wrong = _mismatch(hashes, sums)
    if wrong is None:
      os.replace(temp, final)
      temp = None
    return wrong
  finally:
    if temp is not None:
      with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


def _temporary(final: pathlib.Path):
  """A new file beside ``final`` (same file system, so the rename is atomic)."""
  try:
    return tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part")
  except OSError as error:
    raise ConfigError(f"dataset folder '{final.parent}': cannot write there "
                      f"({error.strerror or error}); set {HOME_ENV} to a writable folder, "
                      "or dataset.path to your copy") from None


def _open(url: str):
  request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
  try:
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)
  except urllib.error.HTTPError as error:
    raise _Unreachable(f"HTTP {error.code} {error.reason}") from None
  except urllib.error.URLError as error:
    raise _Unreachable(str(error.reason)) from None
  except (OSError, http.client.HTTPException, ValueError) as error:
    raise _Unreachable(str(error) or type(error).__name__) from None


def _copy(response, out, hashes, bar, temp: str) -> int:
  """Copies the body to ``out``, hashing it; returns the bytes received. A network
  fault is :class:`_Unreachable`; a write fault (a full disk) is a ConfigError."""
  received = 0
  while True:
    try:
      block = response.read(CHUNK)
    except (OSError, http.client.HTTPException) as error:
      raise _Unreachable(f"the connection failed after {received} bytes "
                         f"({str(error) or type(error).__name__})") from None
    if not block:
      return received
    try:
      out.write(block)
    except OSError as error:
      raise ConfigError(f"dataset file '{temp}': cannot be written "
                        f"({error.strerror or error}); free space there or set "
                        f"{HOME_ENV} to another folder") from None
    for h in hashes:
      h.update(block)
    received += len(block)
    bar.update(len(block))


def _bar(file: str, total: Optional[int], progress: bool):
  """A tqdm bar on stderr, off unless asked and stderr is a terminal."""
  from tqdm import tqdm

  off = {} if progress and sys.stderr.isatty() else {"disable": True}  # else TQDM_DISABLE
  return tqdm(total=total, desc=f"downloading {file}", unit="B", unit_scale=True,
              unit_divisor=1024, file=sys.stderr, **off)


def _one_line(text: str) -> str:
  return " ".join(text.split())
