"""The expected-best-of-k estimator against brute force, its band and break-even."""

import itertools

import numpy as np
import pytest

from experiments.analysis import tuning_curves


def brute_force_expected_max(scores, k):
  """The mean of max over every ordered k-tuple drawn with replacement."""
  return np.mean([max(t) for t in itertools.product(scores, repeat=k)])


@pytest.mark.parametrize("scores", [[0.5, 0.9, 0.7], [0.1, 0.1, 0.4, 0.8, 0.3], [0.6]])
def test_expected_max_equals_enumeration(scores):
  curve = tuning_curves.expected_max(scores)
  for k in range(1, len(scores) + 1):
    assert curve[k - 1] == pytest.approx(brute_force_expected_max(scores, k), abs=1e-12)


def test_k1_is_the_mean_and_k_large_approaches_the_max():
  scores = np.random.default_rng(0).uniform(0.5, 0.9, size=12)
  curve = tuning_curves.expected_max(scores)
  assert curve[0] == pytest.approx(scores.mean())
  assert np.all(np.diff(curve) >= -1e-15) and curve[-1] <= scores.max()
  # with replacement, k = N is below the max by the chance of missing it every time
  assert tuning_curves.expected_max(scores, [2000])[0] == pytest.approx(scores.max(), abs=1e-6)
  assert curve[-1] > np.sort(scores)[-2] - 1e-12


def test_bad_scores_are_refused():
  with pytest.raises(ValueError, match="at least one"):
    tuning_curves.expected_max([])
  with pytest.raises(ValueError, match="finite"):
    tuning_curves.expected_max([0.5, float("nan")])


def test_band_contains_the_curve_and_narrows_with_agreement():
  scores = [0.80, 0.85, 0.90, 0.70, 0.95, 0.60]
  low, high = tuning_curves.expected_max_band(scores, resamples=400)
  curve = tuning_curves.expected_max(scores)
  assert np.all(low <= curve + 1e-12) and np.all(curve <= high + 1e-12)
  flat_low, flat_high = tuning_curves.expected_max_band([0.8] * 6, resamples=50)
  assert np.allclose(flat_low, 0.8) and np.allclose(flat_high, 0.8)


def test_break_even_trials():
  curve = [0.5, 0.6, 0.7, 0.75]
  assert tuning_curves.break_even_trials(curve, 0.4) == 1
  assert tuning_curves.break_even_trials(curve, 0.7) == 3
  assert tuning_curves.break_even_trials(curve, 0.8) is None
  assert tuning_curves.describe_break_even(None, 4) == "> 4"
  result = tuning_curves.tuning_curve([0.5, 0.6, 0.9, 0.7], reference=0.72, resamples=200)
  assert result["break_even_trials"] == 2  # E[max_2] = 0.7375
  fewest, most = result["break_even_trials_band"]
  assert fewest <= result["break_even_trials"] and (most is None or most >= 2)
