"""Learning-rate x momentum landscapes: ``dualprocess-sweep [CONFIG] [--set K=V] [--out DIR]``.

Every cell (learning rate, momentum, seed, fold) is a lane of one compiled program
(``experiments/training/lanes.py``): a diverging cell turns its own lane non-finite
and no other. With ``dataset.folds`` every cell trains once per fold
(``sweep.folds``), each lane on its own training folds, validated on its own fold and
tested on the whole test set. Each cell's learning curve (every ``train.eval_every``
epochs) goes to ``cells/`` as ``metrics.jsonl`` and TensorBoard events. Writes
``sweep.json`` and ``landscape.png``, and with
``sweep.reference`` the claim that this cell is the best
(``docs/methods.md``) and ``grid.png``, the author's layout; each
finished chunk is kept in ``chunks/`` as it ends, so after a signal (SIGTERM, SIGINT;
the sweep stops once the chunk in flight is done) a rerun with the same ``--out`` goes
on from there.
"""

from __future__ import annotations

import sys

from . import cli

# JAX, Optax, Flax (models, training), SciPy (analysis) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.

REPORT_ONLY = ("compute the claim, grid.md and grid.png of the finished sweep in --out again "
               "from its sweep.json with this version's statistics; trains nothing")


def main(argv=None) -> int:
  args = cli.parse("sweep", __doc__, argv, report_only=REPORT_ONLY)
  with cli.guarded() as stop:
    if args.report_only:
      from .workflows import sweep

      sweep.rewrite_claim(args.out)
      print(f"claim written to {args.out}")
      return 0
    from . import api

    out = cli.out_folder(args, "sweep")
    result = api.sweep(args.config, args.overrides, out, force=args.force, stop=stop,
                       say=lambda line: print(line, file=sys.stderr, flush=True))
    print_result(result)
    print(f"written to {out}")
  return 0


def print_result(result: dict) -> None:
  """The named pairs, the best grid cell and, with a reference, the claim's verdict."""
  best = result["best_grid_cell"]
  for name, entry in result["references"].items():
    print(f"{name}: lr={entry['learning_rate']:.4g} m={entry['momentum']:.4g} "
          f"mean test accuracy={entry['mean_test_accuracy']}")
  if best:
    print(f"best grid cell: lr={best['learning_rate']:.4g} m={best['momentum']:.4g} "
          f"mean test accuracy={best['mean_test_accuracy']:.4f}")
  if "claim" in result:
    verdict = result["claim"]
    print(f"claim: reference {verdict['reference']} ranks {verdict['rank']} of "
          f"{verdict['num_cells']} on validation; against the {verdict['compared_with']}: "
          f"{verdict['verdict']} at margin {verdict['margin']:g} ({verdict['folds']} folds)")


if __name__ == "__main__":
  raise SystemExit(main())
