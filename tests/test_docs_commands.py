"""Every command line the docs show is run or listed by .ci/docs_commands.py.

.ci/wheel_check.sh runs each ``dualprocess-*`` command of README.md and docs/*.md from the
installed wheel in an empty folder (at smoke scale, or its --plan), or names it with its
reason in that script's tables. These tests read the same commands, training nothing: a
command added to the docs that is neither run nor listed fails here, in the ordinary test
run, as does a command whose config (with the check's --set overrides) does not load or
would need data that CI cannot download.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

from experiments import cli, loading

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOWNLOADED = ("mnist", "fashion_mnist", "cifar10")  # read from files or downloaded


def ci_script(name):
  spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  sys.modules[name] = module  # its dataclass looks its module up
  spec.loader.exec_module(module)
  return module


docs_commands = ci_script("docs_commands")
COMMANDS = docs_commands.extract(ROOT)
RUN = [(c, docs_commands.decide(c, ROOT)) for c in COMMANDS]
RUN = [(c, d[1]) for c, d in RUN if d is not None and d[0] == "run"
       and c.program in docs_commands.PROGRAMS]


def test_the_docs_commands_are_found():
  texts = {c.text for c in COMMANDS}
  assert {"dualprocess-run", "dualprocess-compare configs/compare_digits.yaml",
          "dualprocess-run mine.yaml --out runs/mine"} <= texts
  assert all(c.where for c in COMMANDS)
  assert len(RUN) >= 10


def test_every_command_is_run_or_listed():
  missing = docs_commands.uncovered(COMMANDS, ROOT)
  assert not missing, "neither run nor listed in .ci/docs_commands.py:\n" + "\n".join(
      f"  {c.text}  ({', '.join(c.where)})" for c in missing)


def test_every_table_entry_is_a_command_of_the_docs():
  texts = {c.text for c in COMMANDS}
  tables = (docs_commands.LISTED, docs_commands.PLAN_ONLY, docs_commands.RUN_OTHER)
  stale = [key for table in tables for key in table if key not in texts]
  configs = {docs_commands.config_of(c) for c in COMMANDS}
  stale += [key for key in docs_commands.CONFIG_SETS if key not in configs]
  assert not stale, f"in .ci/docs_commands.py's tables, no longer in the docs: {stale}"
  assert all(why.strip() for table in tables for why in table.values())


def test_a_new_command_is_run_listed_or_fails():
  Command = docs_commands.Command
  new = [Command("pip install something-else", ["x.md:1"]),
         Command("python -m dualprocess_experiments.run", ["x.md:2"]),
         Command("dualprocess-run MY_CONFIG.yaml", ["x.md:3"]),
         Command("dualprocess-sweep CONFIG [--out DIR]", ["x.md:4"])]
  assert docs_commands.uncovered(new, ROOT) == new
  kind, extra, _ = docs_commands.decide(Command("dualprocess-run configs/mnist1d_mlp.yaml",
                                                ["x.md:5"]), ROOT)
  assert kind == "run" and extra == ["--set", "train.epochs=1", "--set", "train.progress=false"]


PAGE = """\
Intro `dualprocess-run --set train.epochs=2` and `python -m foo` and ``dualprocess-x``.

```bash
# a comment line
dualprocess-run --set a=1 \\
  --set "b=#2"   # trailing comment
pip install x && dualprocess-sweep configs/s.yaml

```

```python
dualprocess-run not a shell block
```

- a list item:

  ~~~console
  $ dualprocess-compare c.yaml
  | its | output |
  ~~~

```{code-block} shell
dualprocess-suite configs/q.yaml --plan
```
"""


def test_the_extraction_joins_strips_and_reads_only_shell_blocks():
  assert docs_commands.page_commands(PAGE) == [
      (1, "dualprocess-run --set train.epochs=2"),
      (5, 'dualprocess-run --set a=1 --set "b=#2"'),
      (7, "pip install x && dualprocess-sweep configs/s.yaml"),
      (18, "dualprocess-compare c.yaml"),
      (23, "dualprocess-suite configs/q.yaml --plan")]


def test_the_records_of_past_measurements_are_not_read(tmp_path):
  for name in ("README.md", "docs/page.md", "docs/results/r.md", "docs/suite_0.4/suite.md",
               "docs/paper_x.md", "docs/transfer_data_size.md", "docs/suite_notes.md"):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text("`dualprocess-run`\n")
  assert [str(p.relative_to(tmp_path)) for p in docs_commands.pages(tmp_path)] == [
      "README.md", "docs/page.md"]


def test_the_tutorial_commands_run_in_its_folder_after_its_data_script():
  tutorial = [c for c in COMMANDS if c.files]
  assert [c.text for c in tutorial] == ["python make_data.py",
                                        "dualprocess-run mine.yaml --out runs/mine",
                                        "dualprocess-compare mine.yaml --out runs/compare"]
  assert {"mine.yaml", "make_data.py"} <= set(tutorial[0].files)
  assert docs_commands.command_line(tutorial[1], [], pathlib.Path("/w"), 1).startswith(
      "dualprocess-run mine.yaml --out runs/mine")


def test_an_absolute_out_is_moved_under_the_work_folder():
  command = docs_commands.Command("dualprocess-run --out /somewhere/run1", ["x.md:1"])
  line = docs_commands.command_line(command, ["--set", "compare.seeds=[0]"],
                                    pathlib.Path("/w"), 3)
  assert line == "dualprocess-run --out /w/out3 --set 'compare.seeds=[0]'"


def test_the_smoke_rows_are_the_configs_own():
  import yaml

  for config, (_, rows, _) in docs_commands.CONFIG_SETS.items():
    if rows:
      key, value = docs_commands.first_rows(ROOT / config, rows).split("=", 1)
      written = yaml.safe_load((ROOT / config).read_text())["compare"]["optimizers"]
      assert key == "compare.optimizers" and yaml.safe_load(value) == written[:rows]


def configs_of(command, extra, folder):
  """The experiment configs the command would load, with the check's overrides: (name,
  config, optional) for it or each of its workloads."""
  words = docs_commands.split(command.text)
  words = words[words.index(command.program):] + list(extra)  # NAME=value before it: env
  parser = cli.parser_for(command.program, "")
  parser.add_argument("--plan", action="store_true")
  args = parser.parse_args(words[1:])
  config = None if args.config is None else str(folder / args.config)
  name = command.program.removeprefix("dualprocess-")
  if name in ("suite", "transfer"):
    load = loading.load_suite if name == "suite" else loading.load_transfer
    study, workloads = load(config, args.overrides)
    optional = {w.name: w.optional for w in study.workloads}
    return [(n, c, optional[n]) for n, c in workloads.items()]
  section = name if name in ("compare", "sweep") else None
  return [(name, loading.load_config(config, args.overrides, section=section), False)]


@pytest.mark.parametrize("command, extra", RUN, ids=[c.text[:60] for c, _ in RUN])
def test_each_command_run_loads_its_config_and_needs_no_download(command, extra, tmp_path,
                                                                 monkeypatch):
  monkeypatch.chdir(tmp_path)
  folder = tmp_path if command.files else ROOT
  for name, text in command.files.items():
    (tmp_path / name).write_text(text)
  for name, config, optional in configs_of(command, extra, folder):
    dataset = config.dataset
    assert optional or dataset.name not in DOWNLOADED or dataset.path, (
        f"{command.text} ({', '.join(command.where)}): {name} reads '{dataset.name}', which "
        "CI cannot download: list it in .ci/docs_commands.py or run it on offline data")


def test_each_listed_command_names_a_config_that_loads():
  listed = [c for c in COMMANDS if c.text in docs_commands.LISTED
            and c.program in docs_commands.PROGRAMS and docs_commands.config_of(c)
            and not docs_commands.placeholders(c.text)]
  assert listed
  for command in listed:
    assert configs_of(command, [], ROOT)
