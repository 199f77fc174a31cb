"""The suite's results, summarized: tuning curves, break-even, equivalence, the profile.

Everything here is computed from the finished searches and groups of
``experiments.suite``; no number is written by hand. Rows are named by their
label across workloads, except the tuned baselines, whose chosen trial differs
per workload and which are named by their search space's label everywhere.
Workloads are reported per loss: the author's cross-entropy first, our
dual-process loss apart.
"""

from __future__ import annotations

import math
import statistics

from . import equivalence, scoring, tuning_curves

BOOTSTRAP_RESAMPLES = 1000


def _steps(run) -> float:
  return scoring.INF if run["steps_to_target"] is None else run["steps_to_target"]


def summarize_group(group: dict) -> dict:
  runs = group["runs"]
  finals = [r["test_accuracy"] for r in runs]
  steps = [_steps(r) for r in runs]
  times = [r["time_to_target_s"] for r in runs if r["time_to_target_s"] is not None]
  median_steps = scoring.median(steps)
  test = equivalence.mean_interval(finals)
  validation = equivalence.mean_interval([r.get("validation_accuracy") for r in runs])
  early = equivalence.mean_interval([r.get("test_accuracy_at_best_validation") for r in runs])
  return {
      "optimizer": group.get("baseline") or group["optimizer"],
      "label": group["optimizer"], "learning_rate": group["learning_rate"],
      "momentum": group["momentum"], "weight_decay": group.get("weight_decay"),
      "test_accuracy": test["mean"], "test_accuracy_std": test["std"],
      "test_accuracy_interval": test["interval"],
      "per_seed_test_accuracy": finals,
      "validation_accuracy": validation["mean"],
      "validation_accuracy_interval": validation["interval"],
      "per_seed_validation_accuracy": [r.get("validation_accuracy") for r in runs],
      "test_accuracy_at_best_validation": early["mean"],
      "test_accuracy_at_best_validation_interval": early["interval"],
      "seeds": len(runs), "diverged": sum(r["diverged"] for r in runs),
      "reached_target": sum(math.isfinite(s) for s in steps),
      "median_steps_to_target": median_steps if math.isfinite(median_steps) else None,
      "per_seed_steps_to_target": [r["steps_to_target"] for r in runs],
      "median_time_to_target_s": (statistics.median(times)
                                  if math.isfinite(median_steps) and times else None),
      **end_of_budget(runs),
      "wall_time_s": group["wall_time_s"],
  }


def end_of_budget(runs: list[dict]) -> dict:
  """Is the row still improving when its budget ends? The median epoch of each seed's best
  validation accuracy, and the mean gain in validation accuracy over the last quarter of
  the epochs (from the evaluation nearest three quarters in, to the last)."""
  best_epochs, gains = [], []
  for run in runs:
    scored = [e for e in run.get("evaluations", []) if e.get("validation_accuracy") is not None]
    if len(scored) < 2:
      continue
    best_epochs.append(max(scored, key=lambda e: e["validation_accuracy"])["epoch"])
    last = scored[-1]
    quarter = min(scored[:-1], key=lambda e: abs(e["epoch"] - 0.75 * last["epoch"]))
    gains.append(last["validation_accuracy"] - quarter["validation_accuracy"])
  return {"median_best_validation_epoch": statistics.median(best_epochs) if best_epochs
          else None,
          "last_quarter_validation_gain": statistics.fmean(gains) if gains else None}


def compute_time(results: list[dict]) -> float:
  """Seconds spent on searches and groups, as kept in the cells (survives a resume)."""
  return sum(sum(r["search_seconds"].values()) + sum(g["wall_time_s"] for g in r["optimizers"])
             for r in results if "skipped" not in r)


def paired_comparison(row: dict, reference: dict, margin: float, alpha: float) -> dict:
  """``row`` against ``reference`` on final test accuracy, paired by seed, with the margin
  (uncorrected); a diverged seed leaves no pair, and the verdict is then inconclusive."""
  pairs = [(a, b) for a, b in zip(row["per_seed_test_accuracy"],
                                  reference["per_seed_test_accuracy"], strict=True)
           if a is not None and b is not None]
  if len(pairs) < len(row["per_seed_test_accuracy"]):
    return {"verdict": "inconclusive", "reason": "a diverged seed leaves no pair",
            "n": len(pairs), "margin": margin, "alpha": alpha, "p_equivalent": None,
            "p_better": None, "p_worse": None, "interval": None,
            "mean_difference": None, "std_difference": None}
  return equivalence.compare([a for a, _ in pairs], [b for _, b in pairs], margin, alpha)


def comparisons(rows: list[dict], margin: float, alpha: float) -> dict:
  """Every row against the first (the reference) on final test accuracy, paired by seed,
  with the margin; Holm-corrected over the family. ``{row optimizer: comparison}``."""
  family = [paired_comparison(row, rows[0], margin, alpha) for row in rows[1:]]
  names = [row["optimizer"] for row in rows[1:]]
  return dict(zip(names, equivalence.corrected(family), strict=True))


def summarize_workload(result: dict, suite) -> dict:
  rows = [summarize_group(g) for g in result["optimizers"]]
  reference = rows[0]
  # The reference's bar for break-even: its mean validation accuracy over seeds, a
  # diverged seed at chance level, as a diverged trial is scored.
  chance = 1.0 / result.get("num_classes", 10)
  bar = statistics.fmean(chance if v is None else v
                         for v in reference["per_seed_validation_accuracy"])
  reference_seeds = [chance if v is None else v
                     for v in reference["per_seed_validation_accuracy"]]
  curves = {}
  for label, trials in result["searches"].items():
    scores = [t["validation_accuracy"] for t in trials]
    tests = ([t["test_accuracy"] for t in trials]
             if all(t.get("test_accuracy") is not None for t in trials) else None)
    curves[label] = tuning_curves.tuning_curve(scores, bar, resamples=BOOTSTRAP_RESAMPLES,
                                               reference_seeds=reference_seeds,
                                               test_scores=tests)
  return {**{k: v for k, v in result.items() if k != "optimizers"},
          "reference": reference["optimizer"], "rows": rows, "curves": curves,
          "comparisons": comparisons(rows, result["margin"], suite.alpha),
          "groups": result["optimizers"]}


def _profile(workloads: list[dict], max_ratio: float) -> dict:
  steps = {w["name"]: {r["optimizer"]: (scoring.INF if r["median_steps_to_target"] is None
                                        else r["median_steps_to_target"]) for r in w["rows"]}
           for w in workloads}
  ratios = scoring.performance_ratios(steps, max_ratio)
  taus = [1.0 + (max_ratio - 1.0) * i / 200 for i in range(201)]
  n = len(workloads)
  return {"max_ratio": max_ratio, "taus": taus, "num_workloads": n,
          "measure": "median steps to the validation target",
          "optimizers": {o: {"rho": scoring.profile(r, n, taus) if n else [],
                             "score": scoring.profile_score(r, n, max_ratio) if n else None,
                             "ratios": {w: (None if math.isinf(v) else v)
                                        for w, v in r.items()}}
                         for o, r in ratios.items()}}


def break_even_summary(workloads: list[dict]) -> dict:
  """Per baseline across workloads: the break-even trials, and how many workloads fall
  at 1, within N and beyond N."""
  summary = {}
  for w in workloads:
    for label, curve in w["curves"].items():
      entry = summary.setdefault(label, {"per_workload": {}, "beyond_n": 0, "at_most_1": 0})
      k = curve["break_even_trials"]
      entry["per_workload"][w["name"]] = k
      entry["beyond_n"] += k is None
      entry["at_most_1"] += k == 1
  for entry in summary.values():
    finite = [k for k in entry["per_workload"].values() if k is not None]
    entry["median_where_reached"] = statistics.median(finite) if finite else None
  return summary


def summarize(results: list[dict], suite) -> dict:
  """suite.json's content (less config and versions) from the per-workload results."""
  workloads, skipped = [], []
  for result in results:
    if "skipped" in result:
      skipped.append({"name": result["name"], "reason": result["skipped"]})
    else:
      workloads.append(summarize_workload(result, suite))
  losses = list(dict.fromkeys([*suite.losses, *(w["loss"] for w in workloads)]))
  by_loss = {}
  for w in workloads:  # one profile per loss and budget: a budget is a setting, not a draw
    key = w["loss"] if len(suite.budgets) < 2 else f"{w['loss']}@{w.get('budget', 1):g}x"
    by_loss.setdefault(key, []).append(w)
  return {"num_workloads": len(workloads), "workloads": workloads, "skipped": skipped,
          "losses": losses, "trials": suite.search.trials,
          "profiles": {loss: _profile(ws, suite.max_ratio) for loss, ws in by_loss.items()},
          "break_even": {loss: break_even_summary(ws) for loss, ws in by_loss.items()}}
