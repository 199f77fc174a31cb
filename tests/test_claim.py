"""The claim computation against hand-made grids whose answers are known."""

import statistics

import pytest
from scipy import stats

from experiments.analysis import claim


def cell(lr, m, folds):
  return {"learning_rate": lr, "momentum": m, "per_fold_test_accuracy": folds}


def test_a_reference_clearly_below_the_best_does_not_hold():
  cells = [cell(0.1, 0.9, [0.990, 0.992, 0.991, 0.993]),
           cell(0.016, 0.874, [0.980, 0.981, 0.979, 0.982]),
           cell(0.001, 0.0, [0.90, 0.91, 0.89, 0.90])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874))
  assert verdict["rank"] == 2 and verdict["num_cells"] == 3 and verdict["folds"] == 4
  assert verdict["best"] == {"learning_rate": 0.1, "momentum": 0.9,
                             "mean_test_accuracy": pytest.approx(0.9915)}
  expected = stats.ttest_rel([0.980, 0.981, 0.979, 0.982], [0.990, 0.992, 0.991, 0.993],
                             alternative="less").pvalue
  assert verdict["p_value"] == pytest.approx(expected) and verdict["p_value"] < 0.05
  assert not verdict["holds"] and verdict["tied_with_best"] == [[0.1, 0.9]]


def test_a_reference_within_the_noise_of_the_best_holds_and_ranks_by_mean():
  cells = [cell(0.1, 0.9, [0.991, 0.985, 0.990]),
           cell(0.016, 0.874, [0.984, 0.992, 0.989]),  # lower mean, mixed signs per fold
           cell(0.2, 0.925, [0.10, 0.10, 0.10])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874))
  assert verdict["rank"] == 2 and verdict["holds"] and verdict["holds_with_fdr"]
  assert verdict["p_value"] > 0.05
  assert [0.016, 0.874] in verdict["tied_with_best"] and [0.2, 0.925] not in \
      verdict["tied_with_best"]


def test_the_best_itself_holds_with_rank_one_and_no_p_value():
  cells = [cell(0.016, 0.874, [0.99, 0.99]), cell(0.1, 0.9, [0.98, 0.97])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874))
  assert verdict["rank"] == 1 and verdict["holds"] and verdict["p_value"] is None


def test_equal_means_share_a_rank_and_constant_differences_have_defined_p_values():
  cells = [cell(0.1, 0.9, [0.99, 0.98]), cell(0.016, 0.874, [0.99, 0.98]),
           cell(0.01, 0.9, [0.98, 0.97])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874))
  assert verdict["rank"] == 1 and verdict["holds"]  # identical on every fold: a tie, p = 1
  by_cell = {(p["learning_rate"], p["momentum"]): p for p in verdict["p_values"]}
  assert by_cell[(0.01, 0.9)]["p_value_below_best"] == 0.0  # a constant shortfall


def test_diverged_folds_and_single_fold_grids():
  cells = [cell(0.1, 0.9, [0.99, None]), cell(0.016, 0.874, [0.95, 0.96])]
  verdict = claim.evaluate_claim(cells, (0.016, 0.874))
  assert verdict["best"]["learning_rate"] == 0.016 and verdict["rank"] == 1
  diverged = claim.evaluate_claim(cells, (0.1, 0.9))
  assert diverged["rank"] is None and not diverged["holds"]
  one_fold = claim.evaluate_claim([cell(0.1, 0.9, [0.99]), cell(0.016, 0.874, [0.98])],
                                  (0.016, 0.874))
  assert one_fold["test"] is None and one_fold["holds"]  # nothing can be shown with one fold


def test_a_reference_off_the_grid_is_refused():
  with pytest.raises(ValueError, match="not a cell of the grid"):
    claim.evaluate_claim([cell(0.1, 0.9, [0.99, 0.98])], (0.016, 0.874))


def test_paired_p_value_is_scipys_with_defined_edge_cases():
  a, b = [0.91, 0.95, 0.93], [0.90, 0.92, 0.94]
  assert claim.paired_p_value(a, b) == pytest.approx(stats.ttest_rel(a, b).pvalue)
  assert claim.paired_p_value([0.9], [0.8]) is None  # one pair: no test
  assert claim.paired_p_value([0.9, 0.8], [0.9, 0.8]) == 1.0  # no difference at all
  assert claim.paired_p_value([0.5, 0.75], [0.25, 0.5]) == 0.0  # the same shift on every pair
  assert claim.paired_p_value([0.5, 0.75], [0.25, 0.5], alternative="less") == 1.0


def test_paired_difference_of_hand_made_pairs():
  pairs = [(0.9, 0.8), (0.7, 0.7), (0.5, 0.2)]
  paired = claim.paired_difference(pairs)
  assert paired["pairs"] == 3
  assert paired["mean_difference"] == pytest.approx(0.4 / 3)
  assert paired["std_difference"] == pytest.approx(statistics.pstdev([0.1, 0.0, 0.3]))
  expected = stats.ttest_rel([0.9, 0.7, 0.5], [0.8, 0.7, 0.2]).pvalue
  assert paired["p_value"] == pytest.approx(expected)
  assert claim.paired_difference([]) == {"pairs": 0, "mean_difference": None,
                                         "std_difference": None, "p_value": None}
  assert claim.paired_difference([(0.6, 0.5)])["p_value"] is None
