"""The suite's results, summarized: per-workload tables, the profile and the verdict.

Everything here is computed from the finished groups of ``experiments.suite``;
no number is written by hand. Optimizers are named by their label across
workloads, except the tuned baselines, whose grid cells differ per workload and
which are named ``tuned sgd`` and ``tuned sgd + schedule`` everywhere; the
verdict is computed against each.
"""

from __future__ import annotations

import math
import statistics

from experiments.analysis import claim, scoring

PAIRED_TEST = ("paired t-test, two-sided, over seeds: scipy.stats.ttest_rel(row, first "
               "optimizer)")


def _steps(run) -> float:
  return scoring.INF if run["steps_to_target"] is None else run["steps_to_target"]


def summarize_group(group: dict) -> dict:
  runs = group["runs"]
  finals = [r["test_accuracy"] for r in runs if r["test_accuracy"] is not None]
  losses = [r["test_loss"] for r in runs if r["test_loss"] is not None]
  steps = [_steps(r) for r in runs]
  times = [r["time_to_target_s"] for r in runs if r["time_to_target_s"] is not None]
  median_steps = scoring.median(steps)
  return {
      "optimizer": group.get("baseline") or group["optimizer"],
      "label": group["optimizer"], "learning_rate": group["learning_rate"],
      "momentum": group["momentum"],
      "test_accuracy": statistics.fmean(finals) if finals else None,
      "test_accuracy_std": statistics.pstdev(finals) if finals else None,
      "per_seed_test_accuracy": [r["test_accuracy"] for r in runs],
      "test_loss": statistics.fmean(losses) if losses else None,
      "seeds": len(runs), "diverged": sum(r["diverged"] for r in runs),
      "reached_target": sum(math.isfinite(s) for s in steps),
      "median_steps_to_target": median_steps if math.isfinite(median_steps) else None,
      "per_seed_steps_to_target": [r["steps_to_target"] for r in runs],
      "median_time_to_target_s": (statistics.median(times)
                                  if math.isfinite(median_steps) and times else None),
      "wall_time_s": group["wall_time_s"],
  }


def compute_time(results: list[dict]) -> float:
  """Seconds spent on tuning and groups, as kept in the cells.

  Unlike ``wall_time_s`` (this invocation's clock) it survives a resume: a
  suite finished over several runs still reports its whole cost. Data loading
  and the report are outside it.
  """
  return sum(r["tuning"]["wall_time_s"] + (r.get("scheduled_tuning") or {}).get("wall_time_s", 0)
             + sum(g["wall_time_s"] for g in r["optimizers"])
             for r in results if "skipped" not in r)


def summarize(results: list[dict], max_ratio: float, tuned_names: list[str]) -> dict:
  """suite.json's content (less config and versions) from the per-workload results."""
  workloads, skipped = [], []
  for result in results:
    if "skipped" in result:
      skipped.append({"name": result["name"], "reason": result["skipped"]})
      continue
    rows = [summarize_group(g) for g in result["optimizers"]]
    workloads.append({**{k: v for k, v in result.items() if k != "optimizers"},
                      "rows": rows, "groups": result["optimizers"]})
  finals = {w["name"]: {r["optimizer"]: r["test_accuracy"] for r in w["rows"]}
            for w in workloads}
  steps = {w["name"]: {r["optimizer"]: (scoring.INF if r["median_steps_to_target"] is None
                                        else r["median_steps_to_target"]) for r in w["rows"]}
           for w in workloads}
  twins = {w["name"]: w["clean_twin"] for w in workloads if w["clean_twin"]}
  ratios = scoring.performance_ratios(steps, max_ratio)
  taus = [1.0 + (max_ratio - 1.0) * i / 200 for i in range(201)]
  n = len(workloads)
  profile = {"max_ratio": max_ratio, "taus": taus, "measure": "median steps to target",
             "optimizers": {o: {"rho": scoring.profile(r, n, taus) if n else [],
                                "score": scoring.profile_score(r, n, max_ratio) if n else None,
                                "ratios": {w: (None if math.isinf(v) else v)
                                           for w, v in r.items()}}
                            for o, r in ratios.items()}}
  present = [t for t in tuned_names if any(t in per for per in finals.values())]
  verdicts = {t: scoring.verdict(finals, steps, t, twins) if n else {} for t in present}
  return {"num_workloads": n, "workloads": workloads, "skipped": skipped,
          "tuned_baseline": present[0] if present else tuned_names[0],
          "tuned_baselines": present, "profile": profile,
          "verdict": verdicts.get(present[0], {}) if present else {}, "verdicts": verdicts}


def _points(fraction):
  return None if fraction is None else 100 * fraction


def _fmt(value, spec) -> str:
  return "n/a" if value is None else format(value, spec)


def workload_table(workload: dict, tuned_names: list[str]) -> str:
  scheduled = workload.get("scheduled_tuning")
  lines = [f"### {workload['name']}: {workload['dataset']} {workload['model']}, "
           f"{workload['epochs']} epochs of batch {workload['batch_size']} "
           f"({workload['steps_per_epoch']} steps each), label noise "
           f"{workload['label_noise']:g}, target test accuracy {workload['target']:g}",
           "",
           f"Tuned baseline: SGD grid on a validation split of "
           f"{workload['tuning']['validation_examples']} training examples; best "
           f"({workload['tuning']['learning_rate']:.3g}, {workload['tuning']['momentum']:g}) "
           f"at validation accuracy {workload['tuning']['validation_accuracy']:.4f}."]
  if scheduled:
    lines.append(f"Scheduled baseline: SGD with a schedule and weight decay, tuned on the same "
                 f"split; best (peak {scheduled['learning_rate']:.3g}, momentum "
                 f"{scheduled['momentum']:g}, weight decay {scheduled['weight_decay']:g}) at "
                 f"validation accuracy {scheduled['validation_accuracy']:.4f}.")
  present = [t for t in tuned_names if any(r["optimizer"] == t for r in workload["rows"])]
  lines += ["", "| optimizer | test accuracy | std | "
            + "".join(f"vs {t} (points) | " for t in present)
            + "reached target | median steps to target | median time to target (s) | "
            "diverged |", "|---|---|---|" + "---|" * len(present) + "---|---|---|---|"]
  tuned = {t: next(r for r in workload["rows"] if r["optimizer"] == t) for t in present}
  for r in workload["rows"]:
    gaps = [None if r["test_accuracy"] is None or tuned[t]["test_accuracy"] is None
            else _points(r["test_accuracy"] - tuned[t]["test_accuracy"]) for t in present]
    lines.append(f"| {r['label']} | {_fmt(r['test_accuracy'], '.4f')} | "
                 f"{_fmt(r['test_accuracy_std'], '.4f')} | "
                 + "".join(f"{_fmt(g, '+.2f')} | " for g in gaps)
                 + f"{r['reached_target']}/{r['seeds']} | "
                 f"{_fmt(r['median_steps_to_target'], 'g')} | "
                 f"{_fmt(r['median_time_to_target_s'], '.3g')} | {r['diverged']}/{r['seeds']} |")
  return "\n".join(lines) + "\n"


def _optimizer_table(document: dict, cell, skip_first: bool = False,
                     extra_rows: tuple = ()) -> str:
  """Rows: optimizers (by label, in their first workload's order); columns: workloads;
  ``cell(row, rows)`` formats one workload's row of that optimizer (None where it has none)
  given all of that workload's rows by optimizer."""
  workloads = document["workloads"]
  names = list(dict.fromkeys(r["optimizer"] for w in workloads for r in w["rows"]))
  lines = ["| optimizer | " + " | ".join(w["name"] for w in workloads) + " |",
           "|---|" + "---|" * len(workloads), *extra_rows]
  by_workload = [{r["optimizer"]: r for r in w["rows"]} for w in workloads]
  for name in names[1:] if skip_first else names:
    lines.append(f"| {name} | " + " | ".join(cell(rows.get(name), rows) for rows in by_workload)
                 + " |")
  return "\n".join(lines) + "\n"


def accuracy_table(document: dict) -> str:
  """Final test accuracy (mean over seeds) of every optimizer on every workload, the
  targets above; a check mark where the median seed reached the target."""
  def cell(row, rows):
    if row is None or row["test_accuracy"] is None:
      return "n/a"
    return f"{row['test_accuracy']:.4f}" + (" ✓" if row["median_steps_to_target"] is not None
                                             else "")
  targets = "| *target* | " + " | ".join(f"*{w['target']:g}*" for w in document["workloads"])
  return _optimizer_table(document, cell, extra_rows=(targets + " |",))


def paired_difference(row: dict, first: dict) -> dict:
  """``row`` minus ``first`` in final test accuracy, paired by seed (``claim``'s)."""
  return claim.paired_difference([
      (a, b) for a, b in zip(row["per_seed_test_accuracy"], first["per_seed_test_accuracy"],
                             strict=True) if a is not None and b is not None])


def paired_table(document: dict) -> str:
  """Every optimizer against the first configured one, workload by workload."""
  first = document["workloads"][0]["rows"][0]["optimizer"]
  def cell(row, rows):
    if row is None or first not in rows:
      return "n/a"
    paired = paired_difference(row, rows[first])
    if paired["mean_difference"] is None:
      return "n/a"
    return (f"{_points(paired['mean_difference']):+.2f} ± "
            f"{_points(paired['std_difference']):.2f} (p {_fmt(paired['p_value'], '.2g')})")
  return _optimizer_table(document, cell, skip_first=True)


def verdict_table(document: dict, tuned_name: str = None) -> str:
  """The verdict against one tuned baseline (default: the first)."""
  tuned_name = tuned_name or document["tuned_baseline"]
  verdict = document.get("verdicts", {}).get(tuned_name, document["verdict"])
  noisy = [w["name"] for w in document["workloads"] if w["clean_twin"]]
  lines = [f"| optimizer | within 0.5 pt of {tuned_name} | within 1 pt of {tuned_name} | "
           f"targets reached | median steps to target / {tuned_name} | profile score |"
           + "".join(f" drop on {n} (pt) |" for n in noisy),
           "|---|---|---|---|---|---|" + "---|" * len(noisy)]
  n = document["num_workloads"]
  for optimizer, v in verdict.items():
    score = document["profile"]["optimizers"][optimizer]["score"]
    drops = "".join(f" {_fmt(_points(v['noise_drop_from_clean_twin'].get(w)), '.2f')} |"
                    for w in noisy)
    lines.append(f"| {optimizer} | {v['within_0_5_points_of_tuned']}/{n} | "
                 f"{v['within_1_point_of_tuned']}/{n} | {v['targets_reached']}/{n} | "
                 f"{_fmt(v['median_steps_to_target_vs_tuned'], '.2f')} "
                 f"({v['workloads_compared_for_steps']}) | {_fmt(score, '.3f')} |{drops}")
  return "\n".join(lines) + "\n"


def markdown(document: dict) -> str:
  baselines = document.get("tuned_baselines") or [document["tuned_baseline"]]
  parts = [f"# Workload suite: {document['num_workloads']} workloads, seeds "
           f"{document['config']['seeds']}, wall time {document['wall_time_s']:.0f} s "
           f"(tuning and training {document['compute_time_s']:.0f} s) "
           f"({document['versions']['backend']}, {document['versions']['device_kind']})", "",
           "## Verdict", "",
           "Final test accuracy is the mean over seeds; 'within' compares it with a tuned "
           "baseline's; a target counts as reached when the median seed reaches it; steps "
           "to target are medians over seeds, compared where both reach the target (the "
           "count in brackets); the profile score is the area under the performance "
           f"profile on [1, {document['profile']['max_ratio']:g}] (AlgoPerf), on median "
           "steps to target; a drop is the clean twin's accuracy minus the noisy one's.", ""]
  for baseline in baselines:
    parts += [f"Against {baseline}:", "", verdict_table(document, baseline)]
  parts += ["## Final test accuracy", "", "Mean over seeds; ✓: the median seed reached the "
            "workload's target during training.", "", accuracy_table(document)]
  if document["workloads"]:
    first = document["workloads"][0]["rows"][0]["optimizer"]
    parts += ["## Paired by seed", "", f"Each optimizer minus {first}: the mean over seeds "
              "of the difference in final test accuracy (points), its std over seeds, and "
              f"the p-value of a {PAIRED_TEST}. The seeds share their data order and "
              "initialization across optimizers.", "", paired_table(document)]
  for skipped in document["skipped"]:
    parts.append(f"Skipped {skipped['name']}: {skipped['reason']}\n")
  parts.append("## Workloads\n")
  parts += [workload_table(w, baselines) for w in document["workloads"]]
  return "\n".join(parts)
