"""Largest Lyapunov exponent of a map or a discretised flow.

The tangent vector ``v`` is propagated with the Jacobian of the step (``v <- J(x) v`` computed by a
forward-mode Jacobian-vector product, so no finite-difference error) and renormalised every step;
``lambda = (1 / (T dt)) sum_t log |J v_t|`` (Benettin et al. 1980). For a map ``dt = 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...functional.maps import check_finite

__all__ = ["largest_lyapunov"]


def largest_lyapunov(
    step: Callable[[Tensor], Tensor],
    x0: Tensor,
    n_steps: int = 5000,
    *,
    transient: int = 500,
    dt: float = 1.0,
    seed: int = 0,
) -> float:
    """Largest Lyapunov exponent of ``x_{t+1} = step(x_t)``.

    Args:
        step: a pure function mapping a state vector to the next one (a map, or one integrator
            step of a flow with time step ``dt``).
        x0: initial state (1-D tensor; float64 recommended).
        n_steps: steps averaged over.
        transient: steps discarded first (to land on the attractor).
        dt: time per step; the exponent is returned per unit time.
        seed: seed of the random initial tangent vector.

    Returns:
        The largest Lyapunov exponent (positive: chaos; zero: limit cycle / quasi-periodic;
        negative: a stable fixed point or cycle).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}.")
    x = x0.detach().clone()
    with torch.no_grad():
        for t in range(transient):
            x = step(x)
        check_finite(x, transient, "largest_lyapunov transient")
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=g, dtype=x.dtype).to(x.device)
    v = v / v.norm()
    total = 0.0
    for t in range(n_steps):
        x, v = torch.func.jvp(step, (x,), (v,))
        n = v.norm()
        if not torch.isfinite(n) or not torch.isfinite(x).all():
            check_finite(torch.tensor(float("nan")), transient + t, "largest_lyapunov")
        total += float(torch.log(n.clamp_min(1e-300)))
        v = v / n.clamp_min(1e-300)
        x = x.detach()
        v = v.detach()
    return total / (n_steps * dt)
