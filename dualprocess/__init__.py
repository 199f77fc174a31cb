"""dualprocess: the dual process model of cross-entropy for JAX and Optax.

Cross-entropy splits into an entropy process and a divergence process; their
golden equilibrium gives a loss floor, a learning rate and a momentum weight.
The default update uses the author's derived pair, computed from the golden
root (momentum sqrt(2)/phi ~ 0.874032, learning rate (1 - sqrt(2)/phi)^2 ~
0.015868); ``hyperparameters(name)`` gives it and the alternatives, each with
its provenance. See ``docs/theory.md`` for what comes from the papers and what is
this toolkit's formalization.
"""

import importlib
from typing import TYPE_CHECKING

from dualprocess import constants, theory
from dualprocess.constants import Hyperparameters, hyperparameters, provenance

if TYPE_CHECKING:
  from dualprocess.losses import (
      Decomposition,
      cross_entropy_decomposition,
      dual_process_decomposition,
      dual_process_loss,
      equilibrium_targets,
  )
  from dualprocess.optim import dual_process, scale_by_dual_process

# The losses and the optimizer (and with them JAX and Optax) load on first use, so
# that reading the named constants (every experiment config does) stays cheap.
_LAZY = {"Decomposition": "losses", "cross_entropy_decomposition": "losses",
         "dual_process_decomposition": "losses", "dual_process_loss": "losses",
         "equilibrium_targets": "losses", "dual_process": "optim",
         "scale_by_dual_process": "optim", "losses": None, "optim": None}


def __getattr__(name):
  if name not in _LAZY:
    raise AttributeError(f"module 'dualprocess' has no attribute {name!r}")
  module = importlib.import_module(f"dualprocess.{_LAZY[name] or name}")
  value = module if _LAZY[name] is None else getattr(module, name)
  globals()[name] = value
  return value


def __dir__():
  return sorted(set(globals()) | set(_LAZY))


__version__ = "0.6.0"  # the one source of the version; pyproject.toml reads it from here

__all__ = [
    "Decomposition",
    "Hyperparameters",
    "constants",
    "cross_entropy_decomposition",
    "dual_process",
    "dual_process_decomposition",
    "dual_process_loss",
    "equilibrium_targets",
    "hyperparameters",
    "provenance",
    "scale_by_dual_process",
    "theory",
]
