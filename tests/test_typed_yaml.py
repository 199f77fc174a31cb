"""The typed-YAML machinery on a small schema of its own (the experiment schema's
end-to-end checks are in test_config.py)."""

from __future__ import annotations

import dataclasses
from typing import Literal, Optional, Union

import pytest
import yaml

from experiments import typed_yaml
from experiments.typed_yaml import ConfigError


@dataclasses.dataclass(frozen=True)
class Inner:
  size: int = 1

  def validate(self, key):
    typed_yaml.check_positive(f"{key}.size", self.size)


@dataclasses.dataclass(frozen=True)
class Outer:
  kind: Literal["a", "b"] = "a"
  rate: float = 0.5
  limit: Optional[int] = None
  sizes: tuple[int, ...] = ()
  inner: Inner = Inner()
  either: Union[Inner, tuple[float, ...], None] = None

  def validate(self, key):
    typed_yaml.check_range(f"{key}.rate" if key else "rate", self.rate, 0.0, 1.0,
                           open_low=True)


def test_values_are_converted_to_their_annotated_types():
  built = typed_yaml.build(Outer, {"kind": "b", "rate": "1e-3", "limit": 3, "sizes": [1, 2],
                                   "inner": {"size": 4}, "either": [0.5, 1]})
  assert built == Outer(kind="b", rate=0.001, limit=3, sizes=(1, 2), inner=Inner(4),
                        either=(0.5, 1.0))
  assert typed_yaml.build(Outer, {"either": {"size": 2}}).either == Inner(2)
  assert typed_yaml.build(Outer, None) == Outer()


@pytest.mark.parametrize("data, message", [
    ({"kind": "c"}, "config key 'kind': unknown value 'c'; allowed: a, b"),
    ({"rate": True}, "config key 'rate': expected a number, got True"),
    ({"rate": 0.0}, "config key 'rate': must lie in (0.0, 1.0], got 0.0"),
    ({"limit": "x"}, "config key 'limit': expected an integer, got 'x'"),
    ({"sizes": [1, "x"]}, "config key 'sizes[1]': expected an integer, got 'x'"),
    ({"inner": {"size": 0}}, "config key 'inner.size': must be a positive integer, got 0"),
    ({"inner": {"width": 1}}, "config key 'inner.width': unknown key; allowed: size"),
    ({"either": [1, "x"]}, "config key 'either[1]': expected a number, got 'x'"),
    ([1], "config: expected a mapping with keys kind, rate"),
])
def test_each_mistake_is_one_line_naming_its_key(data, message):
  with pytest.raises(ConfigError) as raised:
    typed_yaml.build(Outer, data)
  assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_overrides_set_nested_keys_without_touching_the_input():
  data = {"inner": {"size": 1}}
  changed = typed_yaml.apply_overrides(data, ["inner.size=3", "new.deep.key=[1, 2]", "rate=1e-2"])
  assert data == {"inner": {"size": 1}}
  assert changed == {"inner": {"size": 3}, "new": {"deep": {"key": [1, 2]}}, "rate": "1e-2"}
  with pytest.raises(ConfigError, match="config key 'inner.size': is not a section"):
    typed_yaml.apply_overrides(changed, ["inner.size.x=1"])
  with pytest.raises(ConfigError, match="expected KEY=VALUE"):
    typed_yaml.apply_overrides(changed, ["inner.size"])


def test_a_built_config_dumps_to_yaml_that_builds_it_again():
  built = typed_yaml.build(Outer, {"sizes": [3], "inner": {"size": 2}, "either": [1.5]})
  assert typed_yaml.to_dict(built)["inner"] == {"size": 2}
  assert typed_yaml.build(Outer, yaml.safe_load(typed_yaml.dump(built))) == built


def test_files_that_are_not_a_mapping_of_sections_name_the_schema(tmp_path):
  listed = tmp_path / "list.yaml"
  listed.write_text("- 1\n")
  with pytest.raises(ConfigError, match=r"expected a mapping of sections \(kind, rate, limit"):
    typed_yaml.load_yaml(listed, Outer)
  broken = tmp_path / "broken.yaml"
  broken.write_text("a: [1\n")
  with pytest.raises(ConfigError, match="broken.yaml' line 2: YAML syntax error"):
    typed_yaml.load_yaml(broken, Outer)
  with pytest.raises(ConfigError, match="not found"):
    typed_yaml.load_yaml(tmp_path / "absent.yaml", Outer)
  (tmp_path / "empty.yaml").write_text("")
  assert typed_yaml.load_yaml(tmp_path / "empty.yaml", Outer) == {}
