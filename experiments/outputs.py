"""Output folders and files: one writer per folder, written atomically, never overwritten.

In a multi-host job every process computes the same summaries, and only
process 0 writes them (checkpoints are the exception: Orbax has every process
write its own shards), so ``--out`` must be a folder all hosts share.

A command holds an exclusive OS lock (``flock``) on its ``--out`` for as long
as it runs, taken before anything is written: a second command on the same
folder is refused with one line naming the holder. The kernel releases the
lock when the holder's process ends, however it ends (a kill included), so a
stale lock cannot outlive it. In a multi-host job process 0 holds it.
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import pathlib
import platform
import re
import shutil
import socket
import tempfile

from .errors import ConfigError
from .hosts import agree, is_writer
from .typed_yaml import dump


def new_run_dir(prefix: str) -> pathlib.Path:
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  base = pathlib.Path("runs") / f"{prefix}-{stamp}"
  path, n = base, 1
  while path.exists():
    n += 1
    path = base.with_name(f"{base.name}-{n}")
  return path


def prepare(out, config, prefix: str, force: bool = False, kept=()) -> pathlib.Path:
  """Creates and locks the output folder; an existing one must hold the same config.

  ``kept`` names the folders in it that hold finished work for the config
  there (checkpoints, runs, chunks, cells); ``force`` starts over: it accepts
  a different config and removes them.
  """
  out = pathlib.Path(out) if out is not None else new_run_dir(prefix)
  if out.exists() and not out.is_dir():
    raise ConfigError(f"output folder '{out}': exists and is not a folder")
  try:
    out.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise ConfigError(f"output folder '{out}': cannot be created ({error.strerror})") from None
  lock(out)
  text = dump(config)
  saved = out / "config.yaml"
  if saved.is_file() and saved.read_text() != text and not force:
    raise ConfigError(f"output folder '{out}': holds a run with a different config; use a new "
                      "--out, or --force to start over there")
  write_text(saved, text)
  prepared.append(out)
  if force:
    for name in kept:
      shutil.rmtree(out / name, ignore_errors=True)
  return out


LOCK = ".lock"  # in --out: the lock, and who holds it
_held: dict[pathlib.Path, int] = {}  # folder -> the open file that holds its lock
prepared: list[pathlib.Path] = []  # the folders this process prepared, newest last


def lock(out: pathlib.Path) -> None:
  """Takes the exclusive lock on ``out`` for this command, or raises ConfigError naming
  the holder (its pid, host and start, as it recorded them). A folder that cannot be
  written is refused here too, before anything is written."""
  problem = None
  if is_writer():
    try:
      _take(out)
    except ConfigError as error:
      problem = str(error)
  if agree(problem is None) == 0:  # every process of a job stops, not only process 0
    raise ConfigError(problem or f"output folder '{out}': process 0 could not lock it")


def _take(out: pathlib.Path) -> None:
  key = out.resolve()
  if key in _held:
    return
  try:
    fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as error:
    raise ConfigError(f"output folder '{out}': cannot be written ({error.strerror})") from None
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as error:
    holder = _read_holder(fd)
    os.close(fd)
    if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
      raise ConfigError(f"output folder '{out}': cannot be locked ({error.strerror})") from None
    raise ConfigError(f"output folder '{out}': in use by another command ({holder}); wait "
                      "for it to end, or use another --out") from None
  try:
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": datetime.datetime.now().isoformat(timespec="seconds")})
             .encode())
  except OSError as error:
    os.close(fd)
    raise ConfigError(f"output folder '{out}': cannot be written ({error.strerror})") from None
  _held[key] = fd


def _read_holder(fd: int) -> str:
  try:
    holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    return f"pid {holder['pid']} on host {holder['host']}, since {holder['since']}"
  except (OSError, ValueError, KeyError):
    return "it has not recorded itself yet"


def unlock_all() -> None:
  """Releases every lock this process holds (the end of a command; exit releases them too)."""
  while _held:
    _, fd = _held.popitem()
    os.close(fd)


_before_release: list = []  # what must finish before another writer may start


def on_release(finish) -> None:
  """Registers ``finish()`` (once) to run at :func:`release`, before the locks go: a
  writer in the background (the checkpointer) registers its commit here, so that the
  files layer needs to know nothing of it."""
  if finish not in _before_release:
    _before_release.append(finish)


def release() -> None:
  """The end of a command or an API call, on every path: what is in flight is committed
  (the registered finishers), then every lock is released."""
  try:
    for finish in list(_before_release):
      finish()
  finally:
    unlock_all()


def slug(text: str) -> str:
  """A label as a file name."""
  return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def write_text(path: pathlib.Path, text: str, sync: bool = True) -> None:
  """Writes via a temporary file and a rename, so a reader never sees half a file.
  ``sync=False`` skips the ``fsync``: for a file written again from a kept one (a sweep
  cell's curve, from its chunk) whenever the command starts, so its loss costs nothing."""
  def write(tmp):
    with open(tmp, "w") as f:
      f.write(text)
      f.flush()
      if sync:
        os.fsync(f.fileno())
  write_file(path, write)


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def write_file(path, write) -> None:
  """``write(temporary_path)``, then a rename: a failure (a full disk) leaves no partial file."""
  if not is_writer():
    return
  path = pathlib.Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
  os.close(fd)
  try:
    write(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's files are private; results are not
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def write_json(path, data) -> None:
  write_text(path, json.dumps(data, indent=2, default=_plain) + "\n")


def _plain(value):
  if hasattr(value, "item"):
    return value.item()
  if hasattr(value, "tolist"):
    return value.tolist()
  raise TypeError(f"not JSON serializable: {type(value).__name__}")


def read_json(path):
  return json.loads(pathlib.Path(path).read_text())


class ResultStore:
  """Finished units of a multi-run command, one JSON file each, written as each ends.

  A rerun with the same ``--out`` finds them and skips that work; since every
  file is written atomically, a kill leaves either the whole result or none.
  """

  def __init__(self, folder):
    self.folder = pathlib.Path(folder)

  def path(self, name: str) -> pathlib.Path:
    return self.folder / f"{name}.json"

  def get(self, name: str):
    path = self.path(name)
    return read_json(path) if path.is_file() else None

  def put(self, name: str, value):
    if is_writer():
      self.path(name).parent.mkdir(parents=True, exist_ok=True)
    write_json(self.path(name), value)
    return value


def read_jsonl(path) -> list[dict]:
  path = pathlib.Path(path)
  if not path.is_file():
    return []
  records = []
  for line in path.read_text().splitlines():
    try:
      records.append(json.loads(line))
    except json.JSONDecodeError:
      break  # a line cut short by a kill: everything after it is gone too
  return records


class MetricsLog:
  """metrics.jsonl, one JSON object per logged step, never a step twice.

  ``sink``, if given, is called with every list of records the log holds: first those
  kept from before ``resume_step``, then each appended list (process 0 only). A writer of
  another format (TensorBoard's event files: ``training/tensorboard_log.py``) plugs in
  here, as clu's ``metric_writers`` do, without this module knowing it.
  """

  def __init__(self, path, resume_step: int = 0, sink=None):
    self.path = pathlib.Path(path)
    kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step]
    write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
    self.records = kept
    self.sink = sink
    if sink is not None and kept:
      sink(kept)

  def append(self, records: list[dict]) -> None:
    self.records.extend(records)
    if not records or not is_writer():
      return
    with open(self.path, "a") as f:
      f.write("".join(json.dumps(r, default=_plain) + "\n" for r in records))
      f.flush()
    if self.sink is not None:
      self.sink(records)


def peak_rss_mib() -> float:
  """This process's peak resident memory so far (max RSS), in MiB."""
  import resource
  kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
  return kib / 1024.0


def versions() -> dict:
  import flax
  import jax
  import optax

  import dualprocess
  return {"python": platform.python_version(), "jax": jax.__version__,
          "optax": optax.__version__, "flax": flax.__version__,
          "dualprocess": dualprocess.__version__,
          "backend": jax.default_backend(), "device_kind": jax.devices()[0].device_kind}


# Failures to write that a user can fix (space, quota, a read-only, forbidden or
# immutable folder): the command exits with EXIT_WRITE_FAILED and one line. A full disk
# or quota can only come from a write; the others, and any other OSError, count when
# they name a path in the output folder (cli.write_failure).
FULL = (errno.ENOSPC, errno.EDQUOT)
WRITE_ERRORS = (*FULL, errno.EROFS, errno.EACCES, errno.EPERM)
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")  # how TensorStore (Orbax) reports one


def _chain(error: BaseException):
  """``error`` and its causes and contexts (Orbax wraps the OSError it met), each once."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    yield error
    error = error.__cause__ or error.__context__


def write_error(error: BaseException):
  """The errno of a write failure in ``error`` or its causes (Orbax wraps them), or None."""
  for link in _chain(error):
    if isinstance(link, OSError) and link.errno in WRITE_ERRORS:
      return link.errno
    match = _OS_ERROR_CODE.search(str(link))
    if match and int(match.group(1)) in WRITE_ERRORS:
      return int(match.group(1))
    for code in WRITE_ERRORS:
      if os.strerror(code) in str(link):
        return code
  return None


def os_error(error: BaseException):
  """The errno of any OSError in ``error`` or its causes (TensorStore's code included), or
  None: what failed when the failure is in the output folder but not in WRITE_ERRORS."""
  for link in _chain(error):
    if isinstance(link, OSError) and link.errno is not None:
      return link.errno
    match = _OS_ERROR_CODE.search(str(link))
    if match:
      return int(match.group(1))
  return None


def error_text(error: BaseException) -> str:
  """The messages and file names of ``error`` and its causes, for finding a path in."""
  parts = []
  for link in _chain(error):
    parts += [str(link), str(getattr(link, "filename", "") or ""),
              str(getattr(link, "filename2", "") or "")]
  return " ".join(parts)


def free_space(folder) -> str:
  """Free space on the filesystem of ``folder`` (or its nearest existing parent), readable."""
  folder = pathlib.Path(folder).resolve()
  while not folder.exists() and folder != folder.parent:
    folder = folder.parent
  try:
    free = shutil.disk_usage(folder).free
  except OSError:
    return "unknown"
  for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
    if free < 1024 or unit == "TiB":
      break
    free /= 1024
  return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
