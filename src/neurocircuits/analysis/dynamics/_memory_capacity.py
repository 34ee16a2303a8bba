"""Short-term memory capacity of a reservoir (Jaeger 2001).

``MC = sum_{k=1}^{K} r^2(u_{t-k}, y_k(t))`` where ``y_k`` is the best linear (ridge) readout of the
delayed input from the reservoir state. For a linear reservoir of N units driven by i.i.d. input the
capacity is bounded by N.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["memory_capacity"]


def memory_capacity(
    states: Tensor, inputs: Tensor, max_delay: int, *, washout: int = 100, ridge: float = 1e-6,
    train_fraction: float = 0.5,
) -> tuple[float, Tensor]:
    """Memory capacity from reservoir states driven by a scalar input.

    Args:
        states: reservoir states ``(time, units)``.
        inputs: the scalar input ``(time,)`` that drove them (i.i.d. noise for the classic measure).
        max_delay: largest delay ``K``.
        washout: initial steps discarded.
        ridge: ridge penalty of the readouts.
        train_fraction: fraction of the remaining steps used to fit the readouts; ``r^2`` is
            measured on the rest.

    Returns:
        ``(MC, r2_per_delay)`` with ``r2_per_delay[k-1]`` the squared correlation at delay ``k``.
    """
    if states.dim() != 2 or inputs.dim() != 1 or states.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"memory_capacity needs states (time, units) and inputs (time,) of equal length, got "
            f"{tuple(states.shape)} and {tuple(inputs.shape)}."
        )
    T = states.shape[0]
    if T - washout - max_delay < 20:
        raise ValueError(f"series too short ({T} steps) for washout {washout} and max_delay {max_delay}.")
    X = states[washout + max_delay :].to(torch.float64)
    X = torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], 1)
    targets = torch.stack(
        [inputs[washout + max_delay - k : T - k].to(torch.float64) for k in range(1, max_delay + 1)], 1
    )
    n_tr = int(train_fraction * X.shape[0])
    Xtr, Xte = X[:n_tr], X[n_tr:]
    A = Xtr.T @ Xtr + ridge * torch.eye(X.shape[1], dtype=X.dtype)
    W = torch.linalg.solve(A, Xtr.T @ targets[:n_tr])
    pred = Xte @ W
    yt = targets[n_tr:]
    pc, yc = pred - pred.mean(0), yt - yt.mean(0)
    r2 = (pc * yc).sum(0) ** 2 / ((pc * pc).sum(0) * (yc * yc).sum(0) + 1e-300)
    return float(r2.sum()), r2
