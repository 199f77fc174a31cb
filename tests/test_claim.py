"""The grid claim against hand-made grids whose answers are known: chosen on validation,
judged by an equivalence test over folds."""

import statistics

import pytest
from scipy import stats

from experiments.analysis import claim


def cell(lr, m, validation, test=None):
  return {"learning_rate": lr, "momentum": m, "per_fold_validation_accuracy": validation,
          "per_fold_test_accuracy": validation if test is None else test}


def test_a_reference_clearly_below_the_best_is_worse():
  cells = [cell(0.1, 0.9, [0.990, 0.992, 0.991, 0.993]),
           cell(0.016, 0.874, [0.980, 0.981, 0.979, 0.982]),
           cell(0.001, 0.0, [0.90, 0.91, 0.89, 0.90])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874), margin=0.002)
  assert verdict["rank"] == 2 and verdict["num_cells"] == 3 and verdict["folds"] == 4
  assert verdict["best"]["learning_rate"] == 0.1 and verdict["compared_with"] == "best"
  assert verdict["verdict"] == "worse"
  expected = stats.ttest_rel([0.980, 0.981, 0.979, 0.982], [0.990, 0.992, 0.991, 0.993],
                             alternative="less").pvalue
  assert verdict["comparison"]["p_worse"] == pytest.approx(expected)


def test_the_best_is_chosen_on_validation_and_test_ranks_are_shown_beside():
  cells = [cell(0.1, 0.9, [0.990, 0.991, 0.992], test=[0.97, 0.97, 0.97]),
           cell(0.016, 0.874, [0.980, 0.982, 0.981], test=[0.99, 0.99, 0.991])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874), margin=0.002)
  assert verdict["best"]["learning_rate"] == 0.1  # best on validation, worse on test
  assert verdict["rank"] == 2 and verdict["rank_by_test"] == 1
  assert verdict["best_by_test"]["learning_rate"] == 0.016


def test_a_reference_within_a_tight_spread_of_the_best_is_equivalent():
  best = [0.9900, 0.9850, 0.9880, 0.9910, 0.9870, 0.9890]
  mine = [b - d for b, d in zip(best, [0.0003, 0.0001, 0.0004, 0.0002, 0.0000, 0.0003],
                                strict=True)]
  verdict = claim.evaluate_claim([cell(0.1, 0.9, best), cell(0.016, 0.874, mine)],
                                 (0.016, 0.874), margin=0.002)
  assert verdict["verdict"] == "equivalent" and verdict["rank"] == 2
  low, high = verdict["comparison"]["interval"]
  assert -0.002 < low < high < 0.002
  assert verdict["cells_equivalent_to_best"] == [[0.016, 0.874]]


def test_a_noisy_two_fold_comparison_is_inconclusive_with_the_folds_that_would_settle_it():
  verdict = claim.evaluate_claim([cell(0.1, 0.9, [0.99, 0.98]),
                                  cell(0.016, 0.874, [0.975, 0.982])], (0.016, 0.874),
                                 margin=0.002)
  assert verdict["verdict"] == "inconclusive"
  power = verdict["power"]
  assert power["minimum_detectable_effect"] > 0.002 and power["folds_needed_for_margin"] > 2


def test_the_best_itself_is_compared_with_the_runner_up():
  cells = [cell(0.016, 0.874, [0.99, 0.991, 0.992]), cell(0.1, 0.9, [0.95, 0.96, 0.94])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874), margin=0.002)
  assert verdict["rank"] == 1 and verdict["compared_with"] == "runner-up"
  assert verdict["verdict"] == "better"


def test_the_same_difference_on_every_fold_is_labelled_no_spread():
  cells = [cell(0.1, 0.9, [0.99, 0.98]), cell(0.016, 0.874, [0.98, 0.97])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874), margin=0.002)
  assert verdict["verdict"] == "no spread" and verdict["comparison"]["p_equivalent"] is None


def test_diverged_folds_single_folds_and_missing_validation():
  cells = [cell(0.1, 0.9, [0.99, None]), cell(0.016, 0.874, [0.95, 0.96])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874), margin=0.01)
  assert verdict["best"]["learning_rate"] == 0.016 and verdict["rank"] == 1
  diverged = claim.evaluate_claim(cells, (0.1, 0.9), margin=0.01)
  assert diverged["rank"] is None and diverged["verdict"] == "worse"
  one_fold = claim.evaluate_claim([cell(0.1, 0.9, [0.99]), cell(0.016, 0.874, [0.98])],
                                  (0.016, 0.874), margin=0.01)
  assert one_fold["verdict"] == "inconclusive"  # nothing can be shown with one fold
  with pytest.raises(ValueError, match="validation"):
    claim.evaluate_claim([{"learning_rate": 0.1, "momentum": 0.9,
                           "per_fold_test_accuracy": [0.9, 0.8],
                           "per_fold_validation_accuracy": None}], (0.1, 0.9), margin=0.01)


def test_a_reference_off_the_grid_is_refused():
  with pytest.raises(ValueError, match="not a cell of the grid"):
    claim.evaluate_claim([cell(0.1, 0.9, [0.99, 0.98])], (0.016, 0.874), margin=0.01)


def test_paired_p_value_is_scipys_and_undefined_without_spread():
  a, b = [0.91, 0.95, 0.93], [0.90, 0.92, 0.94]
  assert claim.paired_p_value(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue)
  assert claim.paired_p_value([0.9], [0.8]) is None  # one pair: no test
  assert claim.paired_p_value([0.9, 0.8], [0.9, 0.8]) is None  # no spread: never p = 0 or 1
  assert claim.paired_p_value([0.5, 0.75], [0.25, 0.5]) is None


def test_paired_difference_of_hand_made_pairs_uses_ddof_1():
  pairs = [(0.9, 0.8), (0.7, 0.7), (0.5, 0.2)]
  paired = claim.paired_difference(pairs)
  assert paired["pairs"] == 3
  assert paired["mean_difference"] == pytest.approx(0.4 / 3)
  assert paired["std_difference"] == pytest.approx(statistics.stdev([0.1, 0.0, 0.3]))
  expected = stats.ttest_rel([0.9, 0.7, 0.5], [0.8, 0.7, 0.2]).pvalue
  assert paired["p_value"] == pytest.approx(expected) and not paired["no_spread"]
  assert claim.paired_difference([]) == {"pairs": 0, "mean_difference": None,
                                         "std_difference": None, "p_value": None,
                                         "no_spread": False}
  assert claim.paired_difference([(0.6, 0.5)])["p_value"] is None
  assert claim.paired_difference([(0.6, 0.5), (0.7, 0.6)])["no_spread"]
