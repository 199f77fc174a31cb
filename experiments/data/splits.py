"""Which training examples a run learns from and which it validates on.

- ``stratified_subset``: a fraction of the training set, the same share of
  every class (scikit-learn's ``StratifiedShuffleSplit`` with one split, as
  the author's 50 % grid used).
- ``fold_assignment`` / ``fold_indices``: stratified k-fold cross-validation
  of the training set; fold ``i`` validates on the ``i``-th part and trains on
  the other ``k - 1``. Every fold has exactly ``N // k`` examples, so that the
  folds of a grid train as equal lanes of one vmapped program; the ``N mod k``
  examples left over (fewer than ``k``) are in no fold and used by none.

Everything is a function of the labels, the sizes and ``split_seed``, so every
optimizer, seed and cell of a study sees the same examples.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from ..config import DatasetConfig

_SUBSET_STREAM, _FOLD_STREAM = 0x5B5E7, 0xF01D  # streams of their own, apart from the split


def stratified_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
  """Sorted indices of ``round(fraction * n_c)`` random members of every class ``c``."""
  rng = np.random.default_rng([seed, _SUBSET_STREAM])
  chosen = []
  for label in np.unique(labels):
    members = np.flatnonzero(labels == label)
    chosen.append(rng.choice(members, size=int(round(fraction * len(members))),
                             replace=False))
  return np.sort(np.concatenate(chosen))


def fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
  """The fold of every example (``-1``: left over), stratified by class.

  The examples are ordered by class, randomly within each class, and dealt to
  the folds in turn, so each fold receives ``floor`` or ``ceil`` of ``n_c / k``
  members of every class ``c``. The ``N mod k`` last in that order (from the
  last class) are left over, so that every fold has ``N // k`` examples.
  """
  rng = np.random.default_rng([seed, _FOLD_STREAM])
  order = np.concatenate([rng.permutation(np.flatnonzero(labels == label))
                          for label in np.unique(labels)])
  assignment = np.full(len(labels), -1, np.int32)
  used = len(labels) // folds * folds
  assignment[order[:used]] = np.arange(used) % folds
  return assignment


class RunSplit(NamedTuple):
  """A run's training examples and, with folds, its validation fold (indices, sorted)."""

  train: np.ndarray
  validation: Optional[np.ndarray]
  fold: int


def fold_indices(labels: np.ndarray, folds: int, fold: int, seed: int) -> RunSplit:
  assignment = fold_assignment(labels, folds, seed)
  return RunSplit(np.flatnonzero((assignment >= 0) & (assignment != fold)).astype(np.int32),
                  np.flatnonzero(assignment == fold).astype(np.int32), fold)


def for_run(labels: np.ndarray, config: DatasetConfig, fold: Optional[int] = None) -> RunSplit:
  """The split of a run: all training examples, or fold ``fold`` (default ``config.fold``)."""
  if config.folds is None:
    return RunSplit(np.arange(len(labels), dtype=np.int32), None, 0)
  return fold_indices(labels, config.folds, config.fold if fold is None else fold,
                      config.split_seed)
