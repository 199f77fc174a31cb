"""The user's own code is found where they keep it (issue 33, item 2).

A config's ``package.module:attr`` is imported from the config file's folder, then the
working directory, then ``sys.path``, for every command (console scripts included, whose
own folder, not the working directory, heads ``sys.path``) and for the API. The last
test is the tutorial (docs/own_workload.md) run as written: its files written into a
temporary folder, the installed console scripts run there.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import uuid

import pytest

from experiments import imports
from experiments.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
TUTORIAL = ROOT / "docs" / "own_workload.md"


def probe(folder: pathlib.Path, name: str, value: str) -> None:
  folder.mkdir(parents=True, exist_ok=True)
  (folder / f"{name}.py").write_text(f"def where():\n  return {value!r}\n")


@pytest.fixture
def module_name():
  """A module name no other test uses; forgotten by the import system afterwards."""
  name = f"user_probe_{uuid.uuid4().hex[:8]}"
  yield name
  sys.modules.pop(name, None)


def test_the_config_folder_comes_first_then_the_working_directory_then_sys_path(
    tmp_path, monkeypatch, module_name):
  for folder in ("config", "cwd", "path"):
    probe(tmp_path / folder, module_name, folder)
  monkeypatch.syspath_prepend(str(tmp_path / "path"))
  monkeypatch.chdir(tmp_path / "cwd")
  before = list(sys.path)
  with imports.user_code(tmp_path / "config"):
    assert [f for _, f in imports.searched()] == [str(tmp_path / "config"),
                                                   str(tmp_path / "cwd")]
    assert imports.import_target(f"{module_name}:where", "model.name", "x")() == "config"
  assert sys.path == before and imports.searched() == []
  sys.modules.pop(module_name)
  with imports.user_code():  # no config file: the working directory before sys.path
    assert imports.import_target(f"{module_name}:where", "model.name", "x")() == "cwd"
  sys.modules.pop(module_name)
  assert imports.import_target(f"{module_name}:where", "model.name", "x")() == "path"


def test_a_nested_load_adds_its_folder_for_as_long_as_the_outer_call_runs(tmp_path,
                                                                          monkeypatch):
  monkeypatch.chdir(tmp_path)
  with imports.user_code():
    with imports.user_code(tmp_path / "a"):
      pass
    with imports.user_code(tmp_path / "b"):
      pass
    assert imports.searched() == [("the config's folder", str(tmp_path / "a")),
                                  ("the config's folder", str(tmp_path / "b")),
                                  ("the working directory", str(tmp_path))]
    assert sys.path[:3] == [str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path)]
  assert str(tmp_path / "a") not in sys.path and imports.searched() == []


def test_cannot_import_says_where_it_looked_and_what_to_do(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  with imports.user_code(tmp_path / "configs"):
    with pytest.raises(ConfigError) as error:
      imports.import_target("nowhere_module_xyz:net", "model.name", "a factory")
  message = str(error.value)
  assert "\n" not in message
  assert message.startswith("config key 'model.name': 'nowhere_module_xyz:net': cannot import "
                            "module 'nowhere_module_xyz': no module named 'nowhere_module_xyz' "
                            f"in {tmp_path / 'configs'} (the config's folder), {tmp_path} (the "
                            "working directory) or on the Python path (sys.path)")
  assert "put nowhere_module_xyz.py beside the config" in message
  assert "PYTHONPATH" in message and "pip install" in message


def test_the_api_finds_a_module_in_the_working_directory_for_a_dict_config(
    tmp_path, monkeypatch, module_name):
  from experiments import api
  monkeypatch.chdir(tmp_path)
  # A flattening linear model, written where the call runs.
  (tmp_path / f"{module_name}.py").write_text(
      "from flax import nnx\n\n"
      "class Flat(nnx.Module):\n"
      "  def __init__(self, features, classes, rngs):\n"
      "    self.linear = nnx.Linear(features, classes, rngs=rngs)\n\n"
      "  def __call__(self, x):\n"
      "    return self.linear(x.reshape(x.shape[0], -1))\n\n"
      "def net(input_shape, num_classes, rngs):\n"
      "  features = 1\n"
      "  for size in input_shape:\n"
      "    features *= size\n"
      "  return Flat(features, num_classes, rngs)\n")
  summary = api.run({"dataset": {"name": "digits", "limit_train": 128},
                     "model": {"name": f"{module_name}:net"},
                     "train": {"epochs": 1, "batch_size": 32, "progress": False}})
  assert summary["status"] == "ok" and summary["model"] == f"{module_name}:net"
  assert str(tmp_path) not in sys.path  # nothing left behind


def tutorial_files() -> dict[str, str]:
  """``{file name: text}`` of the tutorial's captioned code blocks, as CI reads them."""
  spec = importlib.util.spec_from_file_location("tutorial_files",
                                                ROOT / ".ci" / "tutorial_files.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.files(TUTORIAL.read_text())


def test_the_tutorial_runs_as_written_with_the_installed_console_scripts(tmp_path):
  """From a folder holding the tutorial's module, optimizer, data and config: the console
  scripts find ``mynets`` and ``myopt`` beside the config, as ``python -m`` would."""
  script = BIN / "dualprocess-compare"
  if not script.is_file():
    pytest.skip(f"{script}: the package is not installed in this environment")
  files = tutorial_files()
  assert set(files) == {"mynets.py", "make_data.py", "myopt.py", "mine.yaml"}
  mine = tmp_path / "mine"
  mine.mkdir()
  for name, text in files.items():
    (mine / name).write_text(text)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  run = lambda *argv, cwd=mine: subprocess.run(argv, cwd=cwd, env=env, capture_output=True,
                                               text=True, timeout=300)
  made = run(sys.executable, "make_data.py")
  assert made.returncode == 0, made.stderr
  tiny = ["--set", "train.epochs=1", "--set", "dataset.limit_train=256",
          "--set", "train.progress=false"]
  compared = run(str(script), "mine.yaml", *tiny, "--set", "compare.seeds=[0]",
                 "--out", "runs/compare")
  assert compared.returncode == 0, compared.stderr
  rows = json.loads((mine / "runs/compare/comparison.json").read_text())["rows"]
  assert [r["optimizer"] for r in rows][::2] == ["derived pair",
                                                 "myopt:clipped_sgd(lr=0.05, momentum=0.9)"]
  assert re.search(r"^derived pair: test_accuracy=\d\.\d{4}$", compared.stdout, re.M)
  # From another folder: the modules are found beside the config, not in the working one.
  ran = run(str(BIN / "dualprocess-run"), str(mine / "mine.yaml"), *tiny,
            "--set", f"dataset.path={mine / 'data.npz'}", "--out", str(tmp_path / "run"),
            cwd=tmp_path)
  assert ran.returncode == 0, ran.stderr
  assert json.loads((tmp_path / "run" / "summary.json").read_text())["model"] == "mynets:net"
