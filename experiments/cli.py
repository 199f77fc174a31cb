"""What every command shares: its command line, and every failure as one line and an exit code.

The top layer: each command (``run.py``, ``compare.py``, ``sweep.py``, ``suite.py``)
parses its command line here, calls the API inside :func:`guarded` and prints. User
mistakes exit 2, a divergence 3, a failed write 74, a signal 128 + its number.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import pathlib
import re
import sys
import warnings

from . import outputs
from .console import end_progress_bars
from .errors import ConfigError, Diverged
from .training import stopping
from .training.stopping import StopRequested

# JAX, Flax, Optax, Orbax and the rest are imported where they are used, after the
# command line and the config are read: --help and a config mistake answer at once.

EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_WRITE_FAILED = 74  # sysexits.h EX_IOERR: the disk is full, over quota, or not writable


__all__ = ["EXIT_DIVERGED", "EXIT_USAGE", "EXIT_WRITE_FAILED", "Diverged", "exit_codes",
           "guarded", "out_folder", "parse", "parser_for", "program"]


@contextlib.contextmanager
def exit_codes():
  """Config mistakes exit 2, divergence 3, a failed write 74, a signal 128 + its number;
  one line each, no traceback. The command's lock on its --out is released on every path
  (after a stop, by the process's exit)."""
  said = []
  try:
    try:
      yield
    except BaseException:
      end_progress_bars()  # every one-line message below starts on a line of its own
      raise
  except ConfigError as error:
    print(f"error: {error}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE) from None
  except Diverged as error:
    print(f"diverged: {error}", file=sys.stderr)
    raise SystemExit(EXIT_DIVERGED) from None
  except StopRequested as stop:
    # Everything is on disk already (atomic files, committed checkpoints). Leave
    # now: interpreter teardown resets the signal handlers to the defaults, so
    # a late signal would kill the process mid-exit, and in a multi-host job
    # JAX's shutdown barrier can wait forever for a host that is leaving too.
    print(str(stop), file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(stop.exit_code)
  except KeyboardInterrupt:
    print("interrupted: the last checkpoint is kept; run again with the same --out to resume",
          file=sys.stderr)
    raise SystemExit(130) from None
  except Exception as error:
    exit_if_write_failed(error, said)
    raise
  finally:
    try:
      outputs.release()  # saves in flight commit before another writer may start
    except Exception as error:  # a save in flight that failed as it committed
      exit_if_write_failed(error, said)
      raise


def exit_if_write_failed(error: Exception, said: list) -> None:
  """Exits 74 with one line when ``error`` is a failed write into the output folder
  (:func:`write_failure`); returns otherwise. What the failed write left in flight (Orbax's
  background commit: coroutines never awaited, exceptions no one can catch) stays quiet at
  exit: everything finished before is on disk, and the line says how to go on."""
  message = write_failure(error)
  if message is None:
    return
  if not said:  # one line, however many saves in flight fail
    said.append(message)
    print(f"write failed: {message}", file=sys.stderr, flush=True)
  atexit.register(_quiet_teardown)
  raise SystemExit(EXIT_WRITE_FAILED) from None


def _quiet_teardown() -> None:
  """At interpreter exit: the coroutines a failed Orbax save left are not reported."""
  warnings.filterwarnings("ignore", message="coroutine .* was never awaited",
                          category=RuntimeWarning)
  sys.unraisablehook = lambda unraisable: None


@contextlib.contextmanager
def guarded():
  """:func:`exit_codes` around a graceful stop: yields the ``GracefulStop`` a command
  hands to the API, which asks it between units of work."""
  with exit_codes(), stopping.GracefulStop() as stop:
    yield stop


def program(name: str) -> str:
  """The name the user typed for command ``name``: the console script
  (``dualprocess-run``) or ``python -m PACKAGE.run``, whichever started this process."""
  script = pathlib.Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
  if script.startswith("dualprocess-"):
    return script
  return f"python -m {__package__}.{name}"


def parse(name: str, description: str, argv=None, report_only: str = None,
          default_config: str = "configs/default.yaml", plan: str = None):
  """The command line of command ``name`` parsed: a config, ``--set``, ``--out``,
  ``--force``, and ``--report-only`` or ``--plan`` where ``report_only`` or ``plan``
  gives its help."""
  parser = parser_for(program(name), description, default_config)
  if report_only is not None:
    parser.add_argument("--report-only", action="store_true", help=report_only)
  if plan is not None:
    parser.add_argument("--plan", action="store_true", help=plan)
  return parser.parse_args(argv)


def write_failure(error: Exception):
  """One line for a failed write into the output folder (what, why, the space left, how to
  go on), or None when ``error`` is something else. A full disk or quota can only come
  from a write; a read-only, forbidden or immutable path (EROFS, EACCES, EPERM), or any
  other OSError, counts when it names a path in the output folder."""
  out = outputs.prepared[-1] if outputs.prepared else None
  if out is None:
    return None
  code = outputs.write_error(error)
  text = outputs.error_text(error)
  if code not in outputs.FULL:
    if not (str(out) in text or str(out.resolve()) in text):
      return None  # reading a dataset elsewhere, say
    code = code or outputs.os_error(error)
    if code is None:
      return None
  paths = re.findall(r"""['"](/[^'"]+)['"]""", text) + [getattr(error, "filename", None)]
  inside = [p for p in paths if p and (str(p).startswith(str(out)) or
                                       str(p).startswith(str(out.resolve())))]
  path = next((str(p) for p in inside + paths if p), None)
  what = ("a checkpoint" if path and "/checkpoints/" in path
          else f"'{pathlib.Path(path).name}'" if path else "its files")
  return (f"output folder '{out}': writing {what} failed: {os.strerror(code)} "
          f"({outputs.free_space(out)} free there); everything finished before is kept: free "
          "some space or make the folder writable, then run the same command again to resume")


def parser_for(prog: str, description: str, default_config: str = "configs/default.yaml"
               ) -> "ArgumentParser":
  """The command line every experiment command shares."""
  parser = ArgumentParser(prog=prog, description=description)
  parser.add_argument("config", nargs="?", default=None,
                      help=f"YAML config (default: {default_config})")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a config key by its dotted path; "
                      "the value is parsed as YAML (repeatable)")
  parser.add_argument("--out", default=None, help="output folder (default: a new folder "
                      "under runs/)")
  parser.add_argument("--force", action="store_true",
                      help="start over in an --out that holds a different config")
  return parser


def out_folder(args, prefix: str) -> pathlib.Path:
  """``--out``, or a new folder under ``runs/`` named after the command and the time."""
  return pathlib.Path(args.out) if args.out is not None else outputs.new_run_dir(prefix)


class ArgumentParser(argparse.ArgumentParser):
  """argparse whose usage errors print one line and exit 2 (argparse's own code)."""

  def error(self, message):
    print(f"error: {message} (see --help)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)
