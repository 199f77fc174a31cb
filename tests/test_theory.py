"""Every identity of the golden equilibrium and the derived pair (docs/theory.md, 2 to 5)."""

import cmath
import math

import pytest

from dualprocess import theory

PHI = theory.golden_ratio()
P = theory.equilibrium_probability()
TOL = 1e-12


def test_golden_ratio_is_positive_root_of_x2_eq_x_plus_1():
  assert PHI > 0
  assert PHI**2 == pytest.approx(PHI + 1, abs=TOL)


def test_equilibrium_equals_its_own_odds_of_failure():
  assert P == pytest.approx((1 - P) / P, abs=TOL)
  assert P**2 + P - 1 == pytest.approx(0, abs=TOL)


def test_roots_are_inverse_phi_and_minus_phi():
  assert P == pytest.approx(PHI - 1, abs=TOL)
  assert P == pytest.approx(1 / PHI, abs=TOL)
  q = theory.dual_root()
  assert q == pytest.approx(-PHI, abs=TOL)
  assert q**2 + q - 1 == pytest.approx(0, abs=TOL)
  assert P + q == pytest.approx(-1, abs=TOL)  # Vieta
  assert P * q == pytest.approx(-1, abs=TOL)


def test_failure_probability_is_square_of_equilibrium():
  assert 1 - P == pytest.approx(P**2, abs=TOL)
  assert 1 - P == pytest.approx(1 / PHI**2, abs=TOL)
  assert P + P**2 == pytest.approx(1, abs=TOL)


def test_logit_of_equilibrium_is_log_phi():
  assert math.log(P / (1 - P)) == pytest.approx(math.log(PHI), abs=TOL)
  assert 1 / (1 + math.exp(-math.log(PHI))) == pytest.approx(1 / PHI, abs=TOL)


def test_information_of_dual_root_is_complex():
  info = -cmath.log(theory.dual_root())
  assert info == pytest.approx(complex(-math.log(PHI), -math.pi), abs=TOL)


def test_binary_entropy_of_dual_root():
  h = theory.binary_entropy(theory.dual_root())
  assert isinstance(h, complex)
  assert h.real == pytest.approx(-(PHI + 2) * math.log(PHI), abs=TOL)
  assert h.imag == pytest.approx(math.pi * PHI, abs=TOL)


def test_two_processes_tied_by_i_pi_over_phi():
  total = theory.binary_entropy(P) + theory.binary_entropy(theory.dual_root()) / PHI**2
  assert total.real == pytest.approx(0, abs=TOL)
  assert total.imag == pytest.approx(math.pi / PHI, abs=TOL)


def test_binary_entropy_real_values_and_conventions():
  assert theory.binary_entropy(0.0) == 0.0
  assert theory.binary_entropy(1) == 0.0
  assert theory.binary_entropy(0.5, base=2) == pytest.approx(1.0, abs=TOL)
  assert isinstance(theory.binary_entropy(0.3), float)
  # complex input on the unit interval agrees with the real formula
  assert theory.binary_entropy(complex(0.3, 0)) == pytest.approx(theory.binary_entropy(0.3))


@pytest.mark.parametrize("bad", ["0.5", None, True, [0.5]])
def test_binary_entropy_rejects_non_numbers(bad):
  with pytest.raises(TypeError, match="p must be"):
    theory.binary_entropy(bad)


@pytest.mark.parametrize("base", [0, -2, 1])
def test_binary_entropy_rejects_bad_base(base):
  with pytest.raises(ValueError, match="base"):
    theory.binary_entropy(0.5, base=base)


def test_cross_entropy_of_equilibrium_against_uniform_is_one_bit():
  assert theory.equilibrium_cross_entropy_bits() == pytest.approx(1.0, abs=TOL)
  split = theory.equilibrium_entropy_bits() + theory.equilibrium_divergence_bits()
  assert split == pytest.approx(1.0, abs=TOL)


def test_equilibrium_target_entropy_from_definition():
  for k in (2, 3, 10, 1000):
    t = [P] + [(1 - P) / (k - 1)] * (k - 1)
    expected = -sum(x * math.log(x) for x in t)
    assert theory.equilibrium_target_entropy(k) == pytest.approx(expected, abs=1e-12)
  assert theory.equilibrium_target_entropy(10) == pytest.approx(1.5043, abs=1e-4)
  # K = 2: the target is the binary equilibrium itself.
  assert theory.equilibrium_target_entropy(2) == pytest.approx(theory.binary_entropy(P))


@pytest.mark.parametrize("k, err", [(1, ValueError), (0, ValueError), (2.0, TypeError),
                                    (True, TypeError)])
def test_equilibrium_target_entropy_refuses_bad_class_counts(k, err):
  with pytest.raises(err, match="num_classes"):
    theory.equilibrium_target_entropy(k)


# Section 5: the author's derivation (Double-Bayesian Learning, eqs. 26, 28, 33, 34).

def test_golden_root_of_eq_26():
  p1 = (math.sqrt(5) - 1) / 2
  assert P == pytest.approx(p1, abs=TOL)
  assert p1 == pytest.approx((1 - p1) / p1, abs=TOL)


def test_inner_bayes_multiplicands_meet_at_one_over_sqrt_two():
  m = theory.inner_bayes_multiplicand()
  assert m == pytest.approx(math.cos(math.pi / 4), abs=TOL)
  assert m == pytest.approx(1 / math.sqrt(2), abs=TOL)
  assert m * m == pytest.approx(0.5, abs=TOL)


def test_momentum_over_sqrt_two_is_the_golden_root():  # eq. 33
  alpha = theory.double_bayesian_momentum()
  assert alpha / math.sqrt(2) == pytest.approx(P, abs=TOL)
  assert alpha == pytest.approx(math.sqrt(2) / PHI, abs=TOL)
  x = alpha / math.sqrt(2)  # a solution of the golden ratio's functional equation
  assert x == pytest.approx((1 - x) / x, abs=TOL)


def test_learning_rate_is_the_complement_taken_twice():  # eqs. 28 and 34
  alpha = theory.double_bayesian_momentum()
  eta = theory.double_bayesian_learning_rate()
  assert eta == pytest.approx((1 - alpha) ** 2, abs=TOL)
  assert 1 - P == pytest.approx(P**2, abs=TOL)  # eq. 28: 1 - p = p^2, the model for "twice"
  assert 0 < eta < 1 - alpha < 1


def test_squared_momentum_and_inverse_phi_cubed_make_one():
  alpha = theory.double_bayesian_momentum()
  assert alpha**2 + 1 / PHI**3 == pytest.approx(1.0, abs=TOL)
