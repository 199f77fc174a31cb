"""Figures: training curves, comparison bars, the learning-rate x momentum landscape and grid."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.patches
import matplotlib.ticker

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dualprocess import theory  # noqa: E402

from . import outputs  # noqa: E402


def _save(fig, path) -> None:
  try:
    outputs.write_file(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
  finally:
    plt.close(fig)


def loss_title(loss_name: str) -> str:
  """The loss panel's title: the loss the run trained with. Only the dual-process loss is
  plotted as its two processes; cross-entropy against one-hot labels has zero target
  entropy, so it is its divergence, and one line."""
  if loss_name == "dual_process":
    return "training loss (dual process) = entropy + divergence"
  return f"training loss: {loss_name.replace('_', '-')}"


def curves(records, path, loss_name: str, num_classes: int, title: str = "") -> None:
  """The training loss (under ``dual_process`` split into entropy and divergence, with the
  equilibrium floor), test accuracy."""
  fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
  steps = [r["step"] for r in records]
  if loss_name == "dual_process":
    for key, style in (("loss", "-"), ("entropy", "--"), ("divergence", ":")):
      left.plot(steps, [r.get(key) for r in records], style, label=key)
    floor = theory.equilibrium_target_entropy(num_classes)
    left.axhline(floor, color="goldenrod", lw=1,
                 label=f"equilibrium floor H(t_y) = {floor:.4f}")
  else:
    left.plot(steps, [r.get("loss") for r in records], "-", label=loss_name.replace("_", "-"))
  left.set(xlabel="step", ylabel="nats", title=loss_title(loss_name))
  left.legend(fontsize=8)
  tested = [r for r in records if r.get("test_accuracy") is not None]
  right.plot([r["step"] for r in tested], [r["test_accuracy"] for r in tested], "o-",
             label="test accuracy")
  right.plot(steps, [r.get("p_correct") for r in records], alpha=0.5,
             label="train: mean p(correct)")
  right.axhline(theory.equilibrium_probability(), color="goldenrod", lw=1,
                label="1/phi")
  right.set(xlabel="step", ylim=(0, 1.01), title="accuracy")
  right.legend(fontsize=8)
  fig.suptitle(title)
  fig.tight_layout()
  _save(fig, path)


def comparison(rows, path, title: str = "") -> None:
  """Mean test accuracy per optimizer, with the spread over seeds."""
  fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
  labels = [r["optimizer"] for r in rows]
  means = [r["test_accuracy"] or 0.0 for r in rows]
  stds = [r["test_accuracy_std"] or 0.0 for r in rows]
  y = np.arange(len(rows))
  ax.barh(y, means, xerr=stds, color=["goldenrod" if r.get("name") == "dual_process"
                                      else "steelblue" for r in rows])
  ax.set_yticks(y, labels, fontsize=8)
  ax.invert_yaxis()
  low = min(means) if means else 0.0
  ax.set(xlabel="test accuracy (mean over seeds)", xlim=(max(0.0, low - 0.1), 1.0))
  ax.set_title(title, fontsize=9, wrap=True)  # long titles wrap instead of being cut off
  fig.tight_layout()
  _save(fig, path)


def compare_curves(rows: dict, path, title: str = "") -> None:
  """Test accuracy over steps per row of a comparison: the mean over its runs (seeds,
  folds) as a line, their lowest to highest as a band. ``rows``: the row's label to its
  runs' ``metrics.jsonl`` records (a run without any, kept by an older version, is left
  out)."""
  fig, ax = plt.subplots(figsize=(8, 4.5))
  colors = plt.get_cmap("tab10")
  for i, (label, runs) in enumerate(rows.items()):
    by_step: dict[int, list] = {}
    for records in runs:
      for r in records:
        if r.get("test_accuracy") is not None:
          by_step.setdefault(r["step"], []).append(r["test_accuracy"])
    if not by_step:
      continue
    steps = sorted(by_step)
    values = [by_step[s] for s in steps]
    color = colors(i % 10)
    ax.plot(steps, [float(np.mean(v)) for v in values], "o-", ms=3, color=color,
            label=f"{label} ({len(runs)} runs)")
    ax.fill_between(steps, [min(v) for v in values], [max(v) for v in values], color=color,
                    alpha=0.2)
  ax.set(xlabel="step", ylabel="test accuracy (line: mean; band: lowest to highest run)",
         ylim=(None, 1.0))
  ax.set_title(title, fontsize=9, wrap=True)
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  _save(fig, path)


def landscape(learning_rates, momenta, accuracy, path, marks, title: str = "") -> None:
  """Heatmap of mean test accuracy over learning rate x momentum; NaN cells diverged.

  Momenta are shown as evenly spaced rows (0.9, 0.95 and 0.99 would otherwise
  be slivers); marked pairs between rows are placed by linear interpolation.
  """
  fig, ax = plt.subplots(figsize=(8, 5))
  grid = np.ma.masked_invalid(np.asarray(accuracy, float))  # [momenta, learning rates]
  cmap = plt.get_cmap("viridis").with_extremes(bad="lightgrey")
  log_lr = np.log10(learning_rates)
  rows = np.arange(len(momenta))
  mesh = ax.pcolormesh(_edges(log_lr), _edges(rows), grid, cmap=cmap, shading="flat")
  for (i, j), value in np.ndenumerate(np.asarray(accuracy, float)):
    ax.text(log_lr[j], rows[i], "div" if np.isnan(value) else f"{value:.2f}", ha="center",
            va="center", fontsize=7, color="white" if not value > 0.6 else "black")
  fig.colorbar(mesh, ax=ax, label="mean test accuracy (grey: diverged)")
  for label, (lr, m), marker in marks:
    y = np.interp(m, momenta, rows) if len(momenta) > 1 else 0.0
    ax.plot(math.log10(lr), y, marker, ms=12, mec="white", mew=1.5, label=label)
  ax.set_yticks(rows, [f"{m:g}" for m in momenta])
  ax.set(xlabel="log10 learning rate", ylabel="momentum", title=title)
  ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
  fig.tight_layout()
  _save(fig, path)


def grid(learning_rates, momenta, accuracy, path, claim: dict, top, title: str = "") -> None:
  """The author's layout: rows = learning rates, columns = momenta, lighter = better.

  Each square shows the mean validation accuracy over folds; the ten best
  squares are outlined thin, the best one thick, the claimed reference is
  marked with a star, and the cells shown equivalent to the best (TOST, Holm)
  are dotted.
  """
  table = np.asarray(accuracy, float).T  # [learning rates, momenta]
  fig, ax = plt.subplots(figsize=(1.0 * len(momenta) + 3, 0.6 * len(learning_rates) + 2))
  finite = table[np.isfinite(table)]
  # The scale starts at the median: the better half is told apart, the rest is dark.
  low = float(np.median(finite)) if finite.size else 0.0
  image = ax.imshow(np.ma.masked_invalid(table), cmap=plt.get_cmap("Greys_r").with_extremes(
      bad="mistyrose"), vmin=low, vmax=finite.max() if finite.size else 1.0, aspect="auto")
  for (i, j), value in np.ndenumerate(table):
    ax.text(j, i, "div" if np.isnan(value) else f"{value:.4f}", ha="center", va="center",
            fontsize=7, color="black" if value >= (low + (finite.max() if finite.size else 1))
            / 2 else "white")

  def square(lr, m, **style):
    i = int(np.argmin(np.abs(np.log(learning_rates) - math.log(lr))))
    j = int(np.argmin(np.abs(np.asarray(momenta) - m)))
    ax.add_patch(matplotlib.patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, **style))
    return i, j

  tied = {tuple(pair) for pair in claim["cells_equivalent_to_best"]}
  for lr, m in tied:
    square(lr, m, edgecolor="tab:blue", lw=1.2, ls=":")
  for lr, m in top:
    square(lr, m, edgecolor="tab:orange", lw=1.5)
  best = claim["best"]
  square(best["learning_rate"], best["momentum"], edgecolor="tab:red", lw=3)
  i, j = square(*claim["reference"], edgecolor="none")
  ax.plot(j + 0.36, i - 0.3, "*", color="gold", mec="black", ms=11)
  fig.colorbar(image, ax=ax, label="mean validation accuracy over folds")
  ax.set_xticks(range(len(momenta)), [f"{m:g}" for m in momenta])
  ax.set_yticks(range(len(learning_rates)), [f"{lr:g}" for lr in learning_rates])
  ax.set(xlabel="momentum", ylabel="learning rate", title=title)
  ax.set_title(f"{title}\nreference {tuple(claim['reference'])} (star): rank "
               f"{claim['rank']} of {claim['num_cells']} on validation, {claim['verdict']} "
               f"at margin {claim['margin']:g}; red: best, orange: top ten, dotted: "
               "equivalent to best", fontsize=8)
  fig.tight_layout()
  _save(fig, path)


def _edges(centers: np.ndarray) -> np.ndarray:
  centers = np.asarray(centers, float)
  if len(centers) == 1:
    return np.array([centers[0] - 0.5, centers[0] + 0.5])
  mid = (centers[1:] + centers[:-1]) / 2
  return np.concatenate([[2 * centers[0] - mid[0]], mid, [2 * centers[-1] - mid[-1]]])


def performance_profile(profile: dict, path, title: str = "") -> None:
  """rho(tau) per optimizer on a log tau axis (AlgoPerf's performance profile)."""
  fig, ax = plt.subplots(figsize=(8, 4.5))
  taus = profile["taus"]
  # More optimizers than the default cycle's 10 colors: every line its own color and dash.
  colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(1, len(profile["optimizers"]))))
  for i, (name, entry) in enumerate(profile["optimizers"].items()):
    if entry["rho"]:
      ax.step(taus, entry["rho"], where="post", color=colors[i], ls=("-", "--", "-.", ":")[i % 4],
              lw=1.6, label=f"{name} ({entry['score']:.3f})")
  ax.set_xscale("log")
  ax.set_xticks([1, 1.5, 2, 3, 4], ["1", "1.5", "2", "3", "4"])
  ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
  ax.set(xlabel=f"tau ({profile['measure']} / best's)", ylabel="fraction of workloads",
         ylim=(-0.02, 1.02), xlim=(1, profile["max_ratio"]), title=title)
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  fig.tight_layout()
  _save(fig, path)


def suite_accuracy(workloads, path) -> None:
  """Final test accuracy per workload and optimizer, with the spread over seeds (ddof 1)."""
  names = [r["optimizer"] for w in workloads for r in w["rows"]]
  optimizers = list(dict.fromkeys(names))
  fig, axes = plt.subplots(1, max(1, len(workloads)), squeeze=False,
                           figsize=(3.2 * max(1, len(workloads)), 0.3 * len(optimizers) + 2))
  colors = plt.get_cmap("tab20")(np.linspace(0, 1, max(1, len(optimizers))))
  for ax, workload in zip(axes[0], workloads, strict=False):
    rows = {r["optimizer"]: r for r in workload["rows"]}
    for i, name in enumerate(optimizers):
      row = rows.get(name)
      if row is None or row["test_accuracy"] is None:
        continue
      ax.barh(i, row["test_accuracy"], xerr=row["test_accuracy_std"], color=colors[i])
    means = [r["test_accuracy"] for r in workload["rows"] if r["test_accuracy"] is not None]
    ax.set(xlim=(max(0.0, min(means, default=0.0) - 0.05), 1.0),
           title=workload["name"], xlabel="test accuracy")
    ax.set_yticks(range(len(optimizers)), optimizers if ax is axes[0][0] else [], fontsize=7)
    ax.invert_yaxis()
  fig.tight_layout()
  _save(fig, path)


def tuning_curves(workload: dict, path) -> None:
  """Expected best validation accuracy after k random-search trials, one line per baseline
  with its bootstrap band, and the reference's mean validation accuracy with its 95 %
  t-interval as a horizontal band (Dodge et al. 2019's plot)."""
  fig, ax = plt.subplots(figsize=(6.5, 4))
  colors = plt.get_cmap("tab10")
  for i, (label, curve) in enumerate(workload["curves"].items()):
    ks = np.arange(1, curve["trials"] + 1)
    ax.plot(ks, curve["expected_best_validation_accuracy"], color=colors(i), lw=1.8,
            label=f"{label} (break-even {curve['break_even_trials'] or '> N'})")
    ax.fill_between(ks, curve["band_low"], curve["band_high"], color=colors(i), alpha=0.15)
  reference = workload["rows"][0]
  if reference["validation_accuracy"] is not None:
    interval = reference["validation_accuracy_interval"] or (
        reference["validation_accuracy"],) * 2
    (low, high), clipped = clip_interval(interval)
    ax.axhspan(low, high, color="gold", alpha=0.3)
    note = ", clipped to [0, 1]" if clipped else ""
    ax.axhline(reference["validation_accuracy"], color="darkgoldenrod", lw=1.5,
               label=f"{reference['label']} (mean over seeds, 95 % CI{note})")
  ax.set_xscale("log", base=2)
  ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
  ax.set(xlabel="random-search trials k", ylabel="expected best validation accuracy",
         title=f"{workload['name']}: what tuning buys", xlim=(1, None))
  ax.legend(fontsize=7, loc="lower right")
  fig.tight_layout()
  _save(fig, path)


def clip_interval(interval) -> tuple[tuple[float, float], bool]:
  """``((low, high), clipped)``: an accuracy's interval cut to [0, 1], where an accuracy
  lies, and whether it had to be (a t-interval of a few seeds near 1 can reach past it)."""
  low, high = (float(v) for v in interval)
  clipped = low < 0.0 or high > 1.0
  return (max(0.0, low), min(1.0, high)), clipped


def transfer(document: dict, path) -> None:
  """A transfer study: final test accuracy against the varied value, one panel per
  workload, one line per row with its 95 % t-interval over seeds as a band (clipped to
  [0, 1]), the reference value marked."""
  vary = document["vary"]
  workloads = document["workloads"]
  fig, axes = plt.subplots(1, max(1, len(workloads)), squeeze=False,
                           figsize=(5.2 * max(1, len(workloads)), 4))
  colors = {"re-tuned sgd": "tab:blue", "derived pair": "darkgoldenrod",
            "transferred sgd": "tab:green"}
  for ax, workload in zip(axes[0], workloads, strict=False):
    values = [p[vary] for p in workload["points"]]
    for row, color in colors.items():
      found = [next(r for r in p["rows"] if r["row"] == row) for p in workload["points"]]
      means = np.array([np.nan if r["test_accuracy"] is None else r["test_accuracy"]
                        for r in found])
      bands = [clip_interval(r["test_accuracy_interval"])[0] if r["test_accuracy_interval"]
               else (m, m) for r, m in zip(found, means, strict=True)]
      ax.plot(values, means, "o-", color=color, lw=1.6, label=row)
      ax.fill_between(values, [b[0] for b in bands], [b[1] for b in bands], color=color,
                      alpha=0.18)
    ax.axvline(document["reference"], color="grey", lw=0.8, ls=":",
               label=f"tuned at {document['reference']}")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.set_xticks(values, [str(v) for v in values], fontsize=7)
    ax.set(xlabel=vary.replace("_", " "), ylabel="final test accuracy (95 % CI, clipped)",
           title=f"{workload['name']}, {workload['epochs']} epochs")
    ax.legend(fontsize=7, loc="best")
  fig.tight_layout()
  _save(fig, path)
