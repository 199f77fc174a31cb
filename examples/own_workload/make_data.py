"""Writes the example's data sets as ``.npz`` files, from data that ship with scikit-learn.

Nothing is downloaded: scikit-learn embeds these tables in its wheel.

- ``breast_cancer.npz``: the Wisconsin diagnostic breast-cancer table (569 rows, 30
  features, 2 classes), and ``wine.npz``: the wine recognition table (178 rows, 13
  features, 3 classes). Tabular: a stratified 80/20 train/test split, features
  standardized by the training part's mean and standard deviation, float32 ``[F]``.
- ``colored_digits.npz``: a colourized MNIST in the manner of the invariant-risk-
  minimization literature (Arjovsky et al., "Invariant Risk Minimization", 2019), built
  from scikit-learn's 1,797 8x8 handwritten digits: each digit is tinted red or green;
  in training the colour agrees with the label's group (red for 0-4, green for 5-9) with
  probability ``--train-agreement`` (0.9), in the test set with ``--test-agreement``
  (0.1: reversed, as the IRM test environment), so a model that leans on colour rather
  than shape loses on test. uint8 ``[8, 8, 3]``, 10 classes, a stratified 80/20 split.

Every file holds ``x_train``, ``y_train``, ``x_test``, ``y_test``: what
``dataset.name: arrays`` with ``dataset.path`` reads. Run from the repository root::

  python examples/own_workload/make_data.py            # into examples/own_workload/data/
  python examples/own_workload/make_data.py --out DIR  # elsewhere
"""

from __future__ import annotations

import argparse
import os
import pathlib

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

HERE = pathlib.Path(__file__).resolve().parent
RED, GREEN = 0, 1  # channels of [H, W, 3]


def tabular(load, seed: int = 0, test_fraction: float = 0.2) -> dict:
  """A scikit-learn table as a standardized, stratified train/test split.

  Args:
    load: ``sklearn.datasets.load_breast_cancer`` or ``load_wine``.
    seed: the split's seed.
    test_fraction: the test set's share.

  Returns:
    ``x_train, y_train, x_test, y_test``: float32 ``[N, F]`` and int64 ``[N]``.
  """
  x, y = load(return_X_y=True)
  x_train, x_test, y_train, y_test = train_test_split(
      x, y, test_size=test_fraction, stratify=y, random_state=seed)
  mean, std = x_train.mean(axis=0), x_train.std(axis=0)
  std[std == 0] = 1.0
  scale = lambda a: ((a - mean) / std).astype(np.float32)
  return {"x_train": scale(x_train), "y_train": y_train.astype(np.int64),
          "x_test": scale(x_test), "y_test": y_test.astype(np.int64)}


def tint(images: np.ndarray, labels: np.ndarray, agreement: float,
         rng: np.random.Generator) -> np.ndarray:
  """8x8 digits (0..16) as uint8 RGB, red or green; the colour is the label's group
  (red for 0-4, green for 5-9) with probability ``agreement``, else the other."""
  group = (labels >= 5).astype(np.int64)
  flip = rng.random(len(labels)) >= agreement
  colour = np.where(flip, 1 - group, group)  # 0: red, 1: green
  intensity = np.round(images * (255.0 / 16.0)).astype(np.uint8)
  out = np.zeros((*images.shape, 3), np.uint8)
  out[colour == 0, :, :, RED] = intensity[colour == 0]
  out[colour == 1, :, :, GREEN] = intensity[colour == 1]
  return out


def colored_digits(seed: int = 0, test_fraction: float = 0.2, train_agreement: float = 0.9,
                   test_agreement: float = 0.1) -> dict:
  """scikit-learn's digits, tinted red or green (see the module's docstring).

  Returns:
    ``x_train, y_train, x_test, y_test``: uint8 ``[N, 8, 8, 3]`` and int64 ``[N]``.
  """
  digits = datasets.load_digits()
  images, labels = digits.images, digits.target
  train, test = train_test_split(np.arange(len(labels)), test_size=test_fraction,
                                 stratify=labels, random_state=seed)
  rng = np.random.default_rng(seed)
  return {"x_train": tint(images[train], labels[train], train_agreement, rng),
          "y_train": labels[train].astype(np.int64),
          "x_test": tint(images[test], labels[test], test_agreement, rng),
          "y_test": labels[test].astype(np.int64)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", default=str(HERE / "data"),
                      help="folder for the .npz files (default: data/ beside this script)")
  parser.add_argument("--seed", type=int, default=0, help="the splits' and colours' seed")
  parser.add_argument("--train-agreement", type=float, default=0.9,
                      help="colored digits: P(colour = the label's group) in training")
  parser.add_argument("--test-agreement", type=float, default=0.1,
                      help="colored digits: the same in the test set")
  args = parser.parse_args(argv)
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  sets = {
      "breast_cancer": tabular(datasets.load_breast_cancer, args.seed),
      "wine": tabular(datasets.load_wine, args.seed),
      "colored_digits": colored_digits(args.seed, train_agreement=args.train_agreement,
                                       test_agreement=args.test_agreement),
  }
  for name, arrays in sets.items():
    path = out / f"{name}.npz"
    np.savez_compressed(path, **arrays)
    x, y = arrays["x_train"], arrays["y_train"]
    shown = os.path.relpath(path)
    shown = shown if not shown.startswith("..") else str(path)
    print(f"{shown}: x_train {x.dtype} {list(x.shape)}, x_test {list(arrays['x_test'].shape)}, "
          f"{int(y.max()) + 1} classes")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
