"""Is one optimizer as good as another? Equivalence tests with a declared margin.

A failure to reject "no difference" is not evidence of "as good as". Paired
runs (by seed or fold) give differences ``d_j = a_j - b_j``; with the margin
``delta`` declared before the run (the largest difference a practitioner
would not act on), the ``1 - 2 alpha`` t-interval of the mean of ``d``
decides (two one-sided tests, TOST, at level alpha):

- ``equivalent``: the interval lies inside ``(-delta, +delta)``;
- ``better`` / ``worse``: the interval lies entirely above / below 0, and
  not inside the margin;
- ``inconclusive``: anything else; then the minimum detectable effect at
  80 % power, ``(t(1 - alpha, n - 1) + t(0.8, n - 1)) * s / sqrt(n)``, and the
  number of pairs that would resolve ``delta`` at the observed spread ``s``.

The same difference on every pair (within ``NO_SPREAD``: accuracies are float32)
leaves the t-interval undefined: that case is labelled ``no spread`` with its
difference, never given p = 0. Spreads
use ``ddof = 1``. A family of comparisons against one reference is corrected
with Holm's step-down method (``statsmodels.stats.multitest.multipletests``),
applied to the TOST p-values and to the one-sided difference p-values alike;
a corrected verdict is the uncorrected one or ``inconclusive``, never another,
so the correction makes every verdict harder to reach, never easier.

References: Schuirmann, "A comparison of the two one-sided tests procedure
and the power approach for assessing the equivalence of average
bioavailability", J. Pharmacokinet. Biopharm. 1987; Lakens, "Equivalence
Tests: A Practical Primer for t Tests, Correlations, and Meta-Analyses",
Soc. Psychol. Personal. Sci. 2017; Holm, "A Simple Sequentially Rejective
Multiple Test Procedure", Scand. J. Stat. 1979.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Optional

import numpy as np
from scipy import stats

VERDICTS = ("equivalent", "better", "worse", "inconclusive", "no spread")
# Accuracies are float32 ratios: the same difference in correct counts on every pair
# differs by ~1e-8 in float, while one example of 10,000 is 1e-4. Below this spread the
# differences count as the same.
NO_SPREAD = 1e-6
TEST_NAME = ("TOST: two one-sided paired t-tests, scipy.stats.ttest_rel(a, b, "
             "alternative='greater'/'less') against -margin/+margin; better/worse: one-sided "
             "paired t-test against 0")
POWER = 0.8


def mean_interval(values: Sequence[float], level: float = 0.95) -> dict:
  """Mean, ``ddof = 1`` standard deviation and t-interval of ``values``.

  Returns:
    ``{"n", "mean", "std", "interval": [low, high], "level"}``; ``std`` and
    ``interval`` are None below two values; with every value the same (within
    ``NO_SPREAD``) the interval is None and ``no_spread`` is True.
  """
  x = np.asarray([v for v in values if v is not None], float)
  n = len(x)
  if n == 0:
    return {"n": 0, "mean": None, "std": None, "interval": None, "level": level}
  mean = float(x.mean())
  if n < 2:
    return {"n": 1, "mean": mean, "std": None, "interval": None, "level": level}
  std = float(x.std(ddof=1))
  if np.ptp(x) <= NO_SPREAD:  # no interval to give: say so rather than print [m, m]
    return {"n": n, "mean": mean, "std": std, "interval": None, "level": level,
            "no_spread": True}
  half = stats.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n)
  return {"n": n, "mean": mean, "std": std, "interval": [mean - half, mean + half],
          "level": level}


def minimum_detectable_effect(std: float, n: int, alpha: float = 0.05,
                              power: float = POWER) -> float:
  """``(t(1 - alpha, n - 1) + t(power, n - 1)) * std / sqrt(n)``: the smallest mean
  difference that ``n`` pairs with spread ``std`` detect one-sided at ``power``."""
  if n < 2:
    return math.inf
  return float((stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(power, n - 1)) * std
               / math.sqrt(n))


def pairs_needed(std: float, margin: float, alpha: float = 0.05, power: float = POWER,
                 limit: int = 100_000) -> Optional[int]:
  """The pairs an equivalence test (TOST at ``alpha``) needs to show equivalence within
  ``margin`` with probability ``power`` when the true difference is zero and the spread is
  ``std``: the smallest n >= 2 with ``(t(1 - alpha) + t(1 - (1 - power)/2)) * std / sqrt(n)
  <= margin`` (Chow, Shao and Wang, *Sample Size Calculations in Clinical Research*, 2008,
  section 3.2). A true difference d near the margin needs far more (``margin - |d|``
  replaces ``margin``). None beyond ``limit``; 2 when there is no spread."""
  if std == 0:
    return 2
  for n in range(2, limit + 1):
    half = (stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(1 - (1 - power) / 2, n - 1)) * std
    if half / math.sqrt(n) <= margin:
      return n
  return None


def _verdict(p_equivalent: float, p_better: float, p_worse: float, alpha: float) -> str:
  if p_equivalent < alpha:
    return "equivalent"
  if p_better < alpha:
    return "better"
  if p_worse < alpha:
    return "worse"
  return "inconclusive"


def compare(a: Sequence[float], b: Sequence[float], margin: float,
            alpha: float = 0.05) -> dict:
  """``a`` against ``b``, paired, with the equivalence ``margin``.

  Args:
    a: one score per pair (seed or fold) for the optimizer under test.
    b: the reference's scores, in the same order.
    margin: the equivalence margin ``delta`` (same units as the scores).
    alpha: each one-sided test's level; the interval is ``1 - 2 alpha``.

  Returns:
    A JSON-ready dict: ``verdict`` (one of ``VERDICTS``), ``n``,
    ``mean_difference``, ``std_difference`` (ddof 1), ``interval`` (the
    ``1 - 2 alpha`` t-interval), ``p_equivalent`` (TOST: the larger of the two
    one-sided p-values), ``p_better``, ``p_worse``, ``margin``, ``alpha``,
    ``test``; and, when inconclusive, ``minimum_detectable_effect`` and
    ``pairs_needed``.
  """
  if not margin > 0:
    raise ValueError(f"compare: the margin must be positive, got {margin}")
  a, b = np.asarray(a, float), np.asarray(b, float)
  if a.shape != b.shape or a.ndim != 1:
    raise ValueError(f"compare: needs two equal-length sequences, got {a.shape} and {b.shape}")
  d = a - b
  n = len(d)
  result = {"n": n, "mean_difference": float(d.mean()) if n else None,
            "std_difference": float(d.std(ddof=1)) if n > 1 else None,
            "margin": margin, "alpha": alpha, "test": TEST_NAME, "interval": None,
            "p_equivalent": None, "p_better": None, "p_worse": None}
  if n < 2:
    return {**result, "verdict": "inconclusive", "reason": "fewer than 2 pairs"}
  if np.ptp(d) <= NO_SPREAD:
    return {**result, "verdict": "no spread",
            "reason": f"the same difference ({d[0]:+.6g}) on all {n} pairs: the t-test is "
            "undefined"}
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    above_lower = stats.ttest_rel(a + margin, b, alternative="greater").pvalue
    below_upper = stats.ttest_rel(a - margin, b, alternative="less").pvalue
    p_better = stats.ttest_rel(a, b, alternative="greater").pvalue
    p_worse = stats.ttest_rel(a, b, alternative="less").pvalue
  interval = mean_interval(d, level=1 - 2 * alpha)["interval"]
  result.update(interval=interval, p_equivalent=float(max(above_lower, below_upper)),
                p_better=float(p_better), p_worse=float(p_worse),
                # One-sided tests of a difference past the margin: d > +margin, d < -margin.
                p_beyond_better=float(1.0 - below_upper),
                p_beyond_worse=float(1.0 - above_lower))
  result["verdict"] = _verdict(result["p_equivalent"], p_better, p_worse, alpha)
  if result["verdict"] == "inconclusive":
    result["minimum_detectable_effect"] = minimum_detectable_effect(
        result["std_difference"], n, alpha)
    result["pairs_needed"] = pairs_needed(result["std_difference"], margin, alpha)
  return result


def holm(p_values: Sequence[Optional[float]], alpha: float = 0.05) -> list[Optional[float]]:
  """Holm-adjusted p-values (``statsmodels``' ``multipletests(method='holm')``); None kept."""
  from statsmodels.stats.multitest import multipletests

  present = [i for i, p in enumerate(p_values) if p is not None]
  adjusted = [None] * len(p_values)
  if present:
    corrected = multipletests([p_values[i] for i in present], alpha=alpha, method="holm")[1]
    for i, p in zip(present, corrected, strict=True):
      adjusted[i] = float(p)
  return adjusted


def corrected(comparisons: Sequence[dict]) -> list[dict]:
  """The family's verdicts again with Holm-adjusted p-values (``corrected_verdict``).

  Each p-value kind (TOST, better, worse) is adjusted across the family, so
  the corrected verdict is never easier to reach than the uncorrected one.
  """
  if not comparisons:
    return []
  alpha = comparisons[0]["alpha"]
  adjusted = {kind: holm([c[kind] for c in comparisons], alpha)
              for kind in ("p_equivalent", "p_better", "p_worse")}
  beyond = {kind: holm([c.get(kind) for c in comparisons], alpha)
            for kind in ("p_beyond_better", "p_beyond_worse")}
  result = []
  for i, c in enumerate(comparisons):
    if c["p_equivalent"] is None:  # no test ran: the verdict stands as labelled
      entry = {**c, "corrected_verdict": c["verdict"], "correction": "holm"}
      result.append({**entry, "verdict_with_margin": with_margin(entry)})
      continue
    ps = {kind: adjusted[kind][i] for kind in adjusted}
    verdict = _verdict(ps["p_equivalent"], ps["p_better"], ps["p_worse"], alpha)
    if verdict != c["verdict"]:  # a correction only ever withdraws a verdict
      verdict = "inconclusive"
    entry = {**c, **{f"{kind}_holm": p for kind, p in ps.items()},
             **{f"{kind}_holm": p[i] for kind, p in beyond.items()},
             "corrected_verdict": verdict, "correction": "holm"}
    if verdict == "inconclusive":
      # At the level Holm may demand of this row (alpha over the family, its strictest
      # step), not at alpha: the effect it could have shown, and the pairs equivalence
      # would need at a true difference of zero.
      level = alpha / len(comparisons)
      entry["minimum_detectable_effect"] = minimum_detectable_effect(
          c["std_difference"], c["n"], level)
      entry["pairs_needed"] = pairs_needed(c["std_difference"], c["margin"], level)
      entry["power_level"] = level
    entry["verdict_with_margin"] = with_margin(entry)
    result.append(entry)
  return result


def with_margin(comparison: dict) -> str:
  """The verdict in words that carry the margin: ``better`` (``worse``) reads ``beyond the
  margin`` where a one-sided paired t-test shows the difference past +margin (-margin),
  Holm-corrected over the family where the comparison is, and ``not shown beyond the
  margin`` otherwise (the interval then reaches the margin: a ``better`` verdict was
  not equivalence); other verdicts as they are."""
  verdict = comparison.get("corrected_verdict", comparison["verdict"])
  if verdict not in ("better", "worse"):
    return verdict
  kind = f"p_beyond_{verdict}"
  p = comparison.get(f"{kind}_holm", comparison.get(kind))
  if p is None:
    return verdict
  shown = p < comparison["alpha"]
  return f"{verdict}, {'beyond' if shown else 'not shown beyond'} the margin"
