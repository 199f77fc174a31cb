"""Transfer studies: ``dualprocess-transfer STUDY_CONFIG [--set K=V] [--out DIR] [--force]``.

Does a fixed learning rate hold when the batch or the data changes? A study varies the
batch size (at a fixed epoch budget) or the number of training examples (nested subsets,
a fixed validation split) and, at every value, trains on the same seeds:

1. the derived pair, unchanged;
2. the SGD tuned once, at the reference value, by a random search of N trials over its
   learning rate and momentum (each trial on seeds of its own, scored on validation),
   transferred unchanged;
3. SGD with its learning rate re-tuned at this value by a random search of the same N,
   its momentum the tuned one.

Each row is compared with the re-tuned one on final test accuracy, paired by seed, by
an equivalence test at the declared margin (TOST), Holm-corrected over the workload's
family (``docs/methods.md``). Writes ``transfer.json`` (the values under
``batch_sizes`` or ``train_sizes``; every result with its ``epochs`` and
``train_examples``), ``transfer.md`` and ``transfer.png``. Each finished search and
group is kept in ``cells/`` as it ends, so the same command resumes; a signal (SIGTERM,
SIGINT) stops the study once the step in flight is done.
"""

from __future__ import annotations

from . import cli

PLAN = ("print what the study would cost before anything trains: per workload and value "
        "its runs, epochs, examples, compilations and estimated time (from a short "
        "calibration on this machine), and the memory peak; trains nothing")
REPORT_ONLY = ("write transfer.md and transfer.png of the finished study in --out again "
               "from its transfer.json, with this version's report; trains nothing")


def main(argv=None) -> int:
  args = cli.parse("transfer", __doc__, argv, report_only=REPORT_ONLY,
                   default_config="none; a study config, e.g. configs/transfer_quick.yaml",
                   plan=PLAN)
  with cli.guarded() as stop:
    from . import api

    if args.plan:
      from .workflows import plan

      print(plan.table(api.plan_transfer(args.config, args.overrides)))
      return 0
    if args.report_only:
      from .workflows import transfer

      transfer.rewrite_report(args.out)
      print(f"report written to {args.out}")
      return 0
    out = cli.out_folder(args, "transfer")
    document = api.transfer(args.config, args.overrides, out, force=args.force, stop=stop,
                            say=lambda line: print(line, flush=True))
    from .analysis import transfer_report

    for workload in document["workloads"]:
      print(transfer_report.holds_and_breaks(workload, document["vary"]))
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
