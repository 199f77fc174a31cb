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


def expected_at_best(validation: Sequence[float], values: Sequence[float],
                     ks: Optional[Sequence[int]] = None) -> np.ndarray:
  """The expected ``values`` (e.g. test accuracy) of the trial that validation picks among
  ``k`` drawn trials: the weights of :func:`expected_max`, applied to ``values`` in the
  order of their trials' validation scores (ties kept in the trials' order),

      E[value of the best of k] = sum_i value_(i) * ((i/N)^k - ((i-1)/N)^k).

  What a user of a k-trial search gets on test, where validation chooses. Trials tied on
  validation share their values' mean: a tie is broken at random, not by the trials'
  order.
  """
  validation, values = np.asarray(validation, float), np.asarray(values, float)
  if validation.shape != values.shape or not np.all(np.isfinite(validation)):
    raise ValueError("expected_at_best: one finite validation score per value")
  order = np.argsort(validation, kind="stable")
  ranked, v = validation[order], values[order].copy()
  for score in np.unique(ranked):
    tied = ranked == score
    v[tied] = v[tied].mean()
  n = len(v)
  ks = np.arange(1, n + 1) if ks is None else np.asarray(ks)
  i = np.arange(1, n + 1)
  weights = (i[None, :] / n) ** ks[:, None] - ((i[None, :] - 1) / n) ** ks[:, None]
  return weights @ v


def break_even_trials(curve: Sequence[float], reference: float) -> Optional[int]:
  """The smallest ``k`` (1-based) with ``curve[k - 1] >= reference``; None if none."""
  reached = np.flatnonzero(np.asarray(curve) >= reference)
  return int(reached[0]) + 1 if reached.size else None


def tuning_curve(scores: Sequence[float], reference: float, resamples: int = 1000,
                 seed: int = 0, reference_seeds: Optional[Sequence[float]] = None,
                 test_scores: Optional[Sequence[float]] = None) -> dict:
  """The JSON-ready curve of one baseline against a reference accuracy.

  Args:
    scores: the trials' validation scores.
    reference: the reference's bar (its mean validation accuracy over seeds).
    resamples: bootstrap resamples.
    seed: the resampling generator's seed.
    reference_seeds: the reference's per-seed validation accuracies; given, every
      resample draws them too (with replacement), so the band carries the uncertainty of
      the bar as well as of the trials.
    test_scores: the trials' test accuracies (recorded, never used to choose); given, the
      expected test accuracy of the trial validation picks among k, with its band.

  Returns:
    ``expected_best_validation_accuracy`` (k = 1..N), its ``band_low`` and ``band_high``
    (90 %), ``break_even_trials`` (None: more than N) and the same read from the band of
    the curve less the bar (``break_even_trials_band``: the high edge reaches first, so it
    gives the fewest trials), with ``test_scores`` ``expected_test_accuracy_of_best`` and
    its band; the estimator's name.
  """
  v = np.asarray(scores, float)
  curve = expected_max(v)
  rng = np.random.default_rng(seed)
  curves, gaps, tests = [], [], []
  for _ in range(resamples):
    drawn = rng.integers(0, len(v), len(v))
    curves.append(expected_max(v[drawn]))
    bar = (reference if reference_seeds is None else
           float(np.mean(rng.choice(np.asarray(reference_seeds, float),
                                    size=len(reference_seeds), replace=True))))
    gaps.append(curves[-1] - bar)
    if test_scores is not None:
      tests.append(expected_at_best(v[drawn], np.asarray(test_scores, float)[drawn]))
  low, high = np.percentile(curves, 5, axis=0), np.percentile(curves, 95, axis=0)
  gap_low, gap_high = np.percentile(gaps, 5, axis=0), np.percentile(gaps, 95, axis=0)
  result = {"trials": len(curve), "estimator": ESTIMATOR, "band": "bootstrap 5th-95th "
            f"percentiles over {resamples} resamples of the trials"
            + ("" if reference_seeds is None else " and of the reference's seeds"),
            "expected_best_validation_accuracy": curve.tolist(),
            "band_low": low.tolist(), "band_high": high.tolist(),
            "reference_validation_accuracy": reference,
            "break_even_trials": break_even_trials(curve, reference),
            "break_even_trials_band": [break_even_trials(gap_high, 0.0),
                                       break_even_trials(gap_low, 0.0)]}
  if test_scores is not None:
    result.update(
        expected_test_accuracy_of_best=expected_at_best(v, test_scores).tolist(),
        expected_test_accuracy_of_best_band=[np.percentile(tests, 5, axis=0).tolist(),
                                             np.percentile(tests, 95, axis=0).tolist()])
  return result


def describe_break_even(k: Optional[int], trials: int) -> str:
  """``"3"``, or ``"> 32"`` when no k up to N reaches the reference."""
  return f"> {trials}" if k is None else str(k)
