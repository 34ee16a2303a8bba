"""Bifurcation sweeps of maps: asymptotic states over a parameter range, and period detection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ...functional.maps import iterate_map

__all__ = ["bifurcation_sweep", "detect_period"]


def bifurcation_sweep(
    step: Callable[..., tuple[Tensor, Any]],
    params: Any,
    param_name: str,
    values: Tensor,
    x0: float,
    state0: Callable[[Tensor], Any] | None = None,
    *,
    transient: int = 2000,
    n_keep: int = 128,
) -> Tensor:
    """Iterate a map for every value of one parameter at once (vectorised) and keep the attractor.

    Args:
        step: map step, e.g. :func:`neurocircuits.functional.maps.chialvo_map`.
        params: base parameter NamedTuple.
        param_name: the field of ``params`` swept.
        values: 1-D tensor of parameter values.
        x0: initial fast variable (same for all values).
        state0: ``x -> initial slow state`` (e.g. ``lambda x: ChialvoState(torch.zeros_like(x))``);
            ``None`` for one-variable maps.
        transient: iterations discarded.
        n_keep: iterations kept per value.

    Returns:
        Tensor ``(n_keep, len(values))``: the visited states, ready for a bifurcation diagram.

    Raises:
        DivergenceError: naming the step and the parameter set if an orbit escapes to infinity.
    """
    if param_name not in params._fields:
        raise ValueError(f"{type(params).__name__} has no field {param_name!r}; fields: {params._fields}.")
    v = values.to(torch.float64)
    p = params._replace(**{param_name: v})
    x = torch.full_like(v, float(x0))
    s = None if state0 is None else state0(x)
    return iterate_map(step, x, s, p, n_keep, transient=transient)


def detect_period(orbit: np.ndarray | Tensor, max_period: int = 64, tol: float = 1e-6) -> int:
    """Smallest period ``p <= max_period`` with ``x_{t+p} = x_t`` (within ``tol``) along the orbit.

    Returns:
        The period, or 0 if none up to ``max_period`` (chaotic or quasi-periodic).
    """
    a = np.asarray(orbit, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"detect_period needs a 1-D orbit, got shape {a.shape}.")
    for p in range(1, max_period + 1):
        if p >= a.size:
            break
        if np.max(np.abs(a[p:] - a[:-p])) < tol * max(1.0, np.max(np.abs(a))):
            return p
    return 0
