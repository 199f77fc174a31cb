"""What the multi-run commands conclude from finished runs, computed, never typed.

- ``claim``: the author's claim on a grid (rank, ties with the best by a paired
  test over folds, ``scipy.stats``).
- ``scoring``: targets, steps to target, AlgoPerf performance profiles, verdicts.
- ``suite_report``: the workload suite's tables and ``suite.md``.
"""
