"""What the wheel ships, read from pyproject.toml without building it.

CI builds the sdist and the wheel and checks their contents (.ci/wheel_check.sh,
.ci/check_dists.py); these catch the same mistakes in the test command, in milliseconds:
a new subpackage missing from ``[tool.setuptools] packages``, a config the package-data
glob leaves out, a requirement without the floor .ci/lowest.sh checks, a README whose
library example CI can no longer find.
"""

import contextlib
import importlib.util
import io
import pathlib

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = pathlib.Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def ci_script(name):
  spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_package_folder_is_listed_under_its_installed_name():
  installed = {"dualprocess": "dualprocess", "experiments": "dualprocess_experiments"}
  assert SETUPTOOLS["package-dir"] == {"dualprocess_experiments": "experiments"}
  found = set()
  for folder, name in installed.items():
    for init in (ROOT / folder).rglob("__init__.py"):
      parts = init.parent.relative_to(ROOT / folder).parts
      found.add(".".join((name, *parts)))
  # The shipped configs' folder too: setuptools warns of a folder it could import that
  # packages leaves out.
  assert found | {"dualprocess_experiments.configs"} == set(SETUPTOOLS["packages"])


def test_every_shipped_config_is_package_data():
  configs = ROOT / "experiments" / "configs"
  assert SETUPTOOLS["package-data"] == {"dualprocess_experiments": ["configs/*.yaml"]}
  assert not (configs / "__init__.py").exists()  # data, not a package
  files = sorted(p.name for p in configs.iterdir())
  assert files and all(name.endswith(".yaml") for name in files), files
  assert "default.yaml" in files


def test_every_requirement_has_one_floor_that_lowest_checks():
  floors = ci_script("floors")
  groups = ["dependencies", "experiments", "test"]
  rows = floors.floors(PYPROJECT, groups)
  assert {group for group, _, _ in rows} == set(groups)
  assert ("dependencies", "jax", "0.6.0") in rows


def test_the_readme_library_example_is_found_and_runs():
  code = ci_script("readme_example").example((ROOT / "README.md").read_text(encoding="utf-8"))
  assert "import dualprocess" in code
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    exec(compile(code, "README.md (The library)", "exec"), {})  # noqa: S102


def test_the_license_is_an_spdx_expression_with_its_file():
  assert PYPROJECT["project"]["license"] == "Apache-2.0"
  assert PYPROJECT["project"]["license-files"] == ["LICENSE"] and (ROOT / "LICENSE").is_file()
  requires = PYPROJECT["build-system"]["requires"]
  assert requires == ["setuptools>=77"]  # the first to take both


def test_a_setuptools_warning_in_the_build_log_fails_ci():
  check = ci_script("build_warnings")
  clean = ("adding license file 'LICENSE'\n"
           "warning: build_py: byte-compiling is disabled, skipping.\n"
           "Successfully built dualprocess-0.6.0.tar.gz and dualprocess-0.6.0-py3-none-any.whl\n")
  assert check.warnings_in(clean) == []
  for seen in ("WARNING `project.license` as a TOML table is deprecated",
               "WARNING Package 'dualprocess_experiments.configs' is absent from the "
               "`packages` configuration.",
               "/usr/lib/python3/setuptools/dist.py:759: SetuptoolsDeprecationWarning: "
               "License classifiers are deprecated."):
    assert check.warnings_in(clean + seen + "\n") == [seen]
  assert "build_warnings.py" in (ROOT / ".ci" / "wheel_check.sh").read_text()
