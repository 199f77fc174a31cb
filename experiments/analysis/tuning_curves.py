"""What a random search buys: expected best validation accuracy after k trials.

A tuned baseline costs its search; the derived constants cost one run. Dodge
et al. (2019) report, instead of one tuned point, the expected best validation
score of ``k`` trials drawn from the search, for ``k = 1..N``. With the ``N``
observed scores sorted ascending, ``v(1) <= ... <= v(N)``, and ``k`` draws with
replacement from their empirical distribution,

    E[max_k] = sum_i v(i) * ((i/N)^k - ((i-1)/N)^k).

At ``k = 1`` this is the mean of the scores; it rises with ``k`` and stays at
or below ``v(N)``. The band resamples the ``N`` trials with replacement and
takes percentiles of the curve at each ``k``. ``break_even_trials`` is the
smallest ``k`` whose expected best reaches a reference (the derived pair's
mean validation accuracy over seeds): the number of random-search trials the
reference is worth; ``None`` means more than ``N``.

References:
  Dodge, Gururangan, Card, Schwartz, Smith, "Show Your Work: Improved
  Reporting of Experimental Results", EMNLP 2019 (the estimator, with
  replacement, as used here). Schmidt, Schneider, Hennig, "Descending through
  a Crowded Valley: Benchmarking Deep Learning Optimizers", ICML 2021 (equal
  random-search budgets for every optimizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

ESTIMATOR = ("expected maximum of k draws with replacement from the N trials' empirical "
             "distribution (Dodge et al. 2019)")


def expected_max(scores: Sequence[float], ks: Optional[Sequence[int]] = None) -> np.ndarray:
  """``E[max_k]`` of ``k`` draws with replacement from ``scores``, for each ``k`` in ``ks``.

  Args:
    scores: the N trials' scores (finite; a diverged trial is scored by the
      caller, e.g. at chance level).
    ks: the numbers of draws (default ``1..N``).

  Returns:
    A float array, one expected maximum per ``k``.
  """
  v = np.sort(np.asarray(scores, float))
  n = len(v)
  if n == 0:
    raise ValueError("expected_max: needs at least one score")
  if not np.all(np.isfinite(v)):
    raise ValueError("expected_max: scores must be finite (score a diverged trial first)")
  ks = np.arange(1, n + 1) if ks is None else np.asarray(ks)
  if np.any(ks < 1):
    raise ValueError("expected_max: k must be at least 1")
  i = np.arange(1, n + 1)
  weights = (i[None, :] / n) ** ks[:, None] - ((i[None, :] - 1) / n) ** ks[:, None]
  return weights @ v


def expected_max_band(scores: Sequence[float], resamples: int = 1000, level: float = 0.90,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """Percentile band of ``expected_max`` over bootstrap resamples of the trials.

  Args:
    scores: the N trials' scores.
    resamples: how many resamples of N trials, with replacement.
    level: the band's coverage (0.90: the 5th and 95th percentiles).
    seed: the resampling generator's seed.

  Returns:
    ``(low, high)``, each with one value per ``k = 1..N``.
  """
  v = np.asarray(scores, float)
  rng = np.random.default_rng(seed)
  curves = np.stack([expected_max(rng.choice(v, size=len(v), replace=True))
                     for _ in range(resamples)])
  tail = 100 * (1 - level) / 2
  return np.percentile(curves, tail, axis=0), np.percentile(curves, 100 - tail, axis=0)


def break_even_trials(curve: Sequence[float], reference: float) -> Optional[int]:
  """The smallest ``k`` (1-based) with ``curve[k - 1] >= reference``; None if none."""
  reached = np.flatnonzero(np.asarray(curve) >= reference)
  return int(reached[0]) + 1 if reached.size else None


def tuning_curve(scores: Sequence[float], reference: float, resamples: int = 1000,
                 seed: int = 0) -> dict:
  """The JSON-ready curve of one baseline against a reference accuracy.

  Returns:
    ``expected_best_validation_accuracy`` (k = 1..N), its ``band_low`` and
    ``band_high`` (90 %), ``break_even_trials`` (None: more than N) and the
    same at the band's edges (``break_even_trials_band``: the high edge
    reaches first, so it gives the fewest trials), the estimator's name.
  """
  curve = expected_max(scores)
  low, high = expected_max_band(scores, resamples=resamples, seed=seed)
  return {"trials": len(curve), "estimator": ESTIMATOR, "band": "bootstrap 5th-95th "
          f"percentiles over {resamples} resamples of the trials",
          "expected_best_validation_accuracy": curve.tolist(),
          "band_low": low.tolist(), "band_high": high.tolist(),
          "reference_validation_accuracy": reference,
          "break_even_trials": break_even_trials(curve, reference),
          "break_even_trials_band": [break_even_trials(high, reference),
                                     break_even_trials(low, reference)]}


def describe_break_even(k: Optional[int], trials: int) -> str:
  """``"3"``, or ``"> 32"`` when no k up to N reaches the reference."""
  return f"> {trials}" if k is None else str(k)
