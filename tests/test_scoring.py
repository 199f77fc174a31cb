"""Time-to-target, performance profiles and the verdict, on hand-made results."""

import math

import pytest

from experiments.analysis import scoring

INF = math.inf


def test_steps_to_target_is_the_first_evaluation_that_meets_it_on_validation():
  evaluations = [{"step": 10, "validation_accuracy": 0.5, "test_accuracy": 0.99},
                 {"step": 20, "validation_accuracy": None},
                 {"step": 30, "validation_accuracy": 0.9},
                 {"step": 40, "validation_accuracy": 0.95}]
  assert scoring.steps_to_target(evaluations, 0.9) == 30  # never read from test accuracy
  assert scoring.steps_to_target(evaluations, 0.5) == 10
  assert scoring.steps_to_target(evaluations, 0.99) == INF
  assert scoring.steps_to_target(evaluations, 0.99, key="test_accuracy") == 10
  assert scoring.steps_to_target([], 0.1) == INF


def test_median_lets_infinity_take_part():
  assert scoring.median([10, 20, INF]) == 20
  assert scoring.median([10, INF, INF]) == INF
  assert scoring.median([]) == INF


def test_performance_profile_by_hand():
  # Workload a: A best (100), B 2x, C never. Workload b: B best, A 5x (over 4: never).
  steps = {"a": {"A": 100, "B": 200, "C": INF}, "b": {"A": 500, "B": 100, "C": 150}}
  ratios = scoring.performance_ratios(steps, max_ratio=4.0)
  assert list(ratios) == ["A", "B", "C"]  # first-seen order, stable across runs
  assert ratios == {"A": {"a": 1.0, "b": INF}, "B": {"a": 2.0, "b": 1.0},
                    "C": {"a": INF, "b": 1.5}}
  assert scoring.profile(ratios["B"], 2, [1.0, 1.9, 2.0, 4.0]) == [0.5, 0.5, 1.0, 1.0]
  assert scoring.profile(ratios["C"], 2, [1.0, 1.5, 4.0]) == [0.0, 0.5, 0.5]
  # Areas: A (4-1)/2/3 = 0.5; B ((4-2)+(4-1))/2/3 = 5/6; C (4-1.5)/2/3.
  assert scoring.profile_score(ratios["A"], 2, 4.0) == pytest.approx(0.5)
  assert scoring.profile_score(ratios["B"], 2, 4.0) == pytest.approx(5 / 6)
  assert scoring.profile_score(ratios["C"], 2, 4.0) == pytest.approx(2.5 / 6)
  # The score is the integral of rho: check it numerically as well.
  taus = [1 + 3 * i / 30000 for i in range(30001)]
  rho = scoring.profile(ratios["B"], 2, taus)
  assert sum(rho[:-1]) * 3 / 30000 / 3 == pytest.approx(5 / 6, abs=1e-3)


def test_nobody_reaching_a_target_leaves_every_ratio_infinite():
  ratios = scoring.performance_ratios({"a": {"A": INF, "B": INF}}, 4.0)
  assert ratios == {"A": {"a": INF}, "B": {"a": INF}}
  assert scoring.profile_score(ratios["A"], 1, 4.0) == 0.0


def test_verdict_against_the_tuned_baseline():
  finals = {"clean": {"x": 0.970, "y": 0.990, "tuned": 0.975},
            "noisy": {"x": 0.900, "y": None, "tuned": 0.950}}
  steps = {"clean": {"x": 300, "y": 100, "tuned": 200},
           "noisy": {"x": 400, "y": INF, "tuned": 100}}
  v = scoring.verdict(finals, steps, "tuned", {"noisy": "clean"})
  assert list(v) == ["x", "y", "tuned"]
  assert v["x"]["within_0_5_points_of_tuned"] == 1  # 0.5 points below on clean
  assert v["x"]["within_1_point_of_tuned"] == 1  # 5 points below on noisy
  assert v["y"]["within_0_5_points_of_tuned"] == 1  # better than tuned counts; None does not
  assert v["x"]["targets_reached"] == 2 and v["y"]["targets_reached"] == 1
  assert v["x"]["median_steps_to_target_vs_tuned"] == pytest.approx((1.5 + 4.0) / 2)
  assert v["y"]["median_steps_to_target_vs_tuned"] == pytest.approx(0.5)
  assert v["y"]["workloads_compared_for_steps"] == 1
  assert v["x"]["noise_drop_from_clean_twin"] == {"noisy": pytest.approx(0.07)}
  assert v["y"]["noise_drop_from_clean_twin"] == {"noisy": None}
  assert v["tuned"]["within_0_5_points_of_tuned"] == 2
