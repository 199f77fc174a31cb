"""Compare optimizers: ``python -m experiments.compare [CONFIG] [--set K=V] [--out DIR]``.

Trains the config's model on the same data, budget and seeds once per entry of
``compare.optimizers`` and writes ``comparison.json``, ``comparison.md`` and
``comparison.png``. Every finished run is kept in ``runs/`` as it ends: after a
signal (SIGTERM, SIGINT) the command stops once the run in flight is done, and
a rerun with the same ``--out`` skips the finished runs.
"""

from __future__ import annotations

import dataclasses
import statistics

from experiments import cli, optimizers, outputs, plots, stopping
from experiments.config import ExperimentConfig
from experiments.run import train_and_evaluate


def run_one(config: ExperimentConfig, optimizer, seed: int, dataset) -> dict:
  config = dataclasses.replace(
      config, optimizer=optimizer,
      train=dataclasses.replace(config.train, seed=seed, progress=False))
  try:
    return train_and_evaluate(config, dataset)
  except cli.Diverged as error:  # one optimizer diverging is a result, not a crash
    return {"status": "diverged", "reason": str(error)}


def summarize(optimizer, runs: list[dict]) -> dict:
  resolved = optimizers.resolve(optimizer)
  ok = [r for r in runs if r["status"] == "ok"]
  mean = lambda key: statistics.fmean(r[key] for r in ok) if ok else None
  accuracies = [r["test_accuracy"] for r in ok]
  return {
      "optimizer": resolved.label, "name": optimizer.name,
      "learning_rate": resolved.learning_rate, "momentum": resolved.momentum,
      "test_accuracy": mean("test_accuracy"),
      "test_accuracy_std": statistics.pstdev(accuracies) if ok else None,
      "test_loss": mean("test_loss"), "train_loss": mean("train_loss"),
      "wall_time_s": mean("wall_time_s"),
      "seeds": len(runs), "diverged": len(runs) - len(ok),
      "per_seed_test_accuracy": [r.get("test_accuracy") for r in runs],
  }


def markdown_table(rows: list[dict]) -> str:
  fmt = lambda v, spec: "n/a" if v is None else format(v, spec)
  lines = ["| optimizer | learning rate | momentum | test accuracy | std | test loss | "
           "final train loss | diverged | wall time (s) |",
           "|---|---|---|---|---|---|---|---|---|"]
  for r in rows:
    lines.append(
        f"| {r['optimizer']} | {fmt(r['learning_rate'], '.4g')} | {fmt(r['momentum'], '.4g')} "
        f"| {fmt(r['test_accuracy'], '.4f')} | {fmt(r['test_accuracy_std'], '.4f')} "
        f"| {fmt(r['test_loss'], '.4f')} | {fmt(r['train_loss'], '.4f')} "
        f"| {r['diverged']}/{r['seeds']} | {fmt(r['wall_time_s'], '.1f')} |")
  return "\n".join(lines) + "\n"


def compare(config: ExperimentConfig, dataset, out, stop=stopping.NEVER) -> list[dict]:
  """Every (optimizer, seed) run, each kept in ``out/runs`` as it ends; a rerun skips them."""
  store = outputs.ResultStore(out / "runs")
  total = len(config.compare.optimizers) * len(config.compare.seeds)
  rows, done = [], 0
  for i, optimizer in enumerate(config.compare.optimizers):
    runs = []
    for seed in config.compare.seeds:
      name = f"{i:02d}-{outputs.slug(optimizers.resolve(optimizer).label)}/seed{seed}"
      result = store.get(name)
      if result is None:
        result = store.put(name, run_one(config, optimizer, seed, dataset))
      runs.append(result)
      done += 1
      if done < total and stop.requested():
        raise stop.stop(f"after {done} of {total} runs: finished runs kept in {store.folder}; "
                        "run the same command again to resume")
    rows.append(summarize(optimizer, runs))
    print(f"{rows[-1]['optimizer']}: test_accuracy={rows[-1]['test_accuracy']}", flush=True)
  title = (f"{dataset.name} {config.model.name}, {config.loss.name} loss, "
           f"{config.train.epochs} epochs, seeds {list(config.compare.seeds)}")
  outputs.write_json(out / "comparison.json", {"title": title, "rows": rows,
                                               "versions": outputs.versions()})
  outputs.write_text(out / "comparison.md", f"{title}\n\n{markdown_table(rows)}")
  plots.comparison(rows, out / "comparison.png", title)
  return rows


def main(argv=None) -> int:
  args = cli.parser_for("python -m experiments.compare", __doc__).parse_args(argv)
  with cli.exit_codes(), stopping.GracefulStop() as stop:
    config, dataset, out = cli.start(args, "compare", "compare", "configs/compare_digits.yaml",
                                    stop=stop, kept=("runs",))
    rows = compare(config, dataset, out, stop)
    print(markdown_table(rows))
    print(f"written to {out}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
