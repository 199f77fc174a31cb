"""The golden equilibrium and the constants derived from it.

Plain Python floats and complex numbers; no JAX needed. Every constant here is
computed from its definition (``docs/theory.md``, sections 2 to 5).

Sections 2 to 4 are this toolkit's formalization of S. Jaeger's dual process
model: the 2021 abstract states that an equilibrium of the two processes
yields a learning rate and a momentum weight and brings in the golden ratio
and complex numbers, but those numbers are *not* copied from the paper's
text. Section 5 is the author's own derivation of his pair, from his 2024
"Double-Bayesian Learning" (eqs. 26, 33, 34), computed here from the golden
root rather than typed. The named (learning rate, momentum) sets built from
them are in :mod:`dualprocess.constants`.

References:
  Jaeger, `A Dual Process Model for Optimizing Cross Entropy in Neural
  Networks <https://arxiv.org/abs/2104.13277>`_, 2021; Jaeger,
  `Double-Bayesian Learning <https://arxiv.org/abs/2410.12984>`_, 2024.
"""

from __future__ import annotations

import cmath
import math
import numbers
from typing import Union

Number = Union[float, complex]


def golden_ratio() -> float:
  """Returns phi = (1 + sqrt 5) / 2, the positive root of x^2 = x + 1.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.golden_ratio(), 10)
    1.6180339887
  """
  return (1.0 + math.sqrt(5.0)) / 2.0


def equilibrium_probability() -> float:
  """Returns p* = 1/phi, the positive root of p = (1 - p) / p.

  At equilibrium the probability of a correct decision equals its own odds of
  failure, ``p = (1 - p) / p``, i.e. ``p^2 + p - 1 = 0``.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.equilibrium_probability(), 10)
    0.6180339887
  """
  return 1.0 / golden_ratio()


def dual_root() -> float:
  """Returns p' = -phi, the negative (dual) root of ``p^2 + p - 1 = 0``.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.dual_root(), 10)
    -1.6180339887
  """
  return -golden_ratio()


def _log(x: Number, base: float) -> Number:
  """Logarithm on the principal branch; real for positive reals."""
  if isinstance(x, complex) or x < 0:
    return cmath.log(x) / math.log(base)
  return math.log(x) / math.log(base)


def _xlogx(x: Number, base: float) -> Number:
  """``x log x`` with the convention ``0 log 0 = 0``."""
  if x == 0:
    return 0.0
  return x * _log(x, base)


def binary_entropy(p: Number, base: float = math.e) -> Number:
  """Binary entropy ``h(p) = -p log p - (1 - p) log(1 - p)``.

  For ``p`` in [0, 1] this is the Shannon entropy of a coin with bias ``p``
  (``0 log 0 = 0``) and the result is a ``float``. For any other real ``p`` or
  a complex ``p`` the logarithm is continued on its principal branch and the
  result is a ``complex``; this is how the dual root ``-phi`` gets a complex
  information content.

  Args:
    p: the probability, a real or complex number.
    base: the logarithm's base; ``math.e`` for nats, ``2`` for bits.

  Returns:
    ``h(p)`` in the unit set by ``base``.

  Examples:
    >>> from dualprocess import theory
    >>> theory.binary_entropy(0.5, base=2)
    1.0
    >>> h = theory.binary_entropy(theory.dual_root())
    >>> round(h.imag / 3.141592653589793, 10)  # i*pi*phi
    1.6180339887
  """
  if isinstance(p, bool) or not isinstance(p, numbers.Number):
    raise TypeError(f"binary_entropy: p must be a real or complex number, got {p!r}")
  if not isinstance(base, numbers.Real) or base <= 0 or base == 1:
    raise ValueError(f"binary_entropy: base must be a positive real other than 1, got {base!r}")
  if isinstance(p, numbers.Real) and 0.0 <= p <= 1.0:
    p = float(p)
    return -_xlogx(p, base) - _xlogx(1.0 - p, base)
  p = complex(p)
  return -_xlogx(p, base) - _xlogx(1.0 - p, base)


def equilibrium_distribution() -> tuple[float, float]:
  """Returns the binary equilibrium ``e = (1/phi, 1/phi^2)``."""
  p = equilibrium_probability()
  return p, 1.0 - p


def equilibrium_cross_entropy_bits() -> float:
  """Cross-entropy ``H2(e, u)`` of the equilibrium against the uniform prior, in bits.

  ``H2(e, u) = -sum_i e_i log2(1/2)``, which is exactly one bit because the
  equilibrium's two probabilities sum to one.

  Examples:
    >>> from dualprocess import theory
    >>> theory.equilibrium_cross_entropy_bits()
    1.0
  """
  return -sum(e_i * math.log2(0.5) for e_i in equilibrium_distribution())


def equilibrium_entropy_bits() -> float:
  """Entropy ``H2(e)`` of the binary equilibrium, in bits (the entropy process).

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.equilibrium_entropy_bits(), 10)
    0.9594187282
  """
  return binary_entropy(equilibrium_probability(), base=2)


def equilibrium_divergence_bits() -> float:
  """``KL2(e || u)`` of the equilibrium from the uniform prior, in bits.

  Computed from its definition ``sum_i e_i log2(e_i / u_i)`` (the divergence
  process), not as ``1 - H2(e)``; the identity is a test.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.equilibrium_divergence_bits(), 10)
    0.0405812718
  """
  return sum(e_i * math.log2(e_i / 0.5) for e_i in equilibrium_distribution())


def equilibrium_target_entropy(num_classes: int) -> float:
  """Entropy ``H(t_y)`` in nats of the K-class equilibrium target.

  The target puts ``1/phi`` on the label and ``1/phi^2`` spread evenly over
  the other ``K - 1`` classes; its entropy is the floor of the dual-process
  loss (``docs/theory.md`` section 3).

  Args:
    num_classes: the number of classes ``K >= 2``.

  Returns:
    ``-p log p - (1 - p) log((1 - p) / (K - 1))`` with ``p = 1/phi``.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.equilibrium_target_entropy(10), 4)
    1.5043
  """
  check_num_classes(num_classes)
  p = equilibrium_probability()
  rest = (1.0 - p) / (num_classes - 1)
  return -_xlogx(p, math.e) - (num_classes - 1) * _xlogx(rest, math.e)


def inner_bayes_multiplicand() -> float:
  """Returns sin(pi/4) = cos(pi/4) = 1/sqrt(2), where the inner Bayes equation is met.

  In "Double-Bayesian Learning" every decision is two Bayesian decisions, and
  the inner Bayes equation asks two multiplicands to be equal; drawn on the
  unit circle, they are equal at 45 degrees, where both are ``1/sqrt(2)``.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.inner_bayes_multiplicand() ** 2, 12)
    0.5
  """
  return math.sin(math.pi / 4.0)


def double_bayesian_momentum() -> float:
  """The author's momentum weight ``alpha = sqrt(2) * p1 = sqrt(2)/phi`` (his eq. 33).

  The momentum term, seen through the inner Bayes multiplicand ``1/sqrt(2)``,
  must equal the golden root ``p1 = (sqrt(5) - 1)/2 = 1/phi`` (eq. 26):
  ``alpha * (1/sqrt 2) = p1``.

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.double_bayesian_momentum(), 6)
    0.874032
  """
  return equilibrium_probability() / inner_bayes_multiplicand()


def double_bayesian_learning_rate() -> float:
  """The author's learning rate ``eta = (1 - alpha)^2`` (his eq. 34).

  The dual process sees the same step from the other side: the complement of
  ``alpha`` taken twice, i.e. the simple complement squared, as in the golden
  ratio's own ``1 - p = p^2`` (eq. 28).

  Examples:
    >>> from dualprocess import theory
    >>> round(theory.double_bayesian_learning_rate(), 6)
    0.015868
  """
  return (1.0 - double_bayesian_momentum()) ** 2


def check_num_classes(num_classes: object, name: str = "num_classes") -> int:
  """Validates a class count: a Python integer of at least 2."""
  if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral):
    raise TypeError(f"{name} must be an integer, got {num_classes!r}")
  if num_classes < 2:
    raise ValueError(
        f"{name} must be at least 2 (one class has no decision to make), got {num_classes}")
  return int(num_classes)
