"""Is a grid cell the best? Rank, ties with the best by a paired test over folds.

The author's grid search (Double-Bayesian Learning, 2024, appendix A)
reports that no (learning rate, momentum) pair beats his (0.016, 0.874),
without error bars. Here that claim is a computation over the grid's per-fold
test accuracies:

- ``rank``: 1 + the number of cells whose mean test accuracy over folds is
  strictly higher (cells with equal means share a rank);
- ``best``: the cell with the highest mean;
- for every other cell, the one-sided paired t-test over folds of "this
  cell's accuracy is below the best's" (``scipy.stats.ttest_rel``,
  ``alternative="less"``); a cell is ``tied_with_best`` when that p-value is
  at least ``alpha``;
- ``holds``: the reference is the best or tied with it.

The best is picked after looking at the same data, so the comparisons favour
it (the winner's curse): a cell tied with the best is at least not shown to be
worse. Benjamini-Hochberg control over the family of comparisons
(``scipy.stats.false_discovery_control``) gives ``holds_with_fdr``; it can
only enlarge the tied set.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

TEST_NAME = ("paired t-test over folds, one-sided (cell below best): "
             "scipy.stats.ttest_rel(cell, best, alternative='less')")


def _mean(values: Sequence) -> float | None:
  return None if not values or any(v is None for v in values) else statistics.fmean(values)


def paired_p_value(a: Sequence[float], b: Sequence[float],
                   alternative: str = "two-sided") -> float | None:
  """``scipy.stats.ttest_rel(a, b, alternative=...)``'s p-value; None below 2 pairs.

  With no spread in the differences the t statistic is undefined (scipy
  returns NaN): a difference of zero on every pair is no evidence (p = 1),
  and the same nonzero difference on every pair is as clear as the data can
  say (p = 0 where it points the way ``alternative`` asks, else 1).
  """
  a, b = np.asarray(a, float), np.asarray(b, float)
  if len(a) < 2:
    return None
  differences = a - b
  if np.all(differences == differences[0]):
    shift = differences[0]
    shown = {"two-sided": shift != 0, "less": shift < 0, "greater": shift > 0}[alternative]
    return 0.0 if shown else 1.0
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    return float(stats.ttest_rel(a, b, alternative=alternative).pvalue)


def paired_difference(pairs: Sequence[tuple[float, float]]) -> dict:
  """``a - b`` over matched ``(a, b)`` pairs: how many, the mean and the (population) std
  of the differences, and the two-sided paired t-test's p-value (None below 2 pairs)."""
  differences = [a - b for a, b in pairs]
  return {"pairs": len(pairs),
          "mean_difference": statistics.fmean(differences) if differences else None,
          "std_difference": statistics.pstdev(differences) if differences else None,
          "p_value": paired_p_value([a for a, _ in pairs], [b for _, b in pairs])}


def p_value_below(cell: Sequence[float], best: Sequence[float]) -> float | None:
  """p-value of "``cell`` is below ``best``", paired by fold; None with fewer than 2 folds."""
  return paired_p_value(cell, best, alternative="less")


def find_cell(cells: Sequence[dict], learning_rate: float, momentum: float) -> dict | None:
  for cell in cells:
    if (math.isclose(cell["learning_rate"], learning_rate, rel_tol=1e-9)
        and math.isclose(cell["momentum"], momentum, rel_tol=1e-9, abs_tol=1e-12)):
      return cell
  return None


def evaluate_claim(cells: Sequence[dict], reference: Sequence[float],
                   alpha: float = 0.05) -> dict:
  """The claim that ``reference`` is the best cell of ``cells``.

  Args:
    cells: grid cells, each with ``learning_rate``, ``momentum`` and
      ``per_fold_test_accuracy`` (one accuracy per fold, in the same fold
      order for every cell; ``None`` for a fold that diverged).
    reference: ``(learning_rate, momentum)`` of the cell under test; it must
      be one of ``cells``.
    alpha: the significance level of the paired test.

  Returns:
    A JSON-ready dict: ``reference``, ``rank``, ``num_cells``, ``best``,
    ``test``, ``alpha``, ``tied_with_best``, ``holds``, ``p_value`` (reference
    vs best), ``folds``, ``holds_with_fdr`` and per-cell ``p_values``.
  """
  learning_rate, momentum = reference
  mine = find_cell(cells, learning_rate, momentum)
  if mine is None:
    raise ValueError(f"reference ({learning_rate}, {momentum}) is not a cell of the grid")
  means = {id(c): _mean(c["per_fold_test_accuracy"]) for c in cells}
  ranked = sorted((c for c in cells if means[id(c)] is not None), key=lambda c: -means[id(c)])
  if not ranked:
    raise ValueError("every cell of the grid diverged")
  best = ranked[0]
  folds = len(best["per_fold_test_accuracy"])
  pair = lambda c: [c["learning_rate"], c["momentum"]]
  p_values = {}
  for cell in ranked[1:]:
    p_values[id(cell)] = p_value_below(cell["per_fold_test_accuracy"],
                                       best["per_fold_test_accuracy"])
  testable = [k for k, p in p_values.items() if p is not None]
  adjusted = dict(zip(testable, stats.false_discovery_control(
      [p_values[k] for k in testable]) if testable else [], strict=True))

  def tied(cell, table) -> bool:
    if cell is best:
      return True
    if means[id(cell)] is None:
      return False  # a diverged fold is below any finished run
    p = table.get(id(cell))
    return p is None or p >= alpha  # one fold: nothing can be shown

  mean_of_mine = means[id(mine)]
  rank = (None if mean_of_mine is None
          else 1 + sum(means[id(c)] > mean_of_mine for c in ranked))
  return {
      "reference": [learning_rate, momentum],
      "rank": rank, "num_cells": len(cells),
      "reference_mean_test_accuracy": mean_of_mine,
      "best": {**{k: best[k] for k in ("learning_rate", "momentum")},
               "mean_test_accuracy": means[id(best)]},
      "folds": folds, "test": TEST_NAME if folds >= 2 else None, "alpha": alpha,
      "tied_with_best": [pair(c) for c in ranked if tied(c, p_values)],
      "holds": tied(mine, p_values),
      "p_value": None if mine is best else p_values.get(id(mine)),
      "holds_with_fdr": tied(mine, adjusted),
      "p_values": [{"learning_rate": c["learning_rate"], "momentum": c["momentum"],
                    "p_value_below_best": p_values.get(id(c)),
                    "p_value_fdr": adjusted.get(id(c))} for c in ranked[1:]],
  }


def top(cells: Sequence[dict], n: int) -> list[dict]:
  """The ``n`` cells with the highest mean test accuracy over folds."""
  scored = [c for c in cells if _mean(c["per_fold_test_accuracy"]) is not None]
  return sorted(scored, key=lambda c: -_mean(c["per_fold_test_accuracy"]))[:n]


def markdown(learning_rates, momenta, cells: Sequence[dict], verdict: dict,
             references: dict, title: str) -> str:
  """The grid in the author's layout (rows: learning rates; columns: momenta) with the mean
  test accuracy over folds and its std, the best cell in bold, the reference starred, then
  the claim's verdict and the named pairs trained beside the grid."""
  by_pair = {(c["learning_rate"], c["momentum"]): c for c in cells}
  best = (verdict["best"]["learning_rate"], verdict["best"]["momentum"])
  reference = tuple(verdict["reference"])
  def fmt(c):
    if c["mean_test_accuracy"] is None:
      return "diverged"
    text = f"{c['mean_test_accuracy']:.4f}"
    if c["std_test_accuracy"] is not None:
      text += f" ± {c['std_test_accuracy']:.4f}"
    if c.get("diverged_runs"):  # the mean is over the runs that finished
      text += f" ({c['diverged_runs']} of {len(c['test_accuracy'])} diverged)"
    return text

  lines = [title, "", "| lr \\ momentum | " + " | ".join(f"{m:g}" for m in momenta) + " |",
           "|---|" + "---|" * len(momenta)]
  for lr in learning_rates:
    row = []
    for m in momenta:
      text = fmt(by_pair[(lr, m)])
      text = f"**{text}**" if (lr, m) == best else text
      row.append(text + (" ★" if find_cell([by_pair[(lr, m)]], *reference) else ""))
    lines.append(f"| {lr:g} | " + " | ".join(row) + " |")
  p = verdict["p_value"]
  lines += ["", f"Mean test accuracy over {verdict['folds']} fold(s) ± std over folds (a "
            "cell with a diverged run: the mean of the others, ranked as diverged); "
            f"**bold**: the best cell; ★: the reference {reference}.", "",
            f"- reference {reference}: rank {verdict['rank']} of {verdict['num_cells']}, mean "
            f"{verdict['reference_mean_test_accuracy']:.4f}",
            f"- best {best}: mean {verdict['best']['mean_test_accuracy']:.4f}",
            f"- test: {verdict['test'] or 'none (one fold)'}; alpha {verdict['alpha']}; "
            f"p-value of the reference against the best: "
            + ("n/a (it is the best)" if p is None else f"{p:.3g}"),
            f"- cells not significantly below the best: {len(verdict['tied_with_best'])} of "
            f"{verdict['num_cells']}; the claim {'holds' if verdict['holds'] else 'does not hold'}"
            f" (with Benjamini-Hochberg control: "
            f"{'holds' if verdict['holds_with_fdr'] else 'does not hold'})", "",
            "Named constant sets trained beside the grid (same folds):", "",
            "| set | learning rate | momentum | mean test accuracy | std over folds |",
            "|---|---|---|---|---|"]
  for name, entry in references.items():
    std = entry["std_test_accuracy"]
    lines.append(f"| {name} | {entry['learning_rate']:.6g} | {entry['momentum']:.6g} | "
                 + ("diverged" if entry["mean_test_accuracy"] is None
                    else f"{entry['mean_test_accuracy']:.4f}")
                 + f" | {'n/a' if std is None else f'{std:.4f}'} |")
  return "\n".join(lines) + "\n"
