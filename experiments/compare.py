"""Compare optimizers: ``dualprocess-compare [CONFIG] [--set K=V] [--out DIR]``.

Trains the config's model on the same data, budget and seeds (and, with
``dataset.folds``, the same folds) once per entry of ``compare.optimizers``
and writes ``comparison.json``, ``comparison.md`` and ``comparison.png``.
Every row after the first is compared with the first over the matched (fold,
seed) runs by an equivalence test (TOST) with ``compare.margin``, declared in
the config: ``equivalent``, ``better``, ``worse`` or ``inconclusive``,
Holm-corrected over the rows (``docs/methods.md``).
Every finished run is kept in ``runs/`` as it ends: after a signal (SIGTERM,
SIGINT) the command stops once the run in flight is done, and a rerun with the
same ``--out`` skips the finished runs.
"""

from __future__ import annotations

from . import cli

# Optax (optimizers), SciPy and statsmodels (analysis) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.


def main(argv=None) -> int:
  args = cli.parse("compare", __doc__, argv)
  with cli.guarded() as stop:
    from . import api
    from .workflows.compare import markdown_table

    out = cli.out_folder(args, "compare")
    result = api.compare(args.config, args.overrides, out, force=args.force, stop=stop,
                         say=lambda line: print(line, flush=True))
    print(markdown_table(result["rows"]))
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
