"""The workload suite: ``dualprocess-suite SUITE_CONFIG [--set K=V] [--out DIR] [--force]``.

Asks of every workload what the derived constants are worth in tuning trials
(``docs/methods.md``). Per workload and loss:

1. the training set is split once into a training part and a validation part
   (the user's own ``x_val``/``y_val`` where given); the test set is read only
   by the final runs;
2. each tuned baseline (a declared random-search space, ``search.spaces``)
   trains the same N trials as lanes of one compiled program, each scored by
   its final validation accuracy (``experiments/workflows/search.py``);
3. every optimizer of ``optimizers`` (the first is the reference: the derived
   pair) and the best trial of each baseline train on the training part with
   every seed, evaluated on validation (targets, steps to target, the best
   evaluation) and on the test set (reported);
4. from the trials: the expected best validation accuracy after k trials with
   its bootstrap band, and ``break_even_trials`` against the reference's mean
   validation accuracy (``experiments/analysis/tuning_curves.py``);
5. every optimizer against the reference by an equivalence test on final test
   accuracy, paired by seed, with the declared margin, Holm-corrected over the
   workload's family (``experiments/analysis/equivalence.py``).

A workload's target is its declared ``target`` or, when null, the suite's
``target_rule``: the best validation accuracy of any baseline trial, less
``target_slack``. Writes ``suite.json``, ``suite.md``, ``profile.png``,
``accuracy.png`` and one ``curves-<workload>.png`` per workload. Each finished
search and (workload, optimizer) group is kept in ``cells/`` as it ends, so a
rerun with the same ``--out`` skips it; a signal (SIGTERM, SIGINT) stops the
suite once the step in flight is done.
"""

from __future__ import annotations

from . import cli

# JAX, Optax, Flax (training), SciPy and statsmodels (the report's statistics) and
# matplotlib (plots) are imported where they are used: --help and a config mistake
# answer without them.

PLAN = ("print what the suite would cost before anything trains: per workload run its runs, "
        "epochs, examples, compilations and estimated time (from a short calibration on "
        "this machine), and the memory peak; trains nothing")
REPORT_ONLY = ("write suite.md and the plots of the finished suite in --out again from its "
               "suite.json, with this version's report; trains nothing")


def main(argv=None) -> int:
  args = cli.parse("suite", __doc__, argv, report_only=REPORT_ONLY,
                   default_config="none; a suite config, e.g. configs/suite_quick.yaml",
                   plan=PLAN)
  with cli.guarded() as stop:
    if args.plan:
      from . import api
      from .workflows import plan

      print(plan.table(api.plan_suite(args.config, args.overrides)))
      return 0
    if args.report_only:
      from .workflows import suite

      suite.rewrite_report(args.out, args.config, args.overrides)
      print(f"report written to {args.out}")
      return 0
    from . import api

    out = cli.out_folder(args, "suite")
    document = api.suite(args.config, args.overrides, out, force=args.force, stop=stop,
                         say=lambda line: print(line, flush=True))
    from .analysis import suite_markdown  # SciPy: only once there is a report

    print(suite_markdown.break_even_table(document))
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
