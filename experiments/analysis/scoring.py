"""Judging optimizers across workloads, the AlgoPerf way: pure functions over results.

- steps to target: the first evaluation whose validation accuracy meets the
  workload's target; never reached is infinity;
- per (workload, optimizer): the median over seeds (infinity takes part);
- performance profile: r = t / (best t on that workload), ratios above
  ``max_ratio`` count as infinity, rho(tau) = the fraction of workloads with
  r <= tau; the score is the area under rho on [1, max_ratio] divided by
  (max_ratio - 1), so it lies in [0, 1];
- the verdict: for each optimizer, against the tuned baseline.

References: Dahl et al., Benchmarking Neural Network Training Algorithms
(AlgoPerf), arXiv 2306.07179, 2023; Dolan and More, Benchmarking optimization
software with performance profiles, 2002.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

INF = math.inf
_ROUNDING = 1e-9  # 0.975 - 0.970 is 0.0050000000000000044 in floating point


def steps_to_target(evaluations: Sequence[dict], target: float,
                    key: str = "validation_accuracy") -> float:
  """The step of the first evaluation with ``key >= target``; inf if none. AlgoPerf reads
  targets on validation data, so ``key`` is the validation accuracy unless told."""
  for record in evaluations:
    accuracy = record.get(key)
    if accuracy is not None and accuracy >= target:
      return record["step"]
  return INF


def median(values: Sequence[float]) -> float:
  """The median, with infinity taking part (more than half unreached: inf)."""
  return statistics.median(values) if values else INF


def performance_ratios(steps: dict[str, dict[str, float]], max_ratio: float) -> dict:
  """``{optimizer: {workload: r}}`` with r = t / min over optimizers of t on that workload."""
  ratios = {o: {} for per_workload in steps.values() for o in per_workload}  # in order
  for workload, per_optimizer in steps.items():
    best = min(per_optimizer.values(), default=INF)
    for optimizer, t in per_optimizer.items():
      r = t / best if math.isfinite(t) and math.isfinite(best) else INF
      ratios[optimizer][workload] = r if r <= max_ratio else INF
  return ratios


def profile(ratios: dict[str, float], num_workloads: int, taus: Sequence[float]) -> list[float]:
  """rho(tau) for one optimizer: the fraction of all workloads with r <= tau."""
  return [sum(r <= tau for r in ratios.values()) / num_workloads for tau in taus]


def profile_score(ratios: dict[str, float], num_workloads: int, max_ratio: float) -> float:
  """Area under rho on [1, max_ratio] over (max_ratio - 1): 1 is best on every workload.

  rho is a step function that rises at each finite ratio, so the area is exact:
  each workload solved at ratio r contributes (max_ratio - r) / num_workloads.
  """
  area = sum(max_ratio - r for r in ratios.values() if math.isfinite(r))
  return area / num_workloads / (max_ratio - 1.0)


def verdict(finals: dict[str, dict[str, float]], steps: dict[str, dict[str, float]],
            tuned: str, noise_twins: dict[str, str]) -> dict:
  """Each optimizer against the tuned baseline, per the suite's questions.

  Args:
    finals: ``{workload: {optimizer: mean final test accuracy or None}}``.
    steps: ``{workload: {optimizer: median steps to target (inf: not reached)}}``.
    tuned: the tuned baseline's optimizer name.
    noise_twins: ``{noisy workload: its clean twin}``.

  Returns:
    ``{optimizer: {...}}``: workloads within 0.5 and 1 point of the tuned
    baseline's final accuracy, targets reached, the median over workloads of
    steps-to-target over the tuned baseline's (where both reach it), and the
    accuracy drop from each noisy workload's clean twin.
  """
  optimizers = []
  for per_optimizer in finals.values():
    optimizers += [o for o in per_optimizer if o not in optimizers]
  result = {}
  for optimizer in optimizers:
    gaps, reached, relative, drops = [], 0, [], {}
    for workload, per_optimizer in finals.items():
      mine, best = per_optimizer.get(optimizer), per_optimizer.get(tuned)
      if mine is not None and best is not None:
        gaps.append(best - mine)
      t = steps[workload].get(optimizer, INF)
      reached += math.isfinite(t)
      t_tuned = steps[workload].get(tuned, INF)
      if math.isfinite(t) and math.isfinite(t_tuned):
        relative.append(t / t_tuned)
    for noisy, clean in noise_twins.items():
      if noisy in finals and clean in finals:
        noisy_acc, clean_acc = finals[noisy].get(optimizer), finals[clean].get(optimizer)
        drops[noisy] = (clean_acc - noisy_acc
                        if noisy_acc is not None and clean_acc is not None else None)
    result[optimizer] = {
        "workloads": len(finals),
        "within_0_5_points_of_tuned": sum(g <= 0.005 + _ROUNDING for g in gaps),
        "within_1_point_of_tuned": sum(g <= 0.01 + _ROUNDING for g in gaps),
        "targets_reached": reached,
        "median_steps_to_target_vs_tuned": statistics.median(relative) if relative else None,
        "workloads_compared_for_steps": len(relative),
        "noise_drop_from_clean_twin": drops,
    }
  return result
