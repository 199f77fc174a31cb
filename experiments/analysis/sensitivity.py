"""A finished suite's verdicts again, under a stricter level or on a subset of its seeds.

``python -m experiments.analysis.sensitivity SUITE_JSON [--alpha A] [--from-seed K]``
reads a ``suite.json`` and recomputes every workload's equivalence verdicts (the
suite's own :func:`suite_report.comparisons`: TOST and one-sided paired t-tests,
Holm-corrected over the workload's rows) with level ``--alpha`` instead of the suite's,
on the seeds from index ``--from-seed`` on. It trains nothing. Two uses:

- a second look at the data (more seeds after a first result) paid for by splitting
  alpha between the looks (``--alpha 0.025``);
- the verdicts on the seeds added after the first look alone (``--from-seed 3``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Optional

from . import suite_report

EXIT_USAGE = 2


def verdicts(document: dict, alpha: Optional[float] = None, from_seed: int = 0) -> dict:
  """``{workload: {optimizer: comparison}}`` recomputed from ``document`` (a suite.json).

  Args:
    document: the suite's ``suite.json``.
    alpha: each one-sided test's level; None: the suite's own.
    from_seed: the index of the first seed kept (per ``per_seed_test_accuracy``).

  Returns:
    Per workload, each row's comparison with the reference, as the suite's report has
    it (``corrected_verdict``, ``p_equivalent_holm``, ``p_better_holm``, ...).
  """
  alpha = document["config"]["alpha"] if alpha is None else alpha
  result = {}
  for workload in document["workloads"]:
    if workload.get("skipped"):
      continue
    rows = [dict(row, per_seed_test_accuracy=row["per_seed_test_accuracy"][from_seed:])
            for row in workload["rows"]]
    result[workload["name"]] = suite_report.comparisons(rows, workload["margin"], alpha)
  return result


def table(found: dict) -> str:
  """The verdicts as Markdown, one row per (workload, optimizer)."""
  shown = lambda p: "n/a" if p is None else f"{p:.4f}"
  lines = ["| workload | optimizer | verdict | n | Holm p equivalent | Holm p better | "
           "Holm p worse |", "|---|---|---|---|---|---|---|"]
  for name, rows in found.items():
    for optimizer, c in rows.items():
      lines.append(f"| {name} | {optimizer} | {c.get('corrected_verdict', c['verdict'])} | "
                   f"{c.get('n')} | {shown(c.get('p_equivalent_holm'))} | "
                   f"{shown(c.get('p_better_holm'))} | {shown(c.get('p_worse_holm'))} |")
  return "\n".join(lines) + "\n"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog=f"python -m {__package__}.sensitivity",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("suite_json", help="a finished suite's suite.json")
  parser.add_argument("--alpha", type=float, default=None,
                      help="each one-sided test's level (default: the suite's)")
  parser.add_argument("--from-seed", type=int, default=0,
                      help="keep the seeds from this index on (default: all)")
  args = parser.parse_args(argv)
  path = pathlib.Path(args.suite_json)
  try:
    document = json.loads(path.read_text())
    document["workloads"], document["config"]["alpha"]
  except (OSError, ValueError, KeyError, TypeError) as error:
    print(f"error: suite file '{path}': not a finished suite's suite.json "
          f"({type(error).__name__}: {error})", file=sys.stderr)
    return EXIT_USAGE
  if args.alpha is not None and not 0 < args.alpha < 0.5:
    print(f"error: --alpha: must be in (0, 0.5), got {args.alpha}", file=sys.stderr)
    return EXIT_USAGE
  seeds = len(document["config"]["seeds"])
  if not 0 <= args.from_seed <= seeds - 2:
    print(f"error: --from-seed: must leave at least two of the {seeds} seeds, got "
          f"{args.from_seed}", file=sys.stderr)
    return EXIT_USAGE
  print(table(verdicts(document, args.alpha, args.from_seed)), end="")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
