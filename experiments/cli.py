"""What every command shares: user mistakes become one line and exit code 2."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from experiments import config as config_lib
from experiments import data, outputs
from experiments.config import ConfigError
from experiments.devices import maybe_initialize_distributed
from experiments.stopping import StopRequested

EXIT_USAGE = 2
EXIT_DIVERGED = 3


class Diverged(RuntimeError):
  """Training produced a non-finite loss or update; the summary says where."""


@contextlib.contextmanager
def exit_codes():
  """Config mistakes exit 2, divergence 3, a signal 128 + its number; one line, no traceback."""
  try:
    yield
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


def parser_for(prog: str, description: str) -> "ArgumentParser":
  """The command line every experiment command shares."""
  parser = ArgumentParser(prog=prog, description=description)
  parser.add_argument("config", nargs="?", default=None,
                      help="YAML config (default: configs/default.yaml)")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="override a config key by its dotted path; "
                      "the value is parsed as YAML (repeatable)")
  parser.add_argument("--out", default=None, help="output folder (default: a new folder "
                      "under runs/)")
  parser.add_argument("--force", action="store_true",
                      help="start over in an --out that holds a different config")
  return parser


def load_config(args, section: str = None, example: str = None):
  """Loads the config named on the command line; ``section`` must be present."""
  config = config_lib.load(args.config, args.overrides)
  if section is not None and getattr(config, section) is None:
    raise ConfigError(f"config key '{section}': missing; this command needs a {section} "
                      f"section (see {example})")
  return config


def start(args, prefix: str, section: str = None, example: str = None, stop=None,
          kept=()):
  """Config, joined multi-host job, data and output folder: every command's prologue.

  ``kept``: the folders of finished work in ``--out``, cleared by ``--force``
  (see ``outputs.prepare``).
  """
  config = load_config(args, section, example)
  maybe_initialize_distributed()
  if stop is not None:
    stop.install()
  dataset = data.load(config.dataset)
  return config, dataset, outputs.prepare(args.out, config, prefix, force=args.force,
                                         kept=kept)


class ArgumentParser(argparse.ArgumentParser):
  """argparse whose usage errors print one line and exit 2 (argparse's own code)."""

  def error(self, message):
    print(f"error: {message} (see --help)", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)
