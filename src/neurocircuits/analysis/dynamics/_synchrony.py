"""Synchrony measures: Kuramoto order parameter, Golomb's chi, cross-correlation."""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import Tensor

from ...functional.oscillators import order_parameter

__all__ = ["kuramoto_order", "synchrony_chi", "cross_correlation", "phases_from_signal"]


def kuramoto_order(theta: Tensor | ArrayLike, time_average: bool = True) -> float | Tensor:
    """Kuramoto order parameter of phases of shape ``(time, units)`` (or ``(units,)``).

    Returns:
        ``mean_t R(t)`` if ``time_average`` else the series ``R(t)``.
    """
    th = torch.as_tensor(theta, dtype=torch.float64)
    R, _ = order_parameter(th, dim=-1)
    return float(R.mean()) if time_average else R


def phases_from_signal(x: ArrayLike) -> np.ndarray:
    """Instantaneous phases of signals ``(time, units)`` via the Hilbert transform."""
    from scipy.signal import hilbert

    a = np.asarray(x, dtype=np.float64)
    return np.angle(hilbert(a - a.mean(0), axis=0))


def synchrony_chi(x: ArrayLike) -> float:
    """Golomb's synchrony measure ``chi^2 = Var_t(mean_i x_i) / mean_i Var_t(x_i)`` for ``(time, units)``.

    1 for identical units, about ``1/N`` for independent ones.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"synchrony_chi needs (time, units), got shape {a.shape}.")
    denom = a.var(0).mean()
    if denom == 0:
        raise ValueError("synchrony_chi: every unit is constant; synchrony is undefined.")
    return float(np.sqrt(a.mean(1).var() / denom))


def cross_correlation(x: ArrayLike, y: ArrayLike, max_lag: int = 0) -> np.ndarray:
    """Normalised cross-correlation ``corr(x_t, y_{t+lag})`` for lags ``-max_lag..max_lag``."""
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"cross_correlation needs two 1-D series of equal length, got {a.shape} and {b.shape}.")
    out = []
    for lag in range(-max_lag, max_lag + 1):
        u, v = (a[: a.size - lag], b[lag:]) if lag >= 0 else (a[-lag:], b[: b.size + lag])
        su, sv = u.std(), v.std()
        out.append(0.0 if su == 0 or sv == 0 else float(np.mean((u - u.mean()) * (v - v.mean())) / (su * sv)))
    return np.array(out)
