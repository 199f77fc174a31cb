"""The suite's report as Markdown: what ``suite.md`` and the command print.

Every number comes from ``suite.json`` (``suite_report.summarize``); nothing is typed.
The break-even table, what a search delivers on test, the performance profiles and one
table per workload run, each verdict in words that carry the margin.
"""

from __future__ import annotations

import math

from . import equivalence, tuning_curves


def _fmt(value, spec) -> str:
  return "n/a" if value is None else format(value, spec)


def accuracy_text(mean, interval) -> str:
  """An accuracy and its 95 % t-interval, the interval clipped to [0, 1] (an accuracy
  cannot leave it; a t-interval near the ceiling does) and marked with * where clipped."""
  if mean is None:
    return "n/a"
  if interval is None:
    return f"{mean:.4f} (no interval)"
  low, high = max(0.0, interval[0]), min(1.0, interval[1])
  clipped = "*" if (low, high) != tuple(interval) else ""
  return f"{mean:.4f} [{low:.4f}, {high:.4f}]{clipped}"


def test_set_error(accuracy, test_examples) -> str:
  """The test set's own standard error at ``accuracy``: ``sqrt(p (1 - p) / n)`` in points,
  the sampling error of one accuracy on that test set (the paired tests over seeds do not
  include it: a margin below it is a difference the test set cannot resolve)."""
  if accuracy is None or not test_examples:
    return "n/a"
  return f"{100 * math.sqrt(accuracy * (1 - accuracy) / test_examples):.2f}"


def verdict_text(c: dict) -> str:
  """The verdict with the margin in its words, the 90 % interval in points and, for an
  inconclusive one, the minimum detectable effect and the seeds that would settle it."""
  if c is None:
    return "n/a"
  if c["verdict"] == "no spread":
    return (f"no spread: every seed differs by {100 * c['mean_difference']:+.2f} (no "
            "t-interval)")
  interval = c.get("interval")
  shown = ("" if interval is None
           else f" [{100 * interval[0]:+.2f}, {100 * interval[1]:+.2f}]")
  verdict = c.get("verdict_with_margin") or equivalence.with_margin(c)
  if verdict == "inconclusive" and c.get("minimum_detectable_effect") is not None:
    needed = c.get("pairs_needed")
    shown += (f" (detects {100 * c['minimum_detectable_effect']:.2f} pt at Holm's level; "
              f"equivalence at a zero difference needs "
              f"{needed if needed is not None else '> 100,000'} seeds)")
  return f"{verdict}{shown}"


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
    cells += [verdict_text(w["comparisons"].get(label)) for label in labels]
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
           f"margin {100 * workload['margin']:g} points, the test set's own standard error "
           f"{test_set_error(workload['rows'][0]['test_accuracy'], workload.get('test_examples'))}"
           f" points ({workload.get('test_examples', 'n/a')} test examples); budget "
           f"{workload.get('budget', 1):g}x", "",
           "| optimizer | test accuracy [95 % CI] | test at best validation [95 % CI] | "
           "validation accuracy | vs reference: verdict [90 % CI, points] | reached target | "
           "median steps to target | best validation epoch | last-quarter gain (pt) | "
           "diverged |",
           "|---|---|---|---|---|---|---|---|---|---|"]
  for r in workload["rows"]:
    verdict = ("reference" if r is workload["rows"][0]
               else verdict_text(workload["comparisons"].get(r["optimizer"])))
    lines.append(
        f"| {r['label']} | {accuracy_text(r['test_accuracy'], r['test_accuracy_interval'])} | "
        f"{accuracy_text(r['test_accuracy_at_best_validation'], r['test_accuracy_at_best_validation_interval'])} | "  # noqa: E501
        f"{_fmt(r['validation_accuracy'], '.4f')} | {verdict} | "
        f"{r['reached_target']}/{r['seeds']} | {_fmt(r['median_steps_to_target'], 'g')} | "
        f"{_fmt(r.get('median_best_validation_epoch'), 'g')} | "
        f"{_fmt(None if r.get('last_quarter_validation_gain') is None else 100 * r['last_quarter_validation_gain'], '+.2f')} | "  # noqa: E501
        f"{r['diverged']}/{r['seeds']} |")
  return "\n".join(lines) + "\n" + ("\n* clipped to [0, 1]\n" if "]*" in "".join(lines) else "")


def delivered_table(document: dict, loss: str) -> str:
  """What a search delivers on test: the expected test accuracy of the trial validation
  picks among all N, with its band, beside the reference's final test accuracy."""
  workloads = [w for w in document["workloads"] if w["loss"] == loss]
  labels = list(dict.fromkeys(label for w in workloads for label in w["curves"]))
  n = document["trials"]
  lines = ["| workload | reference: test accuracy | "
           + "".join(f"{label}: expected test of the best of {n} [90 % band] | "
                     for label in labels), "|---|---|" + "---|" * len(labels)]
  for w in workloads:
    cells = []
    for label in labels:
      curve = w["curves"].get(label, {})
      values = curve.get("expected_test_accuracy_of_best")
      band = curve.get("expected_test_accuracy_of_best_band")
      cells.append("n/a" if not values else
                   f"{values[-1]:.4f} [{band[0][-1]:.4f}, {band[1][-1]:.4f}]")
    lines.append(f"| {w['name']} | {_fmt(w['rows'][0]['test_accuracy'], '.4f')} | "
                 + " | ".join(cells) + " |")
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
              f"What a search delivers on test ({loss} loss; validation chooses, the test "
              "set only reports):", "", delivered_table(document, loss), ""]
  for key in document["profiles"]:
    parts += [f"Performance profile on median steps to the validation target ({key}):", "",
              profile_table(document, key)]
  for skipped in document["skipped"]:
    parts.append(f"Skipped {skipped['name']}: {skipped['reason']}\n")
  parts.append("## Workloads\n")
  parts += [accuracy_table(w) for w in document["workloads"]]
  return "\n".join(parts)
