"""The dual-process update as an Optax gradient transformation.

Structured like ``optax/_src/alias.py``: a ``scale_by_*`` piece that does the
momentum accumulation, and an alias that chains it with the learning rate.

The default constants are the author's derived pair, computed: momentum
``alpha = sqrt(2)/phi ~ 0.874032`` and learning rate ``(1 - alpha)^2 ~
0.015868`` (``hyperparameters("double_bayesian")``; see
:mod:`dualprocess.constants` for their source and the alternatives).

References:
  Jaeger, `A Dual Process Model for Optimizing Cross Entropy in Neural
  Networks <https://arxiv.org/abs/2104.13277>`_, 2021; Jaeger,
  `Double-Bayesian Learning <https://arxiv.org/abs/2410.12984>`_, 2024.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Optional

import jax
import numpy as np
import optax

from dualprocess.constants import hyperparameters

_DEFAULT = hyperparameters()  # the author's derived pair (double_bayesian)


def _concrete_scalar(name: str, value: Any) -> Optional[float]:
  """The value as a float when it is known now; None when traced."""
  if isinstance(value, bool) or isinstance(value, (str, bytes)):
    raise TypeError(f"{name} must be a real number, got {value!r}")
  if isinstance(value, numbers.Real):
    return float(value)
  if isinstance(value, jax.core.Tracer):
    return None  # e.g. under inject_hyperparams inside jit/vmap: checked by the caller
  try:
    array = np.asarray(value)
  except Exception as error:  # pragma: no cover - exotic array types
    raise TypeError(f"{name} must be a real number, got {value!r}") from error
  if array.ndim != 0 or not np.issubdtype(array.dtype, np.number):
    raise TypeError(f"{name} must be a real scalar, got {value!r}")
  return float(array)


def _resolve_momentum(momentum: Any) -> Any:
  if momentum is None:
    return _DEFAULT.momentum
  value = _concrete_scalar("momentum", momentum)
  if value is not None and not 0.0 <= value < 1.0:
    raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
  return momentum


def _resolve_learning_rate(learning_rate: Any) -> Any:
  if learning_rate is None:
    return _DEFAULT.learning_rate
  if callable(learning_rate):
    return learning_rate  # a schedule: its values are the caller's to choose
  value = _concrete_scalar("learning_rate", learning_rate)
  if value is not None and not (math.isfinite(value) and value > 0.0):
    raise ValueError(f"learning_rate must be a positive finite number, got {learning_rate!r}")
  return learning_rate


def scale_by_dual_process(
    momentum: Optional[optax.ScalarOrSchedule] = _DEFAULT.momentum,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
  r"""Accumulates updates with the dual-process momentum weight.

  A share :math:`\mu` of the previous weight change is carried over to the
  next one (the entropy process, ``docs/theory.md`` sections 4 and 5):

  .. math::
    m_t = g_t + \mu\, m_{t-1}, \qquad
    u_t = \begin{cases} m_t & \text{plain} \\
                        g_t + \mu\, m_t & \text{Nesterov} \end{cases}

  This is the heavy-ball trace of ``optax.trace`` (whose state it uses, so
  the two interoperate); scaling by ``-eta`` turns it into
  ``dw_t = mu dw_{t-1} - eta g_t``.

  Args:
    momentum: the momentum weight in ``[0, 1)``; ``None`` or the default is
      the author's ``sqrt(2)/phi ~ 0.874032``
      (``hyperparameters("double_bayesian")``); ours is
      ``hyperparameters("information").momentum = H2(e) ~ 0.9594``. May be a
      traced array (e.g. under ``optax.inject_hyperparams``), which is not
      range-checked.
    nesterov: whether to use Nesterov momentum.
    accumulator_dtype: optional dtype of the momentum trace; by default the
      dtype of the parameters.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from dualprocess import scale_by_dual_process
    >>> tx = scale_by_dual_process(momentum=0.5)
    >>> state = tx.init(jnp.zeros(2))
    >>> u, state = tx.update(jnp.ones(2), state)
    >>> u, state = tx.update(jnp.ones(2), state)
    >>> u.tolist()
    [1.5, 1.5]

  References:
    Polyak, Some methods of speeding up the convergence of iteration methods,
    1964; Jaeger, Double-Bayesian Learning, 2024 (the default weight, eq. 33).
  """
  if not isinstance(nesterov, bool):
    raise TypeError(f"nesterov must be a bool, got {nesterov!r}")
  return optax.trace(
      decay=_resolve_momentum(momentum),
      nesterov=nesterov,
      accumulator_dtype=accumulator_dtype,
  )


def dual_process(
    learning_rate: Optional[optax.ScalarOrSchedule] = _DEFAULT.learning_rate,
    momentum: Optional[Any] = _DEFAULT.momentum,
    nesterov: bool = False,
    accumulator_dtype: Optional[Any] = None,
) -> optax.GradientTransformation:
  r"""The dual-process optimizer: momentum SGD with the dual-process constants.

  .. math::
    \Delta w_t = \mu\, \Delta w_{t-1} - \eta\, \nabla L(w_t), \qquad
    w_{t+1} = w_t + \Delta w_t.

  By default :math:`\mu = \sqrt{2}\, p_1 = \sqrt{2}/\varphi \approx 0.874032`
  and :math:`\eta = (1 - \mu)^2 \approx 0.015868`, the author's derivation
  (Jaeger, 2024, eqs. 26, 33, 34; ``hyperparameters("double_bayesian")``),
  computed from the golden root :math:`p_1 = (\sqrt{5} - 1)/2`. Its
  steady-state step :math:`\eta / (1 - \mu)` is about 0.126. With its
  defaults it equals ``optax.sgd(*hyperparameters("double_bayesian"))``
  step for step; the rounded quotation (0.016, 0.874) is
  ``hyperparameters("reported")``. The other named sets of
  :func:`dualprocess.hyperparameters` plug in the same way; this toolkit's
  own information-theoretic pair,
  :math:`\eta = \mathrm{KL}_2(e \| u) \approx 0.0406` and
  :math:`\mu = H_2(e) \approx 0.9594` (steady-state step exactly 1), is
  ``dual_process(*hyperparameters("information"))``.

  The defaults are plain floats, so ``optax.inject_hyperparams(dual_process)()``
  exposes both as hyperparameters; ``None`` also means the default.

  Args:
    learning_rate: a positive float or an optax schedule.
    momentum: the momentum weight in ``[0, 1)``.
    nesterov: whether to use Nesterov momentum.
    accumulator_dtype: optional dtype of the momentum trace.

  Returns:
    An ``optax.GradientTransformation``.

  Examples:
    >>> import jax, jax.numpy as jnp, optax
    >>> from dualprocess import dual_process
    >>> loss = lambda w: jnp.sum((w - 3.0) ** 2)
    >>> tx = dual_process()  # the author's (0.015868..., 0.874032...)
    >>> w = jnp.zeros(2)
    >>> state = tx.init(w)
    >>> for _ in range(1000):
    ...   updates, state = tx.update(jax.grad(loss)(w), state, w)
    ...   w = optax.apply_updates(w, updates)
    >>> [round(float(x), 3) for x in w]
    [3.0, 3.0]

  References:
    Jaeger, `A Dual Process Model for Optimizing Cross Entropy in Neural
    Networks <https://arxiv.org/abs/2104.13277>`_, 2021; Jaeger,
    `Double-Bayesian Learning <https://arxiv.org/abs/2410.12984>`_, 2024;
    Bui, Yu, Kantipudi, Yaniv and Jaeger, Training Neural Networks with
    Optimal Double-Bayesian Learning, arXiv 2605.20009, 2026; Rumelhart,
    Hinton and Williams, Learning
    representations by back-propagating errors, 1986.
  """
  return optax.chain(
      scale_by_dual_process(momentum, nesterov, accumulator_dtype),
      optax.scale_by_learning_rate(_resolve_learning_rate(learning_rate)),
  )
