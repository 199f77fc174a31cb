"""The named constant sets: values, provenance, the information pair computed, bad names."""

import ast
import math
import pathlib

import pytest

import dualprocess as dp
from dualprocess import constants, theory

PHI = theory.golden_ratio()
TOL = 1e-12
LIBRARY = pathlib.Path(dp.__file__).parent


def test_reported_pair_is_the_quotation():
  assert dp.hyperparameters("reported") == (0.016, 0.874)
  assert dp.hyperparameters() == dp.hyperparameters("reported")
  assert repr(dp.hyperparameters("reported")) == "(0.016, 0.874)"
  assert dp.hyperparameters("reported").effective_step == pytest.approx(0.016 / 0.126)


def test_information_pair_partitions_one_bit():
  hp = dp.hyperparameters("information")
  p = theory.equilibrium_probability()
  h2 = -p * math.log2(p) - (1 - p) * math.log2(1 - p)
  kl2 = p * math.log2(p / 0.5) + (1 - p) * math.log2((1 - p) / 0.5)
  assert hp.momentum == pytest.approx(h2, abs=TOL)
  assert hp.learning_rate == pytest.approx(kl2, abs=TOL)
  assert hp.learning_rate + hp.momentum == pytest.approx(1.0, abs=TOL)
  assert hp.effective_step == pytest.approx(1.0, abs=1e-9)
  # The ten places docs/theory.md prints.
  assert hp.momentum == pytest.approx(0.9594187282, abs=1e-10)
  assert hp.learning_rate == pytest.approx(0.0405812718, abs=1e-10)


def test_golden_partition_and_traditional():
  gp = dp.hyperparameters("golden_partition")
  assert gp.learning_rate == pytest.approx(1 / PHI**2, abs=TOL)
  assert gp.momentum == pytest.approx(1 / PHI, abs=TOL)
  assert gp.effective_step == pytest.approx(1.0, abs=1e-9)
  assert dp.hyperparameters("traditional") == (0.01, 0.9)
  assert dp.hyperparameters("traditional").effective_step == pytest.approx(0.1)


def test_every_set_unpacks_like_a_tuple_and_has_provenance():
  assert constants.NAMES == ("reported", "information", "golden_partition", "traditional")
  kinds = {"reported": "The author's", "information": "Ours", "golden_partition": "Ours",
           "traditional": "Practice"}
  for name in constants.NAMES:
    learning_rate, momentum = dp.hyperparameters(name)
    assert 0 < learning_rate < 1 and 0 <= momentum < 1
    assert dp.provenance(name).startswith(kinds[name] + ":")
  assert "arXiv 2605.20009" in dp.provenance("reported")
  assert "2026" in dp.provenance("reported")


@pytest.mark.parametrize("name, err", [("derived", ValueError), ("Reported", ValueError),
                                       ("", ValueError), (None, TypeError), (1, TypeError)])
def test_unknown_names_are_refused_with_the_valid_ones(name, err):
  with pytest.raises(err) as info:
    dp.hyperparameters(name)
  if err is ValueError:
    assert "reported, information, golden_partition, traditional" in str(info.value)
  with pytest.raises(err):
    dp.provenance(name)


def numeric_literals(path):
  """Every float literal in a module's code (docstrings are strings, so not counted)."""
  tree = ast.parse(path.read_text())
  return [node.value for node in ast.walk(tree)
          if isinstance(node, ast.Constant) and isinstance(node.value, float)]


def test_information_constants_are_computed_not_typed():
  # Neither ours nor the golden partition appears as a literal anywhere in the
  # library; the reported pair is typed exactly once, in constants.py.
  info, golden = dp.hyperparameters("information"), dp.hyperparameters("golden_partition")
  found = {path.name: numeric_literals(path) for path in LIBRARY.glob("*.py")}
  for literals in found.values():
    for value in (*info, *golden):
      assert not any(abs(v - value) < 1e-3 for v in literals), value
  everywhere = [v for literals in found.values() for v in literals]
  assert everywhere.count(0.016) == 1 and everywhere.count(0.874) == 1
  assert 0.016 in found["constants.py"] and 0.874 in found["constants.py"]


def test_the_square_root_of_two_observation_is_only_an_observation():
  # docs/theory.md notes that sqrt(2)/phi and (1 - sqrt(2)/phi)^2 match the
  # reported pair to its printed digits; no default rests on it.
  mu = math.sqrt(2) / PHI
  assert round(mu, 3) == 0.874 and round((1 - mu) ** 2, 3) == 0.016
  assert mu**2 + 1 / PHI**3 == pytest.approx(1.0, abs=TOL)
