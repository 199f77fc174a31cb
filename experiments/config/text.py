"""The text workload's keys checked: ``dataset.name: text`` and ``model.name: transformer``.

Next-token prediction has a label per token, not per example, so the dataset keys that
choose, stratify or flip one label per example (``label_noise``, ``train_fraction``,
``folds``, ``test_fraction``) or scale pixels (``scale``) have no meaning for a text,
and the text's own keys (``mode``, ``context``, ``stride``, ``fractions``, ``sha256``)
none for the other datasets; each is refused with one line naming it. The pairing is
checked across sections: a text needs the transformer (or the user's own factory) and
the transformer a text. Values only: the text itself is read by
``experiments/data/text.py``.
"""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..typed_yaml import check_positive

# The dataset keys a text refuses, with their defaults, and why.
NOT_FOR_TEXT = {
    "label_noise": (0.0, "flips one label per example"),
    "train_fraction": (1.0, "keeps a stratified share of labelled examples"),
    "folds": (None, "stratifies folds by one label per example"),
    "test_fraction": (0.2, "a text's splits are dataset.fractions"),
    "scale": ("unit", "scales pixels; a text's tokens are ids"),
}
# The text's own keys, with their defaults.
TEXT_KEYS = {"mode": "bytes", "context": 128, "stride": None, "fractions": (0.8, 0.1, 0.1),
             "sha256": None}
# Built-in models that classify whole examples (one label each).
CLASSIFIERS = ("logistic", "mlp", "cnn")


def check_dataset(config, key: str) -> None:
  """The text keys of a ``dataset`` section: allowed only for ``text``, and valid there.

  Raises:
    ConfigError: one line naming the key.
  """
  if config.name != "text":
    for field, default in TEXT_KEYS.items():
      if getattr(config, field) != default:
        raise ConfigError(f"config key '{key}.{field}': only for dataset 'text', not "
                          f"'{config.name}'")
    return
  if config.path is None:
    raise ConfigError(f"config key '{key}.path': required for dataset 'text' (a text file, "
                      "a folder of them, or 'python_stdlib', the built-in corpus)")
  for field, (default, why) in NOT_FOR_TEXT.items():
    if getattr(config, field) != default:
      raise ConfigError(f"config key '{key}.{field}': not for dataset 'text' ({why}); "
                        "leave it out")
  check_positive(f"{key}.context", config.context)
  if config.stride is not None:
    check_positive(f"{key}.stride", config.stride)
  shares = config.fractions
  if (len(shares) != 3 or min(shares) <= 0 or not all(map(math.isfinite, shares))
      or not math.isclose(sum(shares), 1.0)):
    raise ConfigError(f"config key '{key}.fractions': {list(shares)}; expected three positive "
                      "shares (train, validation, test) summing to 1")
  if config.sha256 is not None and (len(config.sha256) != 64 or not all(
      c in "0123456789abcdefABCDEF" for c in config.sha256)):
    raise ConfigError(f"config key '{key}.sha256': {config.sha256!r} is not a SHA-256 "
                      "(64 hexadecimal digits)")


def check_model(config, key: str) -> None:
  """The transformer keys of a ``model`` section (``width``, ``depth``, ``heads``,
  ``mlp_ratio``).

  Raises:
    ConfigError: one line naming the key.
  """
  for field in ("width", "depth", "heads", "mlp_ratio"):
    check_positive(f"{key}.{field}", getattr(config, field))
  if config.name != "transformer":
    return
  if config.init != "default":
    raise ConfigError(f"config key '{key}.init': {config.init!r} is for mlp and cnn; the "
                      "transformer initializes as GPT-2 does (normal, std 0.02)")
  if config.width % config.heads:
    raise ConfigError(f"config key '{key}.width': {config.width} is no multiple of "
                      f"model.heads ({config.heads})")


def check_pairing(dataset, model) -> None:
  """A text trains the transformer or the user's factory; the transformer needs a text.

  Raises:
    ConfigError: one line naming ``model.name``.
  """
  if dataset.name == "text" and model.name in CLASSIFIERS:
    raise ConfigError(f"config key 'model.name': {model.name!r} classifies whole examples; "
                      "dataset 'text' predicts every next token: use 'transformer' or a "
                      "'package.module:factory' giving logits [batch, context, vocab]")
  if model.name == "transformer" and dataset.name != "text":
    raise ConfigError(f"config key 'model.name': 'transformer' predicts the next token of a "
                      f"text; it needs dataset 'text', not '{dataset.name}'")
