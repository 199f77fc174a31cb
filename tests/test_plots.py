"""What the figures say: titles by the loss actually used, accuracy intervals within [0, 1]."""

from __future__ import annotations

import pytest

from experiments import plots

RECORDS = [{"step": s, "loss": 1.0 / s, "entropy": 0.4 / s, "divergence": 0.6 / s,
            "p_correct": 0.5, "test_accuracy": 0.9 if s == 4 else None} for s in (1, 2, 3, 4)]


@pytest.fixture
def drawn(monkeypatch):
  """The figures the plots module would save: ``[(fig, path)]``, kept open to read."""
  figures = []
  monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append((fig, path)))
  yield figures
  for fig, _ in figures:
    plots.plt.close(fig)


@pytest.mark.parametrize("loss, title, lines", [
    ("dual_process", "training loss (dual process) = entropy + divergence",
     ["loss", "entropy", "divergence"]),
    ("cross_entropy", "training loss: cross-entropy", ["cross-entropy"]),
])
def test_the_loss_panel_is_titled_by_the_loss_used(drawn, loss, title, lines):
  plots.curves(RECORDS, "curves.png", loss, 10, title="digits mlp")
  (fig, _), = drawn
  left = fig.axes[0]
  assert left.get_title() == title == plots.loss_title(loss)
  assert [line.get_label() for line in left.get_lines()][:len(lines)] == lines
  assert ("equilibrium" in " ".join(t.get_text() for t in left.get_legend().get_texts())) == (
      loss == "dual_process")


def test_an_accuracy_interval_past_one_is_clipped_with_a_note(drawn):
  assert plots.clip_interval((0.95, 1.03)) == ((0.95, 1.0), True)
  assert plots.clip_interval((-0.01, 0.4)) == ((0.0, 0.4), True)
  assert plots.clip_interval((0.2, 0.4)) == ((0.2, 0.4), False)
  workload = {"name": "w", "curves": {"tuned sgd": {
      "trials": 2, "expected_best_validation_accuracy": [0.9, 0.95], "band_low": [0.9, 0.9],
      "band_high": [0.97, 0.99], "break_even_trials": 2}},
      "rows": [{"label": "derived pair", "validation_accuracy": 0.99,
                "validation_accuracy_interval": [0.97, 1.01]}]}
  plots.tuning_curves(workload, "tuning.png")
  (fig, _), = drawn
  ax = fig.axes[0]
  labels = [t.get_text() for t in ax.get_legend().get_texts()]
  assert "derived pair (mean over seeds, 95 % CI, clipped to [0, 1])" in labels
  band = ax.patches[0]  # axhspan: a Rectangle (newer matplotlib) or a Polygon
  top = (band.get_y() + band.get_height() if hasattr(band, "get_height")
         else max(y for _, y in band.get_xy()))
  assert top == pytest.approx(1.0)
