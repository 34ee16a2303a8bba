"""Map-based neuron models and iterated maps as pure step functions.

Every map here is a pure function ``step(x, state, params) -> (out, new_state)`` (maps have no
``dt``) plus a vectorised ``iterate_map`` driver that detects divergence and names the step and the
parameter set that caused it.

Models:
    * Logistic map ``x' = r x (1 - x)`` (textbook; Lyapunov exponent ln 2 at r = 4).
    * Chialvo map (Chialvo 1995, "Generic excitable dynamics on a 2D map",
      Chaos Solitons Fractals 5:461)::

          x' = x^2 exp(y - x) + k
          y' = a y - b x + c

    * Rulkov map (Rulkov 2002, "Modeling of spiking-bursting neural behavior using
      two-dimensional map", Phys. Rev. E 65:041922), chaotic form::

          x' = alpha / (1 + x^2) + y
          y' = y - mu (x - sigma)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "DivergenceError",
    "ChialvoParams",
    "ChialvoState",
    "RulkovParams",
    "RulkovState",
    "LogisticParams",
    "chialvo_map",
    "rulkov_map",
    "logistic_map",
    "check_finite",
    "iterate_map",
]


class DivergenceError(FloatingPointError):
    """An integrator or map produced NaN/inf. The message names the step and the parameters."""


def check_finite(x: Tensor, step: int, what: str, params: Any = None) -> None:
    """Raise :class:`DivergenceError` if ``x`` holds a NaN or inf.

    Args:
        x: the freshly computed state.
        step: index of the step that produced it.
        what: name of the model or integrator (for the message).
        params: the parameter set in use (printed in the message).
    """
    if not bool(torch.isfinite(x).all()):
        raise DivergenceError(
            f"{what} diverged (NaN/inf) at step {step} with parameters {params!r}; "
            f"reduce the time step or the coupling/gain, or start from a bounded initial state."
        )


class LogisticParams(NamedTuple):
    r: float | Tensor = 4.0


def logistic_map(x: Tensor, state: None = None, params: LogisticParams = LogisticParams()) -> tuple[Tensor, None]:
    """One step of the logistic map ``x' = r x (1 - x)``."""
    out = params.r * x * (1.0 - x)
    return out, None


class ChialvoParams(NamedTuple):
    """Chialvo map parameters (defaults: the chaotic regime of Chialvo 1995)."""

    a: float | Tensor = 0.89
    b: float | Tensor = 0.6
    c: float | Tensor = 0.28
    k: float | Tensor = 0.03


class ChialvoState(NamedTuple):
    y: Tensor  # recovery variable


def chialvo_map(
    x: Tensor, state: ChialvoState, params: ChialvoParams = ChialvoParams(), coupling: Tensor | float = 0.0
) -> tuple[Tensor, ChialvoState]:
    """One iteration of the Chialvo map; ``coupling`` is added to the fast variable's update.

    Args:
        x: activation variable, any shape.
        state: recovery variable ``y`` (same shape).
        params: ``a, b, c, k`` (floats or broadcastable tensors for heterogeneous networks).
        coupling: extra input to ``x'`` (e.g. diffusive coupling from neighbours).

    Returns:
        ``(x', ChialvoState(y'))``.
    """
    y = state.y
    x_new = x * x * torch.exp(y - x) + params.k + coupling
    y_new = params.a * y - params.b * x + params.c
    return x_new, ChialvoState(y_new)


class RulkovParams(NamedTuple):
    """Rulkov (chaotic) map parameters: ``alpha`` > 4 gives chaotic bursts."""

    alpha: float | Tensor = 4.5
    mu: float | Tensor = 0.001
    sigma: float | Tensor = -1.0


class RulkovState(NamedTuple):
    y: Tensor  # slow variable


def rulkov_map(
    x: Tensor, state: RulkovState, params: RulkovParams = RulkovParams(), coupling: Tensor | float = 0.0
) -> tuple[Tensor, RulkovState]:
    """One iteration of the chaotic Rulkov map (``coupling`` enters the fast variable)."""
    y = state.y
    x_new = params.alpha / (1.0 + x * x) + y + coupling
    y_new = y - params.mu * (x - params.sigma)
    return x_new, RulkovState(y_new)


def iterate_map(
    step: Callable[..., tuple[Tensor, Any]],
    x0: Tensor,
    state0: Any,
    params: Any,
    n_steps: int,
    *,
    transient: int = 0,
    coupling_fn: Callable[[Tensor], Tensor] | None = None,
    name: str | None = None,
) -> Tensor:
    """Iterate a map and return the trajectory of its fast variable.

    Args:
        step: a map such as :func:`chialvo_map`.
        x0: initial fast variable (any shape, e.g. ``(n_nodes,)`` or ``(n_params,)`` for a sweep).
        state0: initial slow state.
        params: parameter NamedTuple (tensor fields broadcast against ``x0``).
        n_steps: number of recorded iterations.
        transient: iterations discarded first.
        coupling_fn: optional ``x -> coupling`` input for networks of maps.
        name: model name for the divergence message (default: the step function's name).

    Returns:
        Tensor of shape ``(n_steps, *x0.shape)``.

    Raises:
        DivergenceError: when an iterate becomes NaN/inf (names the step index and ``params``).
    """
    if n_steps < 1 or transient < 0:
        raise ValueError(f"need n_steps >= 1 and transient >= 0, got {n_steps} and {transient}.")
    what = name or getattr(step, "__name__", "map")
    x, s = x0, state0
    out = torch.empty((n_steps, *x0.shape), dtype=x0.dtype, device=x0.device)
    for t in range(transient + n_steps):
        kwargs = {} if coupling_fn is None else {"coupling": coupling_fn(x)}
        x, s = step(x, s, params, **kwargs)
        if t % 64 == 0 or t == transient + n_steps - 1:
            check_finite(x, t, what, params)
        if t >= transient:
            out[t - transient] = x
    check_finite(out, transient + n_steps - 1, what, params)
    return out

