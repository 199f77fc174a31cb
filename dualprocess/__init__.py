"""dualprocess: the dual process model of cross-entropy for JAX and Optax.

Cross-entropy splits into an entropy process and a divergence process; their
golden equilibrium gives a loss floor, a learning rate and a momentum weight.
See ``docs/theory.md`` for what comes from the paper and what is this
toolkit's formalization.
"""

from dualprocess import theory
from dualprocess.losses import (
    Decomposition,
    cross_entropy_decomposition,
    dual_process_decomposition,
    dual_process_loss,
    equilibrium_targets,
)
from dualprocess.optim import dual_process, scale_by_dual_process
from dualprocess.theory import DerivedHyperparameters, derived_hyperparameters

__version__ = "0.1.0"

__all__ = [
    "Decomposition",
    "DerivedHyperparameters",
    "cross_entropy_decomposition",
    "derived_hyperparameters",
    "dual_process",
    "dual_process_decomposition",
    "dual_process_loss",
    "equilibrium_targets",
    "scale_by_dual_process",
    "theory",
]
