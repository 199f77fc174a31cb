"""What the multi-run workflows share: the folds they train on and their titles."""

from __future__ import annotations

from typing import Literal, Optional

from ..config import ExperimentConfig

Section = Literal["compare", "sweep"]


def folds(config: ExperimentConfig, section: Section) -> Optional[list[int]]:
  """The folds every row or cell trains on: ``compare.folds`` or ``sweep.folds``, else
  all of ``dataset.folds``; None without ``dataset.folds`` (no cross-validation)."""
  if config.dataset.folds is None:
    return None
  return list(getattr(config, section).folds or range(config.dataset.folds))


def title(config: ExperimentConfig, dataset_name: str, section: Section) -> str:
  """A comparison's or a landscape's title: the data, the model, the budget and the
  seeds, and the folds where there are some."""
  chosen, seeds = folds(config, section), getattr(config, section).seeds
  if section == "compare":
    head = (f"{dataset_name} {config.model.name}, {config.loss.name} loss, "
            f"{config.train.epochs} epochs, seeds {list(seeds)}")
    tail = f", folds {chosen} of {config.dataset.folds}"
  else:
    head = f"{dataset_name} {config.model.name}, {config.train.epochs} epochs, {len(seeds)} seed(s)"
    tail = f", {len(chosen or ())} of {config.dataset.folds} folds"
  return head + (tail if config.dataset.folds else "")
