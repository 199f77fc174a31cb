"""A transfer study's results, summarized, and its report as Markdown.

Everything is computed from the kept searches and groups of
``experiments/workflows/transfer.py``; no number is typed. At every value each row's
final test accuracy over the seeds (mean, 95 % t-interval), and the derived pair's and
the transferred SGD's differences from the re-tuned SGD, paired by seed, each an
equivalence test at the workload's margin (TOST, ``equivalence.compare``),
Holm-corrected over the workload's family: every value, both rows.
"""

from __future__ import annotations

from . import equivalence, suite_report
from .suite_markdown import accuracy_text, test_set_error, verdict_text

CORRECTION = ("Holm over each workload's family: both rows against the re-tuned SGD at "
              "every value")


def summarize_row(group: dict) -> dict:
  """A row at one value: its optimizer, final test and validation accuracy per seed, the
  mean with its 95 % t-interval, divergences, and whether it was still improving."""
  runs = group["runs"]
  test = equivalence.mean_interval([r["test_accuracy"] for r in runs])
  validation = equivalence.mean_interval([r.get("validation_accuracy") for r in runs])
  return {"row": group["row"], "optimizer": group["optimizer"],
          "learning_rate": group["learning_rate"], "momentum": group["momentum"],
          "per_seed_test_accuracy": [r["test_accuracy"] for r in runs],
          "test_accuracy": test["mean"], "test_accuracy_interval": test["interval"],
          "per_seed_validation_accuracy": [r.get("validation_accuracy") for r in runs],
          "validation_accuracy": validation["mean"],
          "seeds": len(runs), "diverged": sum(r["diverged"] for r in runs),
          **suite_report.end_of_budget(runs), "wall_time_s": group["wall_time_s"]}


def summarize_workload(result: dict, alpha: float) -> dict:
  """Every value's rows and their comparisons with the re-tuned row, Holm-corrected over
  the workload."""
  points, family, where = [], [], []
  for p, point in enumerate(result["points"]):
    rows = [summarize_row(g) for g in point["groups"]]
    points.append({**{k: v for k, v in point.items() if k != "groups"}, "rows": rows,
                   "comparisons": {}})
    for row in rows[1:]:
      family.append(suite_report.paired_comparison(row, rows[0], result["margin"], alpha))
      where.append((p, row["row"]))
  for (p, row), comparison in zip(where, equivalence.corrected(family), strict=True):
    points[p]["comparisons"][row] = comparison
  return {**{k: v for k, v in result.items() if k != "points"}, "points": points,
          "groups": [p["groups"] for p in result["points"]]}


def summarize(results: list[dict], study) -> dict:
  """The study's document: each workload summarized, the skipped ones with their
  reasons, the test and the correction named."""
  return {"workloads": [summarize_workload(r, study.alpha) for r in results
                        if "skipped" not in r],
          "skipped": {r["name"]: r["skipped"] for r in results if "skipped" in r},
          "rows": ["re-tuned sgd", "derived pair", "transferred sgd"],
          "reference_row": "re-tuned sgd", "test": equivalence.TEST_NAME,
          "correction": CORRECTION, "alpha": study.alpha}


def holds_and_breaks(workload: dict, vary: str, row: str = "derived pair") -> str:
  """One sentence per verdict kind: at which values ``row`` was shown equivalent to the
  re-tuned SGD, at which worse or better, and where the test could not tell."""
  by_verdict = {}
  for point in workload["points"]:
    verdict = point["comparisons"][row].get("verdict_with_margin",
                                            point["comparisons"][row]["verdict"])
    by_verdict.setdefault(verdict, []).append(str(point[vary]))
  parts = [f"{verdict} at {vary.replace('_', ' ')} {', '.join(values)}"
           for verdict, values in by_verdict.items()]
  return f"{row}, against the re-tuned SGD: " + "; ".join(parts) + "."


def accuracy_table(workload: dict, vary: str) -> str:
  """Per value: the steps per epoch, the examples, and each row's test accuracy."""
  head = vary.replace("_", " ")
  lines = [f"| {head} | train examples | steps/epoch | re-tuned lr | re-tuned sgd | "
           "derived pair | transferred sgd |", "|---|---|---|---|---|---|---|"]
  for point in workload["points"]:
    rows = {r["row"]: r for r in point["rows"]}
    cells = [accuracy_text(rows[name]["test_accuracy"], rows[name]["test_accuracy_interval"])
             + (f" ({rows[name]['diverged']} diverged)" if rows[name]["diverged"] else "")
             for name in ("re-tuned sgd", "derived pair", "transferred sgd")]
    lines.append(f"| {point[vary]} | {point['train_examples']:,} | "
                 f"{point['steps_per_epoch']} | {rows['re-tuned sgd']['learning_rate']:.3g} | "
                 + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def verdict_table(workload: dict, vary: str) -> str:
  """Per value: each row minus the re-tuned SGD, in points, with its verdict."""
  lines = [f"| {vary.replace('_', ' ')} | derived pair - re-tuned sgd | "
           "transferred sgd - re-tuned sgd |", "|---|---|---|"]
  for point in workload["points"]:
    lines.append(f"| {point[vary]} | {verdict_text(point['comparisons']['derived pair'])} | "
                 f"{verdict_text(point['comparisons']['transferred sgd'])} |")
  return "\n".join(lines) + "\n"


def markdown(document: dict) -> str:
  """``transfer.md``: what was held fixed and declared, then per workload its tables."""
  vary = document["vary"]
  values = document[document_values_key(document)]
  out = [f"# Transfer study: {vary.replace('_', ' ')}\n",
         f"Values: {values}; the SGD is tuned at {vary.replace('_', ' ')} "
         f"{document['reference']} and transferred unchanged; the re-tuned SGD searches its "
         f"learning rate again at every value (momentum the tuned one); the derived pair "
         f"is unchanged. {document['trials']} trials per search, each on trial seeds "
         f"{document['trial_seeds']}; final seeds {document['final_seeds']}; fixed epochs; "
         f"validation split {document['validation_fraction']:g} of the training set, the "
         "same at every value. dualprocess "
         f"{document.get('dualprocess_version', '?')}.\n",
         f"Accuracies: final test accuracy, mean over seeds [95 % t-interval] (* clipped to "
         f"[0, 1]). Differences: in points, paired by seed, [90 % interval], "
         f"{document['test']}; {document['correction']}.\n"]
  for name, reason in document.get("skipped", {}).items():
    out.append(f"Skipped: {name} ({reason}).\n")
  for workload in document["workloads"]:
    best = max((r["test_accuracy"] or 0) for p in workload["points"] for r in p["rows"])
    transferred = workload["transferred"]
    out += [f"## {workload['name']}\n",
            f"{workload['dataset']}, {workload['model']}, {workload['loss']} loss, "
            f"{workload['epochs']} epochs; margin {_points(workload['margin'])}; the "
            f"test set's own standard error {test_set_error(best, workload['test_examples'])}"
            f" points ({workload['test_examples']:,} images). Tuned at the reference: lr "
            f"{transferred['learning_rate']:.3g}, momentum {transferred['momentum']:.3g}.\n",
            holds_and_breaks(workload, vary) + "\n",
            holds_and_breaks(workload, vary, "transferred sgd") + "\n",
            accuracy_table(workload, vary), verdict_table(workload, vary)]
  return "\n".join(out)


def document_values_key(document: dict) -> str:
  return "batch_sizes" if document["vary"] == "batch_size" else "train_sizes"


def _points(fraction: float) -> str:
  value = 100 * fraction
  return f"{value:g} point{'' if value == 1 else 's'}"
