"""Optimizers compared on the same data and seeds: what ``dualprocess-compare`` does.

Trains the config's model on the same data, budget and seeds (and, with
``dataset.folds``, the same folds) once per entry of ``compare.optimizers``
and writes ``comparison.json``, ``comparison.md``, ``comparison.png`` (the bars) and
``curves.png`` (test accuracy over steps, a band over the seeds per row). Each run's
folder in ``runs/`` keeps its ``metrics.jsonl`` and TensorBoard events, so
``tensorboard --logdir OUT`` shows every row's and seed's learning curve.
Every row after the first is compared with the first over the matched (fold,
seed) runs by an equivalence test (TOST) with ``compare.margin``, declared in
the config: ``equivalent``, ``better``, ``worse`` or ``inconclusive``,
Holm-corrected over the rows (``experiments/analysis/equivalence.py``).
Every finished run is kept in ``runs/`` as it ends: after a signal (SIGTERM,
SIGINT) the command stops once the run in flight is done, and a rerun with the
same ``--out`` skips the finished runs.
"""

from __future__ import annotations

import dataclasses
import pathlib
import statistics

from .. import outputs
from ..config import ExperimentConfig
from ..errors import Diverged
from ..training import stopping
from . import common
from .run import train_and_evaluate

# Optax (optimizers), SciPy and statsmodels (analysis) and matplotlib (plots) are
# imported where they are used: --help and a config mistake answer without them.

PAIRED_TEST = ("paired t-test, two-sided, over the matched (fold, seed) runs: "
               "scipy.stats.ttest_rel(row, first row)")


def folds(config: ExperimentConfig) -> list:
  """The folds every optimizer trains on; ``[None]`` without ``dataset.folds``."""
  return common.folds(config, "compare") or [None]


def run_one(config: ExperimentConfig, optimizer, seed: int, dataset, fold=None,
            folder=None) -> dict:
  """One (optimizer, seed, fold) run; with ``folder``, its ``metrics.jsonl`` and TensorBoard
  events written there (no checkpoints: a run cut short is rerun whole; its summary is
  the comparison's ``runs/NAME.json``)."""
  config = dataclasses.replace(
      config, optimizer=optimizer,
      train=dataclasses.replace(config.train, seed=seed, progress=False),
      dataset=(config.dataset if fold is None
               else dataclasses.replace(config.dataset, fold=fold)))
  if folder is not None:
    pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
  try:
    result = train_and_evaluate(config, dataset, folder, checkpoints=False)
  except Diverged as error:  # one optimizer diverging is a result, not a crash
    result = {"status": "diverged", "reason": str(error)}
  return dict(result, seed=seed, fold=fold)


def summarize(optimizer, runs: list[dict], reference_runs=None, margin: float = 0.005,
              alpha: float = 0.05) -> dict:
  """One row: means and spread over the runs, and the paired test against the reference's."""
  from ..training import optimizers
  resolved = optimizers.resolve(optimizer)
  ok = [r for r in runs if r["status"] == "ok"]
  mean = lambda key: statistics.fmean(r[key] for r in ok) if ok else None
  accuracies = [r["test_accuracy"] for r in ok]
  row = {
      "optimizer": resolved.label, "name": optimizer.name,
      "learning_rate": resolved.learning_rate, "momentum": resolved.momentum,
      "test_accuracy": mean("test_accuracy"),
      "test_accuracy_std": statistics.stdev(accuracies) if len(ok) > 1 else None,
      "test_loss": mean("test_loss"), "train_loss": mean("train_loss"),
      "wall_time_s": mean("wall_time_s"),
      "seeds": len({r.get("seed") for r in runs}), "runs": len(runs),
      "diverged": len(runs) - len(ok),
      "per_seed_test_accuracy": [r.get("test_accuracy") for r in runs],
  }
  if any(r.get("fold") is not None for r in runs):
    row.update(folds=sorted({r["fold"] for r in runs}),
               validation_accuracy=mean("validation_accuracy"),
               per_run=[{k: r.get(k) for k in ("fold", "seed", "test_accuracy",
                                               "validation_accuracy")} for r in runs])
  if reference_runs is not None:
    row["vs_first"] = paired_difference(runs, reference_runs, margin, alpha)
  return row


def paired_difference(runs: list[dict], reference_runs: list[dict], margin: float = 0.005,
                      alpha: float = 0.05) -> dict:
  """Mean test-accuracy difference to the reference over matched (fold, seed) runs, and
  the paired t-test's p-value (None below two pairs)."""
  from ..analysis import claim, equivalence
  key = lambda r: (r.get("fold"), r.get("seed"))
  theirs = {key(r): r["test_accuracy"] for r in reference_runs if r["status"] == "ok"}
  pairs = [(r["test_accuracy"], theirs[key(r)]) for r in runs
           if r["status"] == "ok" and key(r) in theirs]
  equivalent = (equivalence.compare([a for a, _ in pairs], [b for _, b in pairs], margin, alpha)
                if len(pairs) == len(runs) else
                {"verdict": "inconclusive", "reason": "a diverged run leaves no pair",
                 "p_equivalent": None, "p_better": None, "p_worse": None, "alpha": alpha,
                 "margin": margin, "interval": None})
  return {**claim.paired_difference(pairs), "test": PAIRED_TEST, "equivalence": equivalent}


def _verdict(paired: dict) -> str:
  """The Holm-corrected equivalence verdict with its 90 % interval in points."""
  if not paired:
    return "reference"
  verdict = paired["equivalence"]
  if verdict["verdict"] == "no spread":
    return f"no spread ({100 * paired['mean_difference']:+.2f})"
  interval = verdict.get("interval")
  shown = "" if interval is None else f" [{100 * interval[0]:+.2f}, {100 * interval[1]:+.2f}]"
  return verdict.get("corrected_verdict", verdict["verdict"]) + shown


def markdown_table(rows: list[dict]) -> str:
  fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
  margin = next((r["vs_first"]["equivalence"]["margin"] for r in rows if r.get("vs_first")),
                None)
  lines = ["| optimizer | learning rate | momentum | test accuracy | std (ddof 1) | "
           "difference to the first row | vs the first row: verdict [90 % CI, points]"
           + (f", margin {100 * margin:g} pt" if margin is not None else "")
           + " | test loss | final train loss | diverged | wall time (s) |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    paired = r.get("vs_first") or {}
    lines.append(
        f"| {r['optimizer']} | {fmt(r['learning_rate'], '.6g')} | {fmt(r['momentum'], '.6g')} "
        f"| {fmt(r['test_accuracy'], '.4f')} | {fmt(r['test_accuracy_std'], '.4f')} "
        f"| {fmt(paired.get('mean_difference'), '+.4f')} | {_verdict(paired)} "
        f"| {fmt(r['test_loss'], '.4f')} | {fmt(r['train_loss'], '.4f')} "
        f"| {r['diverged']}/{r['runs']} | {fmt(r['wall_time_s'], '.1f')} |")
  return "\n".join(lines) + "\n"


def compare(config: ExperimentConfig, dataset, out, stop=stopping.NEVER,
            say=print) -> list[dict]:
  """Every (optimizer, seed) run, each kept in ``out/runs`` as it ends; a rerun skips them.
  ``say`` gets a line as each row ends (None: silent)."""
  from .. import plots
  from ..analysis import equivalence
  rows, names = train_rows(config, dataset, out, stop, say or (lambda line: None))
  corrected = equivalence.corrected([r["vs_first"]["equivalence"] for r in rows[1:]])
  for row, verdict in zip(rows[1:], corrected, strict=True):
    row["vs_first"]["equivalence"] = verdict
  title = common.title(config, dataset.name, "compare")
  outputs.write_json(out / "comparison.json", {"title": title, "rows": rows,
                                               "versions": outputs.versions()})
  outputs.write_text(out / "comparison.md", f"{title}\n\n{markdown_table(rows)}")
  plots.comparison(rows, out / "comparison.png", title)
  plots.compare_curves({row["optimizer"]: [outputs.read_jsonl(out / "runs" / name
                                                              / "metrics.jsonl")
                                           for name in row_names]
                        for row, row_names in zip(rows, names, strict=True)},
                       out / "curves.png", title)
  return rows


def train_rows(config: ExperimentConfig, dataset, out, stop, say) -> tuple[list, list]:
  """``(rows, names)``: each optimizer's row (its runs trained, or found finished in
  ``out/runs``) and its runs' names there, the runs' folders and result files."""
  from ..training import optimizers, tensorboard_log
  store = tensorboard_log.store(out / "runs", out, "compare")  # and TensorBoard's, if it can
  chosen = [(fold, seed) for fold in folds(config) for seed in config.compare.seeds]
  total = len(config.compare.optimizers) * len(chosen)
  rows, names, done, first_runs = [], [], 0, None
  for i, optimizer in enumerate(config.compare.optimizers):
    runs, names_of_row = [], []
    for fold, seed in chosen:
      name = (f"{i:02d}-{outputs.slug(optimizers.resolve(optimizer).label)}/"
              + (f"seed{seed}" if fold is None else f"fold{fold}-seed{seed}"))
      result = store.get(name)
      if result is None:
        result = store.put(name, run_one(config, optimizer, seed, dataset, fold,
                                         store.folder / name))
      runs.append(result)
      names_of_row.append(name)
      done += 1
      if done < total and stop.requested():
        raise stop.stop(f"after {done} of {total} runs: finished runs kept in {store.folder}; "
                        "run the same command again to resume")
    rows.append(summarize(optimizer, runs, first_runs, config.compare.margin,
                          config.compare.alpha))
    names.append(names_of_row)
    first_runs = first_runs or runs
    accuracy = rows[-1]["test_accuracy"]
    say(f"{rows[-1]['optimizer']}: test_accuracy="
        + ("n/a (every run diverged)" if accuracy is None else f"{accuracy:.4f}"))
  return rows, names
