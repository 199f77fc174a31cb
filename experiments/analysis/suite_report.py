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
      "wall_time_s": group["wall_time_s"],
  }


def compute_time(results: list[dict]) -> float:
  """Seconds spent on searches and groups, as kept in the cells (survives a resume)."""
  return sum(sum(r["search_seconds"].values()) + sum(g["wall_time_s"] for g in r["optimizers"])
             for r in results if "skipped" not in r)


def comparisons(rows: list[dict], margin: float, alpha: float) -> dict:
  """Every row against the first (the reference) on final test accuracy, paired by seed,
  with the margin; Holm-corrected over the family. ``{row optimizer: comparison}``."""
  reference = rows[0]
  family, names = [], []
  for row in rows[1:]:
    pairs = [(a, b) for a, b in zip(row["per_seed_test_accuracy"],
                                    reference["per_seed_test_accuracy"], strict=True)
             if a is not None and b is not None]
    if len(pairs) < len(row["per_seed_test_accuracy"]):
      diverged = {"verdict": "inconclusive", "reason": "a diverged seed leaves no pair",
                  "n": len(pairs), "margin": margin, "alpha": alpha, "p_equivalent": None,
                  "p_better": None, "p_worse": None, "interval": None,
                  "mean_difference": None, "std_difference": None}
      family.append(diverged)
    else:
      family.append(equivalence.compare([a for a, _ in pairs], [b for _, b in pairs],
                                        margin, alpha))
    names.append(row["optimizer"])
  return dict(zip(names, equivalence.corrected(family), strict=True))


def summarize_workload(result: dict, suite) -> dict:
  rows = [summarize_group(g) for g in result["optimizers"]]
  reference = rows[0]
  # The reference's bar for break-even: its mean validation accuracy over seeds, a
  # diverged seed at chance level, as a diverged trial is scored.
  chance = 1.0 / result.get("num_classes", 10)
  bar = statistics.fmean(chance if v is None else v
                         for v in reference["per_seed_validation_accuracy"])
  curves = {}
  for label, trials in result["searches"].items():
    scores = [t["validation_accuracy"] for t in trials]
    curves[label] = tuning_curves.tuning_curve(scores, bar, resamples=BOOTSTRAP_RESAMPLES)
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
  by_loss = {loss: [w for w in workloads if w["loss"] == loss] for loss in losses}
  return {"num_workloads": len(workloads), "workloads": workloads, "skipped": skipped,
          "losses": losses, "trials": suite.search.trials,
          "profiles": {loss: _profile(ws, suite.max_ratio) for loss, ws in by_loss.items()},
          "break_even": {loss: break_even_summary(ws) for loss, ws in by_loss.items()}}


def _fmt(value, spec) -> str:
  return "n/a" if value is None else format(value, spec)


def _interval(mean, interval) -> str:
  if mean is None:
    return "n/a"
  if interval is None:
    return f"{mean:.4f} (no interval)"
  return f"{mean:.4f} [{interval[0]:.4f}, {interval[1]:.4f}]"


def _verdict_cell(c: dict) -> str:
  if c is None:
    return "n/a"
  interval = c.get("interval")
  shown = ("" if interval is None
           else f" [{100 * interval[0]:+.2f}, {100 * interval[1]:+.2f}]")
  verdict = c.get("corrected_verdict", c["verdict"])
  return f"{verdict}{shown}" if c["verdict"] != "no spread" else (
      f"no spread ({100 * c['mean_difference']:+.2f})")


def break_even_table(document: dict, loss: str | None = None) -> str:
  """Workloads x baselines: break-even trials (band), then each baseline's and the
  reference-free rows' equivalence verdicts against the derived pair."""
  loss = loss or document["losses"][0]
  workloads = [w for w in document["workloads"] if w["loss"] == loss]
  if not workloads:
    return f"(no workload ran with the {loss} loss)\n"
  labels = list(dict.fromkeys(label for w in workloads for label in w["curves"]))
  n = document["trials"]
  lines = ["| workload | reference (validation) | "
           + "".join(f"break-even vs {label} | " for label in labels)
           + "".join(f"{label} vs reference (test, points) | " for label in labels),
           "|---|---|" + "---|" * (2 * len(labels))]
  for w in workloads:
    reference = w["rows"][0]
    cells = []
    for label in labels:
      curve = w["curves"].get(label)
      if curve is None:
        cells.append("n/a")
        continue
      fewest, most = curve["break_even_trials_band"]
      cells.append(f"{tuning_curves.describe_break_even(curve['break_even_trials'], n)} "
                   f"[{tuning_curves.describe_break_even(fewest, n)}, "
                   f"{tuning_curves.describe_break_even(most, n)}]")
    cells += [_verdict_cell(w["comparisons"].get(label)) for label in labels]
    lines.append(f"| {w['name']} | {reference['label']}: "
                 f"{_fmt(reference['validation_accuracy'], '.4f')} | " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def accuracy_table(workload: dict) -> str:
  """One workload's rows: final test accuracy with its 95 % t-interval, the test accuracy
  at the best validation evaluation, validation accuracy, the verdict against the
  reference, targets and steps."""
  lines = [f"### {workload['name']}: {workload['dataset']} {workload['model']}, "
           f"{workload['loss']} loss, {workload['epochs']} epochs of batch "
           f"{workload['batch_size']} ({workload['steps_per_epoch']} steps each) on "
           f"{workload['train_examples']} examples, {workload['validation_examples']} for "
           f"validation, label noise {workload['label_noise']:g}; validation target "
           f"{workload['target']:g} ({'declared' if workload['target_declared'] else 'rule'}); "
           f"margin {100 * workload['margin']:g} points", "",
           "| optimizer | test accuracy [95 % CI] | test at best validation [95 % CI] | "
           "validation accuracy | vs reference: verdict [90 % CI, points] | reached target | "
           "median steps to target | diverged |",
           "|---|---|---|---|---|---|---|---|"]
  for r in workload["rows"]:
    verdict = ("reference" if r is workload["rows"][0]
               else _verdict_cell(workload["comparisons"].get(r["optimizer"])))
    lines.append(
        f"| {r['label']} | {_interval(r['test_accuracy'], r['test_accuracy_interval'])} | "
        f"{_interval(r['test_accuracy_at_best_validation'], r['test_accuracy_at_best_validation_interval'])} | "  # noqa: E501
        f"{_fmt(r['validation_accuracy'], '.4f')} | {verdict} | "
        f"{r['reached_target']}/{r['seeds']} | {_fmt(r['median_steps_to_target'], 'g')} | "
        f"{r['diverged']}/{r['seeds']} |")
  return "\n".join(lines) + "\n"


def profile_table(document: dict, loss: str) -> str:
  profile = document["profiles"][loss]
  lines = ["| optimizer | profile score | workloads reached (ratio <= max) |", "|---|---|---|"]
  for name, entry in profile["optimizers"].items():
    reached = sum(r is not None for r in entry["ratios"].values())
    lines.append(f"| {name} | {_fmt(entry['score'], '.3f')} | {reached}/"
                 f"{profile['num_workloads']} |")
  return "\n".join(lines) + "\n"


def markdown(document: dict) -> str:
  config = document["config"]
  wall = ("" if document["wall_time_s"] is None
          else f"wall time {document['wall_time_s']:.0f} s, ")
  parts = [f"# Workload suite: {document['num_workloads']} workload runs, seeds "
           f"{config['seeds']}, {document['trials']} random-search trials per baseline, "
           f"{wall}searches and training {document['compute_time_s']:.0f} s "
           f"({document['versions']['backend']}, {document['versions']['device_kind']})", "",
           *([f"**Partial report: {document['partial']}.**", ""]
             if document.get("partial") else []),
           "How to read it: each baseline's N trials are drawn from its declared space and "
           "scored on validation; the expected best validation accuracy after k trials is "
           f"{tuning_curves.ESTIMATOR}, with a bootstrap band; **break-even** is the "
           "smallest k whose expected best reaches the reference's mean validation "
           "accuracy over seeds ('> N': never within N; in brackets: the same read from the "
           "band's upper and lower edges). Verdicts compare final test accuracy with the "
           "reference's, paired by seed: "
           f"{equivalence.TEST_NAME}; alpha {config['alpha']}, Holm-corrected over each "
           "workload's rows; the interval is the 90 % t-interval of the difference.", ""]
  for loss in document["losses"]:
    parts += [f"## {loss} loss: trials the reference is worth, and verdicts", "",
              break_even_table(document, loss), "",
              f"Performance profile on median steps to the validation target ({loss} "
              "loss):", "", profile_table(document, loss)]
  for skipped in document["skipped"]:
    parts.append(f"Skipped {skipped['name']}: {skipped['reason']}\n")
  parts.append("## Workloads\n")
  parts += [accuracy_table(w) for w in document["workloads"]]
  return "\n".join(parts)
