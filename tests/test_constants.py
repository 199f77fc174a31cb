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


def test_double_bayesian_is_the_default_and_computed_from_the_golden_root():
  hp = dp.hyperparameters("double_bayesian")
  assert dp.hyperparameters() == hp
  p1 = (math.sqrt(5) - 1) / 2  # eq. 26
  assert hp.momentum == pytest.approx(math.sqrt(2) * p1, abs=TOL)  # eq. 33
  assert hp.learning_rate == pytest.approx((1 - math.sqrt(2) * p1) ** 2, abs=TOL)  # eq. 34
  assert hp.momentum == pytest.approx(0.8740320489, abs=1e-10)
  assert hp.learning_rate == pytest.approx(0.0158679247, abs=1e-10)
  assert hp.effective_step == pytest.approx(hp.learning_rate / (1 - hp.momentum), abs=TOL)
  assert hp.effective_step == pytest.approx(1 - hp.momentum, abs=TOL)  # eta = (1 - mu)^2


def test_reported_pair_is_the_rounded_quotation_of_the_derived_one():
  assert dp.hyperparameters("reported") == (0.016, 0.874)
  assert repr(dp.hyperparameters("reported")) == "(0.016, 0.874)"
  assert dp.hyperparameters("reported").effective_step == pytest.approx(0.016 / 0.126)
  derived = dp.hyperparameters("double_bayesian")
  assert tuple(round(v, 3) for v in derived) == dp.hyperparameters("reported")


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
  assert constants.NAMES == ("double_bayesian", "reported", "information", "golden_partition",
                             "traditional")
  kinds = {"double_bayesian": "The author's, computed", "reported": "Quoted",
           "information": "Ours", "golden_partition": "Ours", "traditional": "Practice"}
  for name in constants.NAMES:
    learning_rate, momentum = dp.hyperparameters(name)
    assert 0 < learning_rate < 1 and 0 <= momentum < 1
    assert dp.provenance(name).startswith(kinds[name] + ":")
  for name in ("double_bayesian", "reported"):
    assert "arXiv 2410.12984" in dp.provenance(name)
  assert "eqs. 26" in dp.provenance("double_bayesian")
  assert "(eq. 34)" in dp.provenance("double_bayesian")
  assert "arXiv 2605.20009" in dp.provenance("reported")


@pytest.mark.parametrize("name, err", [("derived", ValueError), ("Reported", ValueError),
                                       ("", ValueError), (None, TypeError), (1, TypeError)])
def test_unknown_names_are_refused_with_the_valid_ones(name, err):
  with pytest.raises(err) as info:
    dp.hyperparameters(name)
  if err is ValueError:
    assert ("double_bayesian, reported, information, golden_partition, traditional"
            in str(info.value))
  with pytest.raises(err):
    dp.provenance(name)


def numeric_literals(path):
  """Every float literal in a module's code (docstrings are strings, so not counted)."""
  tree = ast.parse(path.read_text())
  return [node.value for node in ast.walk(tree)
          if isinstance(node, ast.Constant) and isinstance(node.value, float)]


def test_computed_constants_are_not_typed():
  # Neither ours, the golden partition nor the author's derived pair appears
  # as a literal anywhere in the library; the only literals near the derived
  # pair are the rounded quotation, typed exactly once, in constants.py.
  computed = [*dp.hyperparameters("information"), *dp.hyperparameters("golden_partition")]
  derived = dp.hyperparameters("double_bayesian")
  found = {path.name: numeric_literals(path) for path in LIBRARY.glob("*.py")}
  everywhere = [v for literals in found.values() for v in literals]
  for value in computed:
    assert not any(abs(v - value) < 1e-3 for v in everywhere), value
  for value in derived:
    near = [v for v in everywhere if abs(v - value) < 1e-3]
    assert near and set(near) <= {0.016, 0.874}, (value, near)
  assert everywhere.count(0.016) == 1 and everywhere.count(0.874) == 1
  assert 0.016 in found["constants.py"] and 0.874 in found["constants.py"]
