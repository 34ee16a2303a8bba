"""Fixed points of flows and maps, with Jacobian eigenvalues and stability.

Two solvers, chosen by name from :data:`FIXED_POINT_SOLVERS`:

* ``"newton"``: damped Newton iterations on ``g(x) = 0`` with the exact Jacobian (autograd).
* ``"speed"``: minimisation of the speed ``q(x) = 1/2 |g(x)|^2`` with L-BFGS (Sussillo & Barak
  2013, "Opening the black box"), which also finds slow points of trained RNNs.

For a flow ``dx/dt = f(x)``, ``g = f`` and a fixed point is stable when every eigenvalue of the
Jacobian has negative real part; for a map ``x' = F(x)``, ``g = F(x) - x`` and stability means every
eigenvalue of ``dF/dx`` lies inside the unit circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ...registry import Registry

__all__ = ["FixedPoint", "find_fixed_points", "jacobian_eigenvalues", "FIXED_POINT_SOLVERS"]

Solver = Callable[[Callable[[Tensor], Tensor], Tensor, int, float], Tensor]
FIXED_POINT_SOLVERS: Registry[Solver] = Registry("fixed-point solver")


@dataclass(frozen=True)
class FixedPoint:
    """A fixed point with its linearisation.

    Attributes:
        x: location.
        residual: ``|g(x)|`` at the solution.
        eigenvalues: eigenvalues of the Jacobian (``df/dx`` for a flow, ``dF/dx`` for a map).
        stable: linear stability (see module docstring).
        kind: ``"flow"`` or ``"map"``.
    """

    x: Tensor
    residual: float
    eigenvalues: Tensor
    stable: bool
    kind: str


def jacobian_eigenvalues(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Eigenvalues of the Jacobian of ``f`` at ``x`` (complex tensor)."""
    J = torch.autograd.functional.jacobian(f, x.detach())
    return torch.linalg.eigvals(J.reshape(x.numel(), x.numel()))


@FIXED_POINT_SOLVERS.register("newton")
def _newton(g: Callable[[Tensor], Tensor], x0: Tensor, max_iter: int, tol: float) -> Tensor:
    x = x0.detach().clone()
    for _ in range(max_iter):
        r = g(x)
        if float(r.norm()) < tol:
            break
        J = torch.autograd.functional.jacobian(g, x)
        try:
            dx = torch.linalg.lstsq(J, -r.unsqueeze(-1)).solution.squeeze(-1)
        except RuntimeError:
            break
        # Backtracking line search keeps Newton from jumping to another basin too often.
        alpha, r0 = 1.0, float(r.norm())
        while alpha > 1e-4:
            xn = x + alpha * dx
            if torch.isfinite(xn).all() and float(g(xn).norm()) < r0:
                break
            alpha *= 0.5
        x = (x + alpha * dx).detach()
    return x


@FIXED_POINT_SOLVERS.register("speed")
def _speed(g: Callable[[Tensor], Tensor], x0: Tensor, max_iter: int, tol: float) -> Tensor:
    x = x0.detach().clone().requires_grad_(True)
    # Adam first (small steps stay in the starting basin), then L-BFGS to polish.
    adam = torch.optim.Adam([x], lr=0.01)
    for _ in range(20 * max_iter):
        adam.zero_grad()
        q = 0.5 * (g(x) ** 2).sum()
        if float(q.detach()) < 1e-6:
            break
        q.backward()
        adam.step()
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=max_iter, tolerance_grad=tol * 1e-3, tolerance_change=1e-16)

    def closure() -> Tensor:
        opt.zero_grad()
        q = 0.5 * (g(x) ** 2).sum()
        q.backward()
        return q

    opt.step(closure)
    return x.detach()


def find_fixed_points(
    f: Callable[[Tensor], Tensor],
    initial: Tensor,
    *,
    kind: str = "flow",
    method: str = "newton",
    max_iter: int = 100,
    tol: float = 1e-9,
    dedup_tol: float = 1e-5,
) -> list[FixedPoint]:
    """Find the distinct fixed points reached from a batch of initial guesses.

    Args:
        f: the vector field (``kind="flow"``) or the map (``kind="map"``), a pure function of a
            1-D state tensor.
        initial: initial guesses, shape ``(n_guesses, dim)``.
        kind: ``"flow"`` or ``"map"``.
        method: solver name in :data:`FIXED_POINT_SOLVERS` (``"newton"`` or ``"speed"``).
        max_iter: solver iterations.
        tol: residual below which a point counts as fixed (solutions with residual above
            ``sqrt(tol)`` are discarded).
        dedup_tol: two solutions closer than this are merged.

    Returns:
        Distinct fixed points, sorted by their first coordinate.
    """
    if kind not in ("flow", "map"):
        raise ValueError(f"kind must be 'flow' or 'map', got {kind!r}.")
    if initial.dim() != 2:
        raise ValueError(f"initial guesses must have shape (n_guesses, dim), got {tuple(initial.shape)}.")
    solver = FIXED_POINT_SOLVERS.get(method)
    g = f if kind == "flow" else (lambda x: f(x) - x)
    found: list[FixedPoint] = []
    for x0 in initial:
        x = solver(g, x0, max_iter, tol)
        if not torch.isfinite(x).all():
            continue
        res = float(g(x).norm())
        if res > max(tol, 1e-12) ** 0.5:
            continue
        if any(float((x - p.x).norm()) < dedup_tol for p in found):
            continue
        ev = jacobian_eigenvalues(f, x)
        stable = bool((ev.real < 0).all()) if kind == "flow" else bool((ev.abs() < 1).all())
        found.append(FixedPoint(x=x, residual=res, eigenvalues=ev, stable=stable, kind=kind))
    found.sort(key=lambda p: float(p.x.flatten()[0]))
    return found
