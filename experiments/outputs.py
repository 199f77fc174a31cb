"""Output folders and files: written atomically, never silently overwritten.

In a multi-host job every process computes the same summaries, and only
process 0 writes them (checkpoints are the exception: Orbax has every process
write its own shards), so ``--out`` must be a folder all hosts share.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import tempfile

from experiments import config as config_lib
from experiments.config import ConfigError


def new_run_dir(prefix: str) -> pathlib.Path:
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  base = pathlib.Path("runs") / f"{prefix}-{stamp}"
  path, n = base, 1
  while path.exists():
    n += 1
    path = base.with_name(f"{base.name}-{n}")
  return path


def prepare(out, config, prefix: str, force: bool = False, kept=()) -> pathlib.Path:
  """Creates the output folder; an existing one must hold the same config.

  ``kept`` names the folders in it that hold finished work for the config
  there (checkpoints, runs, chunks, cells); ``force`` starts over: it accepts
  a different config and removes them.
  """
  out = pathlib.Path(out) if out is not None else new_run_dir(prefix)
  if out.exists() and not out.is_dir():
    raise ConfigError(f"output folder '{out}': exists and is not a folder")
  text = config_lib.dump(config)
  saved = out / "config.yaml"
  if saved.is_file() and saved.read_text() != text and not force:
    raise ConfigError(f"output folder '{out}': holds a run with a different config; use a new "
                      "--out, or --force to start over there")
  try:
    out.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise ConfigError(f"output folder '{out}': cannot be created ({error.strerror})") from None
  write_text(saved, text)
  if force:
    for name in kept:
      shutil.rmtree(out / name, ignore_errors=True)
  return out


def slug(text: str) -> str:
  """A label as a file name."""
  return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def is_writer() -> bool:
  """Whether this process writes the output files: process 0 of a multi-host job."""
  import jax
  return jax.process_index() == 0


def write_text(path: pathlib.Path, text: str) -> None:
  """Writes via a temporary file and a rename, so a reader never sees half a file."""
  if not is_writer():
    return
  path = pathlib.Path(path)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
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
  """metrics.jsonl, one JSON object per logged step, never a step twice."""

  def __init__(self, path, resume_step: int = 0):
    self.path = pathlib.Path(path)
    kept = [r for r in read_jsonl(self.path) if r["step"] <= resume_step]
    write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
    self.records = kept

  def append(self, records: list[dict]) -> None:
    self.records.extend(records)
    if not records or not is_writer():
      return
    with open(self.path, "a") as f:
      f.write("".join(json.dumps(r, default=_plain) + "\n" for r in records))
      f.flush()


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
