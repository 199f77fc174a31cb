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


def test_expected_test_of_best_weighs_test_by_validation_rank():
  validation, test = [0.5, 0.9, 0.7], [0.40, 0.80, 0.95]
  curve = tuning_curves.expected_at_best(validation, test)
  assert curve[0] == pytest.approx(sum(test) / 3)  # one trial: any of them
  # k = 2: the best of two draws with replacement is the 0.9 trial with probability 5/9,
  # the 0.7 one with 3/9, the 0.5 one with 1/9.
  assert curve[1] == pytest.approx((0.40 * 1 + 0.95 * 3 + 0.80 * 5) / 9)
  assert tuning_curves.expected_at_best(validation, test, ks=[500])[0] == pytest.approx(0.80)


def test_the_band_carries_the_references_seeds_too():
  scores = [0.60, 0.65, 0.70, 0.72, 0.74, 0.75]
  fixed = tuning_curves.tuning_curve(scores, reference=0.70, resamples=300)
  spread = tuning_curves.tuning_curve(scores, reference=0.70, resamples=300,
                                      reference_seeds=[0.62, 0.70, 0.78],
                                      test_scores=[0.5] * 6)
  assert fixed["break_even_trials"] == spread["break_even_trials"]
  fewest, most = spread["break_even_trials_band"]
  assert fewest is not None and fewest <= spread["break_even_trials"]
  assert most is None or most >= fixed["break_even_trials_band"][1]
  assert spread["expected_test_accuracy_of_best"] == pytest.approx([0.5] * 6)
  assert "reference's seeds" in spread["band"] and "reference's seeds" not in fixed["band"]


def test_trials_tied_on_validation_share_their_values():
  # The two 0.9 trials tie: the best of many draws is either, at random.
  curve = tuning_curves.expected_at_best([0.5, 0.9, 0.6, 0.9, 0.8], [0.1, 0.2, 0.3, 0.4, 0.5],
                                         ks=[1, 500])
  assert curve[0] == pytest.approx(0.3) and curve[1] == pytest.approx(0.3)
  with pytest.raises(ValueError):
    tuning_curves.expected_at_best([0.5, float("nan")], [0.1, 0.2])
