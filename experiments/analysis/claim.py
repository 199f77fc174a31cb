"""Is a grid cell the best? Chosen on validation, judged by an equivalence test over folds.

The author's grid search (Double-Bayesian Learning, 2024, appendix A)
reports that no (learning rate, momentum) pair beats his (0.016, 0.874),
without error bars. Here that claim is a computation over the grid's per-fold
accuracies, as ``docs/methods.md`` states:

- ``best``: the cell with the highest mean **validation** accuracy over
  folds (never the test set); ``rank``: 1 + the number of cells whose mean
  validation accuracy is strictly higher. Test-accuracy ranks are given
  beside, labelled as such.
- the reference against the best (against the runner-up when it is the best
  itself), paired over folds on validation accuracy, by the equivalence test
  of :mod:`experiments.analysis.equivalence` with the declared ``margin``:
  ``equivalent`` (the claim is supported at that margin), ``worse``
  (refuted), ``better`` (the reference beats the runner-up) or
  ``inconclusive``, with the smallest difference the folds detect at 80 %
  power and the folds that would settle it. Test accuracy is compared beside.
- every other cell against the best, Holm-corrected over the grid:
  how many cells are shown equivalent to the best, and how many worse.

The best is picked on the same validation data it is compared on (the
winner's curse), which favours ``worse``; folds overlap in training data and
share the test set, so a t-test over folds is anti-conservative (Nadeau and
Bengio, "Inference for the Generalization Error", Machine Learning 2003).
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Sequence

import numpy as np
from scipy import stats

from . import equivalence

WINNERS_CURSE = ("the best cell was picked on the same validation folds it is compared on, "
                 "so the comparison favours 'worse' (with many cells near the best, by as "
                 "much as the margin); and folds share most of their training data and the "
                 "whole test set, so a t-test over folds understates the variance "
                 "(Nadeau and Bengio 2003)")


def _mean(values: Sequence | None) -> float | None:
  return (None if not values or any(v is None for v in values)
          else statistics.fmean(values))


def paired_p_value(a: Sequence[float], b: Sequence[float],
                   alternative: str = "two-sided") -> float | None:
  """``scipy.stats.ttest_rel(a, b, alternative=...)``'s p-value; None below 2 pairs, and
  None when every pair has the same difference (the t statistic is undefined: see
  ``paired_difference``'s ``no_spread``)."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  if len(a) < 2:
    return None
  differences = a - b
  if np.ptp(differences) <= equivalence.NO_SPREAD:
    return None
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)
    return float(stats.ttest_rel(a, b, alternative=alternative).pvalue)


def paired_difference(pairs: Sequence[tuple[float, float]]) -> dict:
  """``a - b`` over matched ``(a, b)`` pairs: how many, the mean and the ``ddof = 1`` std
  of the differences, the two-sided paired t-test's p-value (None below 2 pairs), and
  ``no_spread``: the same difference on every pair, where no p-value exists."""
  differences = [a - b for a, b in pairs]
  same = len(differences) >= 2 and float(np.ptp(differences)) <= equivalence.NO_SPREAD
  return {"pairs": len(pairs),
          "mean_difference": statistics.fmean(differences) if differences else None,
          "std_difference": statistics.stdev(differences) if len(differences) > 1 else None,
          "p_value": paired_p_value([a for a, _ in pairs], [b for _, b in pairs]),
          "no_spread": same}


def find_cell(cells: Sequence[dict], learning_rate: float, momentum: float) -> dict | None:
  for cell in cells:
    if (math.isclose(cell["learning_rate"], learning_rate, rel_tol=1e-9)
        and math.isclose(cell["momentum"], momentum, rel_tol=1e-9, abs_tol=1e-12)):
      return cell
  return None


def _ranked(cells: Sequence[dict], key: str) -> tuple[list[dict], dict]:
  means = {id(c): _mean(c.get(key)) for c in cells}
  ranked = sorted((c for c in cells if means[id(c)] is not None), key=lambda c: -means[id(c)])
  return ranked, means


def _rank(cell: dict, ranked: list[dict], means: dict) -> int | None:
  mine = means[id(cell)]
  return None if mine is None else 1 + sum(means[id(c)] > mine for c in ranked)


def _reference_and_ranking(cells: Sequence[dict], reference: Sequence[float]):
  """The reference's cell and the cells ranked on validation, or a ValueError saying why
  the claim cannot be judged."""
  learning_rate, momentum = reference
  mine = find_cell(cells, learning_rate, momentum)
  if mine is None:
    raise ValueError(f"reference ({learning_rate}, {momentum}) is not a cell of the grid")
  if any(c.get("per_fold_validation_accuracy") is None for c in cells if
         _mean(c.get("per_fold_test_accuracy")) is not None):
    raise ValueError("the claim needs per-fold validation accuracies (dataset.folds)")
  ranked, means = _ranked(cells, "per_fold_validation_accuracy")
  if not ranked:
    raise ValueError("every cell of the grid diverged")
  return mine, (ranked, means)


def evaluate_claim(cells: Sequence[dict], reference: Sequence[float], margin: float,
                   alpha: float = 0.05) -> dict:
  """The claim that ``reference`` is the best cell of ``cells``, on validation.

  Args:
    cells: grid cells, each with ``learning_rate``, ``momentum``,
      ``per_fold_validation_accuracy`` and ``per_fold_test_accuracy`` (one
      accuracy per fold, the same fold order for every cell; ``None`` where a
      fold diverged).
    reference: ``(learning_rate, momentum)`` of the cell under test; it must
      be one of ``cells``.
    margin: the equivalence margin in accuracy, declared before the run.
    alpha: each one-sided test's level (the interval is ``1 - 2 alpha``).

  Returns:
    A JSON-ready dict: ``reference``, ``rank`` and ``rank_by_test``,
    ``num_cells``, ``best`` (by validation) and ``best_by_test``,
    ``compared_with`` (``best`` or ``runner-up``), ``verdict``,
    ``comparison`` (validation) and ``comparison_on_test`` (shown beside),
    ``margin``, ``alpha``, ``folds``, ``power`` (the minimum detectable
    effect at 80 % power and the folds that would settle the margin),
    ``cells_equivalent_to_best`` / ``cells_worse_than_best`` (Holm),
    ``winners_curse`` and ``split``.
  """
  learning_rate, momentum = reference
  mine, (ranked, means) = _reference_and_ranking(cells, reference)
  by_test, test_means = _ranked(cells, "per_fold_test_accuracy")
  best = ranked[0]
  other = best if mine is not best else (ranked[1] if len(ranked) > 1 else None)
  pair = lambda c: [c["learning_rate"], c["momentum"]]
  folds = len(best["per_fold_validation_accuracy"])
  against = lambda cell, key: (None if means[id(mine)] is None or cell is None else
                               equivalence.compare(mine[key], cell[key], margin, alpha))
  comparison = against(other, "per_fold_validation_accuracy")
  verdict = "worse" if comparison is None and other is not None else (
      comparison["verdict"] if comparison else "inconclusive")
  std = comparison["std_difference"] if comparison else None
  return {
      "reference": [learning_rate, momentum], "num_cells": len(cells),
      "split": "validation (per fold); test shown beside",
      "rank": _rank(mine, ranked, means), "rank_by_test": _rank(mine, by_test, test_means),
      "reference_mean_validation_accuracy": means[id(mine)],
      "reference_mean_test_accuracy": test_means[id(mine)],
      "best": {**{k: best[k] for k in ("learning_rate", "momentum")},
               "mean_validation_accuracy": means[id(best)],
               "mean_test_accuracy": test_means[id(best)]},
      "best_by_test": {**{k: by_test[0][k] for k in ("learning_rate", "momentum")},
                       "mean_test_accuracy": test_means[id(by_test[0])]},
      "compared_with": "best" if other is best else "runner-up",
      "compared_cell": None if other is None else pair(other),
      "verdict": verdict, "margin": margin, "alpha": alpha, "folds": folds,
      "test": equivalence.TEST_NAME,
      "comparison": comparison,
      "comparison_on_test": against(other, "per_fold_test_accuracy"),
      "power": _power(std, folds, margin, alpha),
      **_family_against_best(ranked, margin, alpha),
      "winners_curse": WINNERS_CURSE,
  }


def _power(std, folds: int, margin: float, alpha: float):
  """The minimum detectable effect and the folds that would settle the margin, or None."""
  if std is None:
    return None
  return {"minimum_detectable_effect": equivalence.minimum_detectable_effect(std, folds, alpha),
          "folds_needed_for_margin": equivalence.pairs_needed(std, margin, alpha),
          "statement": "one-sided at alpha, 80 % power, at the observed spread (ddof 1)"}


def _family_against_best(ranked: list[dict], margin: float, alpha: float) -> dict:
  """Every other cell against the best on validation, Holm-corrected over the grid."""
  best = ranked[0]
  pair = lambda c: [c["learning_rate"], c["momentum"]]
  family = equivalence.corrected([
      equivalence.compare(c["per_fold_validation_accuracy"],
                          best["per_fold_validation_accuracy"], margin, alpha)
      for c in ranked[1:]])
  return {
      "correction": "holm over the grid's cells against the best (statsmodels multipletests)",
      "cells_equivalent_to_best": [pair(c) for c, f in zip(ranked[1:], family, strict=True)
                                   if f["corrected_verdict"] == "equivalent"],
      "cells_worse_than_best": sum(f["corrected_verdict"] == "worse" for f in family),
      "cells_no_spread_to_best": sum(f["verdict"] == "no spread" for f in family),
      "cells_compared": len(family),
  }


def top(cells: Sequence[dict], n: int) -> list[dict]:
  """The ``n`` cells with the highest mean validation accuracy over folds."""
  ranked, _ = _ranked(cells, "per_fold_validation_accuracy")
  return ranked[:n]


def _fmt(value, spec: str) -> str:
  return "n/a" if value is None else format(value, spec)


def describe(verdict: dict) -> list[str]:
  """The claim's verdict as Markdown bullet lines (every number from ``verdict``)."""
  reference, best = tuple(verdict["reference"]), verdict["best"]
  c, power = verdict["comparison"] or {}, verdict["power"] or {}
  on_test = verdict["comparison_on_test"] or {}
  interval = c.get("interval")
  lines = [
      f"- reference {reference}: rank {verdict['rank']} of {verdict['num_cells']} by mean "
      f"validation accuracy ({_fmt(verdict['reference_mean_validation_accuracy'], '.4f')}); "
      f"rank {verdict['rank_by_test']} by mean test accuracy "
      f"({_fmt(verdict['reference_mean_test_accuracy'], '.4f')}, shown beside, not used to "
      "choose)",
      f"- best on validation ({best['learning_rate']:g}, {best['momentum']:g}): "
      f"{_fmt(best['mean_validation_accuracy'], '.4f')} (test "
      f"{_fmt(best['mean_test_accuracy'], '.4f')}); best on test "
      f"({verdict['best_by_test']['learning_rate']:g}, "
      f"{verdict['best_by_test']['momentum']:g})",
      f"- **verdict: {verdict['verdict']}** at margin {verdict['margin']:g} (the reference "
      f"against the {verdict['compared_with']} {tuple(verdict['compared_cell'] or ())}, "
      f"paired over {verdict['folds']} fold(s) on validation accuracy; {verdict['test']}; "
      f"alpha {verdict['alpha']})",
      f"- difference {_fmt(c.get('mean_difference'), '+.4f')}, "
      f"{int(100 * (1 - 2 * verdict['alpha']))} % t-interval "
      + ("n/a" if interval is None else f"[{interval[0]:+.4f}, {interval[1]:+.4f}]")
      + f", TOST p {_fmt(c.get('p_equivalent'), '.3g')}"
      + (f" ({c['reason']})" if c.get("reason") else "")
      + f"; on test: {_fmt(on_test.get('mean_difference'), '+.4f')}, "
      f"{on_test.get('verdict', 'n/a')}",
  ]
  if power:
    needed = power["folds_needed_for_margin"]
    lines.append(f"- power: at the observed spread (estimated with {verdict['folds'] - 1} "
                 f"degree(s) of freedom) the folds detect a difference of "
                 f"{power['minimum_detectable_effect']:.4f} at 80 % power; an equivalence "
                 f"test would need about {'more than 100,000' if needed is None else needed}"
                 f" folds to show the margin {verdict['margin']:g} if the true difference "
                 "were zero, far more if it is near the margin")
  compared = verdict.get("cells_compared", verdict["num_cells"] - 1)
  lines += [f"- cells shown equivalent to the best ({verdict['correction']}): "
            f"{len(verdict['cells_equivalent_to_best'])}; shown worse: "
            f"{verdict['cells_worse_than_best']}; the same difference on every fold (no "
            f"spread): {verdict.get('cells_no_spread_to_best', 0)}; of {compared} cells "
            "compared (diverged cells left out)",
            f"- winner's curse: {verdict['winners_curse']}"]
  return lines


def markdown(learning_rates, momenta, cells: Sequence[dict], verdict: dict,
             references: dict, title: str) -> str:
  """The grid in the author's layout (rows: learning rates; columns: momenta) with the mean
  validation accuracy over folds and its ``ddof = 1`` std, the best cell on validation in
  bold, the reference starred, then the claim's verdict and the named pairs."""
  by_pair = {(c["learning_rate"], c["momentum"]): c for c in cells}
  best = (verdict["best"]["learning_rate"], verdict["best"]["momentum"])
  reference = tuple(verdict["reference"])

  def fmt(c):
    if c["mean_validation_accuracy"] is None:
      return "diverged"
    text = f"{c['mean_validation_accuracy']:.4f}"
    if c.get("std_validation_accuracy") is not None:
      text += f" ± {c['std_validation_accuracy']:.4f}"
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
  lines += ["", f"Mean validation accuracy over {verdict['folds']} fold(s) ± std over folds "
            "(ddof 1; a cell with a diverged run: the mean of the others, ranked as "
            f"diverged); **bold**: the best cell on validation; ★: the reference {reference}.",
            "", *describe(verdict), "",
            "Named constant sets trained beside the grid (same folds):", "",
            "| set | learning rate | momentum | mean validation accuracy | mean test accuracy "
            "| std of test over folds |",
            "|---|---|---|---|---|---|"]
  for name, entry in references.items():
    lines.append(f"| {name} | {entry['learning_rate']:.6g} | {entry['momentum']:.6g} | "
                 f"{_fmt(entry.get('mean_validation_accuracy'), '.4f')} | "
                 + ("diverged" if entry["mean_test_accuracy"] is None
                    else f"{entry['mean_test_accuracy']:.4f}")
                 + f" | {_fmt(entry['std_test_accuracy'], '.4f')} |")
  return "\n".join(lines) + "\n"
