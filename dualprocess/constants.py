"""Named (learning rate, momentum) pairs, each with where it comes from.

Five sets, told apart by provenance:

- ``"double_bayesian"`` (the default of :func:`dualprocess.dual_process`):
  the author's own derivation (S. Jaeger, "Double-Bayesian Learning", arXiv
  2410.12984, 2024, eqs. 26, 33, 34), computed by :mod:`dualprocess.theory`:
  momentum ``alpha = sqrt(2) * p1 = sqrt(2)/phi ~ 0.874032`` and learning
  rate ``eta = (1 - alpha)^2 ~ 0.015868``.
- ``"reported"``: the same pair rounded, (0.016, 0.874), as the author's grid
  search and the 2026 paper (Bui et al., arXiv 2605.20009) print it. A
  quotation, so the one place in the library where the two numbers are typed.
- ``"information"``: this toolkit's formalization, ``KL2(e||u)`` and
  ``H2(e)`` of the golden equilibrium, computed by :mod:`dualprocess.theory`.
- ``"golden_partition"``: ``(1/phi^2, 1/phi)``, computed by the same module.
- ``"traditional"``: ``(0.01, 0.9)``, the values practice settled on, which
  the 2021 paper's abstract says its derived values match closely.

optax has no registry like this; it is this toolkit's own API, so every set
carries its provenance (:func:`provenance`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from dualprocess import theory


class Hyperparameters(NamedTuple):
  """A learning rate and a momentum weight; unpacks and prints like a tuple.

  Examples:
    >>> from dualprocess.constants import Hyperparameters
    >>> learning_rate, momentum = Hyperparameters(0.1, 0.9)
    >>> Hyperparameters(0.1, 0.9)
    (0.1, 0.9)
  """

  learning_rate: float
  momentum: float

  def __repr__(self) -> str:
    return tuple.__repr__(self)

  @property
  def effective_step(self) -> float:
    """The steady-state step ``eta / (1 - mu)`` of heavy-ball momentum."""
    return self.learning_rate / (1.0 - self.momentum)


class _Set(NamedTuple):
  compute: Callable[[], Hyperparameters]
  provenance: str


def _double_bayesian() -> Hyperparameters:
  return Hyperparameters(learning_rate=theory.double_bayesian_learning_rate(),
                         momentum=theory.double_bayesian_momentum())


def _reported() -> Hyperparameters:
  # Quoted, not computed: the rounded pair of S. Jaeger, "Double-Bayesian
  # Learning", arXiv 2410.12984, 2024 (the grid of its appendix A has the
  # cell 0.016 x 0.874), and of V. Bui, H. Yu, K. Kantipudi, Z. Yaniv,
  # S. Jaeger, arXiv 2605.20009, 2026.
  return Hyperparameters(learning_rate=0.016, momentum=0.874)


def _information() -> Hyperparameters:
  return Hyperparameters(learning_rate=theory.equilibrium_divergence_bits(),
                         momentum=theory.equilibrium_entropy_bits())


def _golden_partition() -> Hyperparameters:
  p = theory.equilibrium_probability()
  return Hyperparameters(learning_rate=1.0 - p, momentum=p)


def _traditional() -> Hyperparameters:
  # The values of common practice (Rumelhart et al., 1986, onwards), the ones
  # the 2021 abstract says the derived values "match closely".
  return Hyperparameters(learning_rate=0.01, momentum=0.9)


_SETS: dict[str, _Set] = {
    "double_bayesian": _Set(_double_bayesian, (
        "The author's, computed: S. Jaeger, 'Double-Bayesian Learning' (arXiv 2410.12984, "
        "2024), momentum alpha = sqrt(2) * p1 with p1 = (sqrt(5) - 1)/2 = 1/phi (eqs. 26 "
        "and 33) and learning rate eta = (1 - alpha)^2 (eq. 34), fixed during training.")),
    "reported": _Set(_reported, (
        "Quoted: the author's pair rounded to (0.016, 0.874), the cell of his MNIST grid "
        "(S. Jaeger, 'Double-Bayesian Learning', arXiv 2410.12984, 2024, appendix A) and the "
        "values of V. Bui, H. Yu, K. Kantipudi, Z. Yaniv and S. Jaeger, 'Training Neural "
        "Networks with Optimal Double-Bayesian Learning' (arXiv 2605.20009, 2026).")),
    "information": _Set(_information, (
        "Ours: this toolkit's formalization of the 2021 dual process model, computed: the "
        "divergence share KL2(e||u) and the entropy share H2(e) of the one bit between the "
        "golden equilibrium e = (1/phi, 1/phi^2) and the uniform prior. Not the paper's "
        "numbers.")),
    "golden_partition": _Set(_golden_partition, (
        "Ours: the golden partition of one, computed as (1/phi^2, 1/phi); a comparison "
        "point with the same effective step (1) as the information pair.")),
    "traditional": _Set(_traditional, (
        "Practice: the learning rate 0.01 and momentum 0.9 traditionally used in the "
        "literature, which the 2021 abstract says the derived values match closely.")),
}

NAMES: tuple[str, ...] = tuple(_SETS)
DEFAULT = "double_bayesian"


def _lookup(name: str) -> _Set:
  if not isinstance(name, str):
    raise TypeError(f"hyperparameter set name must be a string, got {name!r}")
  try:
    return _SETS[name]
  except KeyError:
    raise ValueError(f"unknown hyperparameter set {name!r}; valid names: "
                     + ", ".join(NAMES)) from None


def hyperparameters(name: str = DEFAULT) -> Hyperparameters:
  """The named ``(learning_rate, momentum)`` pair.

  ============================  ==================  ==================  ==========
  name                          learning rate       momentum            provenance
  ============================  ==================  ==================  ==========
  ``"double_bayesian"``         (1 - alpha)^2       alpha = sqrt2/phi   the author's,
  (default)                     ~ 0.015868          ~ 0.874032          computed
  ``"reported"``                0.016               0.874               quoted (rounded)
  ``"information"``             KL2(e||u) ~ 0.0406  H2(e) ~ 0.9594      ours, computed
  ``"golden_partition"``        1/phi^2 ~ 0.382     1/phi ~ 0.618       ours, computed
  ``"traditional"``             0.01                0.9                 practice
  ============================  ==================  ==================  ==========

  Args:
    name: one of :data:`NAMES`.

  Returns:
    A :class:`Hyperparameters` ``(learning_rate, momentum)``, usable as
    ``dual_process(*hyperparameters(name))``.

  Raises:
    ValueError: for an unknown name (the message lists the valid ones).

  Examples:
    >>> import dualprocess as dp
    >>> learning_rate, momentum = dp.hyperparameters()  # "double_bayesian"
    >>> round(learning_rate, 6), round(momentum, 6)
    (0.015868, 0.874032)
    >>> dp.hyperparameters("reported")
    (0.016, 0.874)
    >>> learning_rate, momentum = dp.hyperparameters("information")
    >>> round(learning_rate + momentum, 12)
    1.0
    >>> tx = dp.dual_process(*dp.hyperparameters("information"))

  References:
    Jaeger, `Double-Bayesian Learning <https://arxiv.org/abs/2410.12984>`_,
    2024; Bui, Yu, Kantipudi, Yaniv and Jaeger, Training Neural Networks with
    Optimal Double-Bayesian Learning, arXiv 2605.20009, 2026; Jaeger, `A Dual
    Process Model for Optimizing Cross Entropy in Neural Networks
    <https://arxiv.org/abs/2104.13277>`_, 2021.
  """
  return _lookup(name).compute()


def provenance(name: str) -> str:
  """Where the named set comes from, and whether it is quoted, the author's or ours.

  Examples:
    >>> import dualprocess as dp
    >>> dp.provenance("information").split(":")[0]
    'Ours'
  """
  return _lookup(name).provenance
