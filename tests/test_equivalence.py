"""Equivalence verdicts (TOST) in all outcomes, ddof = 1, no spread, Holm."""

import math

import numpy as np
import pytest
from scipy import stats

from experiments.analysis import equivalence

BASE = np.array([0.90, 0.91, 0.92, 0.93, 0.94, 0.95])
JITTER = np.array([0.001, -0.001, 0.002, -0.002, 0.0005, -0.0005])


def test_equivalent_inside_the_margin():
  result = equivalence.compare(BASE + JITTER, BASE, margin=0.005)
  assert result["verdict"] == "equivalent"
  low, high = result["interval"]
  assert -0.005 < low < high < 0.005 and result["p_equivalent"] < 0.05


def test_better_and_worse_outside_the_margin():
  better = equivalence.compare(BASE + 0.02 + JITTER, BASE, margin=0.005)
  assert better["verdict"] == "better" and better["interval"][0] > 0
  worse = equivalence.compare(BASE - 0.02 + JITTER, BASE, margin=0.005)
  assert worse["verdict"] == "worse" and worse["interval"][1] < 0


def test_inconclusive_with_power_statement():
  noisy = BASE + np.array([0.03, -0.02, 0.01, -0.03, 0.02, -0.005])
  result = equivalence.compare(noisy, BASE, margin=0.005)
  assert result["verdict"] == "inconclusive"
  s, n = result["std_difference"], 6
  expected = (stats.t.ppf(0.95, n - 1) + stats.t.ppf(0.8, n - 1)) * s / math.sqrt(n)
  assert result["minimum_detectable_effect"] == pytest.approx(expected)
  needed = result["pairs_needed"]  # TOST at a true difference of zero, 80 % power

  def half_width(n):
    return (stats.t.ppf(0.95, n - 1) + stats.t.ppf(0.9, n - 1)) * s / math.sqrt(n)

  assert half_width(needed) <= 0.005 < half_width(needed - 1)


def test_the_interval_matches_scipy():
  a = BASE + JITTER + 0.001
  result = equivalence.compare(a, BASE, margin=0.01)
  ci = stats.ttest_1samp(a - BASE, 0.0).confidence_interval(0.90)
  assert result["interval"] == pytest.approx([ci.low, ci.high])


def test_spreads_use_ddof_1():
  values = [0.1, 0.2, 0.4]
  summary = equivalence.mean_interval(values)
  assert summary["std"] == pytest.approx(np.std(values, ddof=1))
  assert summary["std"] != pytest.approx(np.std(values))
  d = equivalence.compare(np.array(values), np.zeros(3), margin=1.0)
  assert d["std_difference"] == pytest.approx(np.std(values, ddof=1))


def test_the_same_difference_on_every_pair_is_labelled_not_p0():
  result = equivalence.compare(BASE + 0.01, BASE, margin=0.005)
  assert result["verdict"] == "no spread"
  assert result["p_equivalent"] is None and result["p_better"] is None
  assert "+0.01" in result["reason"]
  assert equivalence.compare(BASE, BASE, margin=0.005)["verdict"] == "no spread"


def test_bad_margin_and_one_pair():
  with pytest.raises(ValueError, match="margin"):
    equivalence.compare(BASE, BASE, margin=0.0)
  assert equivalence.compare([0.9], [0.8], margin=0.01)["verdict"] == "inconclusive"


def test_holm_makes_verdicts_harder_never_easier():
  family = [equivalence.compare(BASE + JITTER * f, BASE, margin=0.0041) for f in (1, 2, 3)]
  family.append(equivalence.compare(BASE - 0.02 + JITTER, BASE, margin=0.005))
  adjusted = equivalence.holm([0.01, 0.04, 0.03, None])
  assert adjusted[3] is None
  assert adjusted[:3] == pytest.approx([0.03, 0.06, 0.06])
  for c in equivalence.corrected(family):
    if c["verdict"] == "inconclusive":
      assert c["corrected_verdict"] == "inconclusive"
    assert c["corrected_verdict"] in (c["verdict"], "inconclusive")
    assert c["correction"] == "holm"


def test_float32_accuracies_with_the_same_count_difference_have_no_spread():
  n_eval = 1000
  base = np.array([900, 910, 920, 930], np.float32) / np.float32(n_eval)
  shifted = (np.array([910, 920, 930, 940], np.float32) / np.float32(n_eval))
  assert np.ptp(shifted.astype(float) - base.astype(float)) > 0  # float noise, not spread
  result = equivalence.compare(shifted, base, margin=0.005)
  assert result["verdict"] == "no spread" and result["p_equivalent"] is None
  summary = equivalence.mean_interval(shifted - base)
  assert summary["interval"] is None and summary["no_spread"]


def test_a_correction_never_turns_equivalent_into_better():
  # Inside the margin and above zero: equivalent uncorrected. With Holm the TOST p rises
  # past alpha, yet the corrected verdict may only withdraw it, never read "better".
  a = BASE + 0.0126 + np.array([0.0004, -0.0004, 0.0002, -0.0002, 0.0003, -0.0003])
  close = equivalence.compare(a, BASE, margin=0.0132)
  assert close["verdict"] == "equivalent" and close["p_better"] < 0.05
  family = [close] + [equivalence.compare(BASE + 0.0126 + JITTER * f, BASE, margin=0.0132)
                      for f in (3, 4, 5)]
  for c in equivalence.corrected(family):
    assert c["corrected_verdict"] in (c["verdict"], "inconclusive")


def test_beyond_the_margin_is_a_one_sided_test_past_it_holm_corrected():
  rng = np.random.default_rng(0)
  b = rng.normal(0.90, 0.01, 8)
  clearly = b + 0.05 + rng.normal(0, 0.002, 8)  # far past a 1-point margin
  barely = b + 0.0102 + rng.normal(0, 0.003, 8)  # better, but not clearly past the margin
  results = equivalence.corrected([equivalence.compare(clearly, b, 0.01),
                                   equivalence.compare(barely, b, 0.01)])
  assert [r["corrected_verdict"] for r in results] == ["better", "better"]
  assert results[0]["verdict_with_margin"] == "better, beyond the margin"
  assert results[1]["verdict_with_margin"] == "better, not shown beyond the margin"
  assert results[0]["p_beyond_better_holm"] >= results[0]["p_beyond_better"]
  worse = equivalence.corrected([equivalence.compare(b, clearly, 0.01)])[0]
  assert worse["verdict_with_margin"] == "worse, beyond the margin"


def test_an_inconclusive_row_says_what_it_could_detect_at_holms_level():
  rng = np.random.default_rng(1)
  b = rng.normal(0.90, 0.01, 5)
  family = [equivalence.compare(b + rng.normal(0, 0.01, 5), b, 0.002) for _ in range(4)]
  for entry in equivalence.corrected(family):
    if entry["corrected_verdict"] == "inconclusive":
      assert entry["power_level"] == pytest.approx(0.05 / 4)
      assert entry["minimum_detectable_effect"] == pytest.approx(
          equivalence.minimum_detectable_effect(entry["std_difference"], 5, 0.05 / 4))
