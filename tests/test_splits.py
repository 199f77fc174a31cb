"""Stratified subsets and folds: disjoint, stratified, deterministic, equal-sized."""

import numpy as np
import pytest

from experiments.config import DatasetConfig
from experiments.data import splits

# Unbalanced classes whose sizes are not multiples of the fold count.
LABELS = np.repeat(np.arange(4), [103, 57, 81, 60]).astype(np.int32)
np.random.default_rng(3).shuffle(LABELS)


def test_folds_partition_the_training_set_into_equal_stratified_parts():
  k = 10
  assignment = splits.fold_assignment(LABELS, k, seed=0)
  assert np.array_equal(assignment, splits.fold_assignment(LABELS, k, seed=0))
  assert not np.array_equal(assignment, splits.fold_assignment(LABELS, k, seed=1))
  assert np.sum(assignment < 0) == len(LABELS) % k  # the leftover, used by no fold
  validations, per_class = [], []
  for fold in range(k):
    split = splits.fold_indices(LABELS, k, fold, seed=0)
    assert len(split.validation) == len(LABELS) // k  # every fold the same size
    assert len(split.train) == (k - 1) * (len(LABELS) // k)
    assert not set(split.train) & set(split.validation)  # disjoint
    assert np.all(assignment[split.validation] == fold)
    per_class.append(np.bincount(LABELS[split.validation], minlength=4))
    validations.append(split.validation)
  per_class = np.array(per_class)  # [fold, class]
  # Stratified: a class's members are spread over the folds as evenly as possible.
  assert np.all(per_class.max(0) - per_class.min(0) <= 1)
  for label in range(4):
    assert abs(per_class[:, label].mean() - np.sum(LABELS == label) / k) < 1
  every = np.concatenate(validations)
  assert len(set(every)) == len(every)  # each example validates in one fold at most


def test_stratified_subset_keeps_each_class_share():
  subset = splits.stratified_subset(LABELS, 0.5, seed=0)
  assert np.array_equal(subset, splits.stratified_subset(LABELS, 0.5, seed=0))
  assert len(set(subset)) == len(subset) and np.all(np.diff(subset) > 0)
  for label in range(4):
    assert np.sum(LABELS[subset] == label) == round(0.5 * np.sum(LABELS == label))


def test_a_run_without_folds_trains_on_everything():
  split = splits.for_run(LABELS, DatasetConfig())
  assert np.array_equal(split.train, np.arange(len(LABELS))) and split.validation is None
  fold3 = splits.for_run(LABELS, DatasetConfig(folds=5, fold=3))
  assert fold3.fold == 3 and len(fold3.validation) == len(LABELS) // 5
  assert np.array_equal(splits.for_run(LABELS, DatasetConfig(folds=5), fold=3).validation,
                        fold3.validation)


@pytest.mark.parametrize("overrides, message", [
    ({"folds": 1}, "'dataset.folds': must be an integer >= 2"),
    ({"folds": 5, "fold": 5}, "'dataset.fold': must lie in 0..4"),
    ({"fold": 2}, "'dataset.fold': needs dataset.folds"),
    ({"train_fraction": 0.0}, "'dataset.train_fraction': must lie in (0.0, 1.0]"),
    ({"name": "mnist1d", "scale": "symmetric"}, "'dataset.scale': 'symmetric' maps pixels"),
])
def test_bad_split_keys_are_one_line(overrides, message):
  from experiments import config as config_lib
  with pytest.raises(config_lib.ConfigError) as info:
    config_lib.build(config_lib.DatasetConfig, overrides, "dataset")
  assert message in str(info.value) and "\n" not in str(info.value)
