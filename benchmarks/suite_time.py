"""Wall time and peak memory of the workload suite, against its budget.

``python -m benchmarks.suite_time [--config FILE] [--set K=V ...] [--out DIR]
[--budget-s S] [--json]``

Runs ``python -m experiments.suite CONFIG --out DIR --force`` in a fresh
process, as a user runs it (from scratch: ``--force`` clears kept cells), and
reports its wall time, the peak resident memory of that process, the time each
workload spent on tuning and on training (from ``suite.json``), the load
average before and after (a suite timed beside other jobs is slower; the
figures say so), and whether the wall time is within ``--budget-s`` (default
3,600 s: the full suite's budget on a 2-core CPU). The default config is
``configs/suite.yaml``; it takes about 44 minutes on an idle 2-core CPU, so this
is a benchmark to run by hand, not part of ``benchmarks.all``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks import timing

DEFAULT_CONFIG = "configs/suite.yaml"
DEFAULT_BUDGET_S = 3600.0


class SuiteFailed(RuntimeError):
  """The suite exited non-zero; ``returncode`` is its exit code (2: a config mistake)."""

  def __init__(self, returncode: int, last_line: str):
    super().__init__(f"experiments.suite exited {returncode}: {last_line}")
    self.returncode = returncode


def workload_times(document: dict) -> list[dict]:
  """Per workload of a suite.json: seconds of each baseline's random search and of training
  its groups."""
  return [{"name": w["name"], "search_s": w["search_seconds"],
           "training_s": sum(g["wall_time_s"] for g in w["groups"]),
           "groups": len(w["groups"])} for w in document["workloads"]]


def summarize(document: dict, process_s: float, peak_rss_mib: float, budget_s: float) -> dict:
  """The benchmark's figures from a finished suite's document and its process's clock."""
  times = workload_times(document)
  return {"process_wall_s": process_s, "budget_s": budget_s,
          "within_budget": process_s <= budget_s,
          "suite_wall_time_s": document["wall_time_s"],
          "tuning_and_training_s": document["compute_time_s"],
          "peak_rss_mib": peak_rss_mib, "workloads": times,
          "skipped": [s["name"] for s in document["skipped"]],
          "seeds": document["config"]["seeds"], "versions": document["versions"]}


def run_suite(config: str, overrides, out: pathlib.Path) -> tuple[dict, float, float]:
  """(suite.json, process seconds, peak RSS in MiB) of one suite run in its own process."""
  command = [sys.executable, "-m", "experiments.suite", config, "--out", str(out), "--force"]
  command += [a for o in overrides for a in ("--set", o)]
  tic = time.perf_counter()
  # The suite's lines go to our stderr as they come (a long run shows its
  # progress) and stdout stays for the JSON document.
  with subprocess.Popen(command, cwd=timing.ROOT, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True) as process:
    last = "no output"
    for line in process.stdout:
      print(line, end="", file=sys.stderr, flush=True)
      last = line.strip() or last
  process_s = time.perf_counter() - tic
  if process.returncode != 0:
    raise SuiteFailed(process.returncode, last)
  # ru_maxrss (KiB on Linux) is the largest of all children waited for; from
  # the command line the suite is the only one
  peak_rss_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
  return json.loads((out / "suite.json").read_text()), process_s, peak_rss_mib


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", default=DEFAULT_CONFIG, help="a suite config")
  parser.add_argument("--set", dest="overrides", action="append", default=[],
                      metavar="KEY=VALUE", help="passed to experiments.suite")
  parser.add_argument("--out", type=pathlib.Path,
                      help="the suite's output folder, cleared first (default: a temporary one)")
  parser.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S)
  parser.add_argument("--json", action="store_true", help="print one JSON document")
  args = parser.parse_args(argv)
  config = pathlib.Path(args.config)
  config = config if config.is_file() else timing.ROOT / config  # the suite runs in ROOT
  if not config.is_file():
    parser.error(f"--config '{args.config}': no such file")
  load_before = os.getloadavg()
  with tempfile.TemporaryDirectory() as scratch:
    out = args.out if args.out is not None else pathlib.Path(scratch) / "suite"
    try:
      document, process_s, peak_rss_mib = run_suite(str(config.resolve()), args.overrides,
                                                    out.resolve())
    except SuiteFailed as failed:  # its own line is above; ours says what it was
      print(f"suite_time: {failed}", file=sys.stderr)
      raise SystemExit(2 if failed.returncode == 2 else 1) from None
  result = {"benchmark": "suite_time", "config": args.config, "overrides": args.overrides,
            **summarize(document, process_s, peak_rss_mib, args.budget_s),
            "cpu_count": os.cpu_count(), "load_average_before": list(load_before),
            "load_average_after": list(os.getloadavg()), "machine": timing.machine()}
  if args.json:
    print(json.dumps(result, indent=2))
  else:
    print(f"{args.config}: {process_s:.0f} s (budget {args.budget_s:.0f} s, "
          f"{'met' if result['within_budget'] else 'missed'}), peak RSS {peak_rss_mib:.0f} MiB")
    for t in result["workloads"]:
      print(f"  {t['name']}: tuning {t['tuning_s']:.0f} s, training {t['training_s']:.0f} s")
  return result


if __name__ == "__main__":
  main()
