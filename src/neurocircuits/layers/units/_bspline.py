"""B-spline bases on per-input knot grids (Cox-de Boor recursion), and least-squares curve fits.

For knots ``t_0 < ... < t_m`` the order-0 bases are interval indicators and

    B_{i,p}(x) = (x - t_i) / (t_{i+p} - t_i) B_{i,p-1}(x) + (t_{i+p+1} - x) / (t_{i+p+1} - t_{i+1}) B_{i+1,p-1}(x).

A KAN grid of ``G`` intervals on ``[lo, hi]`` is extended by ``k`` knots on each side, giving
``G + 2k + 1`` knots and ``G + k`` bases of order ``k``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def uniform_grid(in_features: int, grid_size: int, lo: float, hi: float, spline_order: int,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """Extended uniform knot grid ``[in_features, grid_size + 2 k + 1]`` on ``[lo, hi]``."""
    base = torch.linspace(lo, hi, grid_size + 1, device=device, dtype=dtype)
    return extend_grid(base.expand(in_features, grid_size + 1), spline_order)


def extend_grid(grid: Tensor, k: int) -> Tensor:
    """Add ``k`` knots with the mean spacing on both ends of each row of ``grid`` ``[in, n]``."""
    h = (grid[:, -1:] - grid[:, :1]) / (grid.shape[1] - 1)
    steps = torch.arange(1, k + 1, device=grid.device, dtype=grid.dtype)
    left = grid[:, :1] - h * steps.flip(0)
    right = grid[:, -1:] + h * steps
    return torch.cat([left, grid, right], dim=1)


def _cox_de_boor(x: Tensor, grid: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Bases of order ``k`` and ``k - 1`` (the latter for the derivative; equal to the order-``k``
    bases when ``k = 0``)."""
    xe = x.unsqueeze(-1)
    g = grid.unsqueeze(0)
    basis = ((xe >= g[..., :-1]) & (xe < g[..., 1:])).to(x.dtype)
    prev = basis
    m = grid.shape[-1]
    for p in range(1, k + 1):
        prev = basis
        inv_span = (g[..., p:] - g[..., : m - p]).reciprocal()  # [1, in, m - p]
        u = (xe - g[..., : m - p]) * inv_span * basis
        basis = u[..., :-1] + (basis[..., 1:] - u[..., 1:])
    return basis, prev


class _BSplineBasis(torch.autograd.Function):
    """Bases with the analytic derivative ``B'_{i,k} = k B_{i,k-1} / (t_{i+k} - t_i)
    - k B_{i+1,k-1} / (t_{i+k+1} - t_{i+1})`` as backward (one pass instead of the recursion's graph)."""

    @staticmethod
    def forward(ctx: object, x: Tensor, grid: Tensor, k: int) -> Tensor:  # type: ignore[override]
        basis, prev = _cox_de_boor(x, grid, k)
        ctx.save_for_backward(grid, prev)  # type: ignore[attr-defined]
        ctx.k = k  # type: ignore[attr-defined]
        return basis

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: object, g_out: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        grid, prev = ctx.saved_tensors  # type: ignore[attr-defined]
        k = ctx.k  # type: ignore[attr-defined]
        if k == 0:
            return torch.zeros(g_out.shape[:-1], dtype=g_out.dtype, device=g_out.device), None, None
        m = grid.shape[-1]
        scaled = prev * (k / (grid[:, k:] - grid[:, : m - k]))  # k B_{i,k-1} / (t_{i+k} - t_i)
        return (g_out * (scaled[..., :-1] - scaled[..., 1:])).sum(dim=-1), None, None


def bspline_basis(x: Tensor, grid: Tensor, k: int) -> Tensor:
    """B-spline bases of order ``k`` of ``x`` ``[batch, in]`` on knots ``grid`` ``[in, m]``.

    Vectorised Cox-de Boor in the form ``B_{i,p} = w_i B_{i,p-1} + (1 - w_{i+1}) B_{i+1,p-1}`` with
    ``w_i = (x - t_i) / (t_{i+p} - t_i)``: the reciprocal knot spans depend on the grid only, and a
    level costs five tensor operations (``u = w B``; ``B' = u[:-1] + B[1:] - u[1:]``). The gradient
    with respect to ``x`` is the analytic B-spline derivative (the knots get no gradient).

    Returns:
        ``[batch, in, m - 1 - k]``; zero outside ``[grid[:, 0], grid[:, -1])``.
    """
    if grid.requires_grad:
        return _cox_de_boor(x, grid, k)[0]
    return _BSplineBasis.apply(x, grid, k)


def curve_to_coef(x: Tensor, y: Tensor, grid: Tensor, k: int, ridge: float = 1e-8) -> Tensor:
    """Least-squares spline coefficients ``[in, out, n_basis]`` with ``sum_b coef B_b(x_i) ~ y[:, i, o]``.

    Args:
        x: samples ``[batch, in]``; y: target curve values ``[batch, in, out]``; grid: ``[in, m]``.
        ridge: Tikhonov regulariser (keeps bases without samples at zero instead of arbitrary).
    """
    basis = bspline_basis(x, grid, k).permute(1, 0, 2)  # [in, batch, nb]
    gram = basis.transpose(1, 2) @ basis  # [in, nb, nb]
    eye = torch.eye(gram.shape[-1], device=x.device, dtype=x.dtype)
    rhs = basis.transpose(1, 2) @ y.permute(1, 0, 2)  # [in, nb, out]
    coef = torch.linalg.solve(gram + ridge * eye, rhs)  # [in, nb, out]
    return coef.permute(0, 2, 1).contiguous()


def adaptive_grid(x: Tensor, grid_size: int, k: int, grid_eps: float = 0.02, margin: float = 0.0) -> Tensor:
    """Knots following the sample distribution of ``x`` ``[batch, in]``, mixed with a uniform grid.

    ``grid_eps = 1`` is uniform on the sample range, ``0`` puts knots at sample quantiles.
    """
    xs = torch.sort(x, dim=0).values
    n = xs.shape[0]
    ids = [int(n / grid_size * i) for i in range(grid_size)] + [n - 1]
    adaptive = xs[ids, :].T  # [in, G+1]
    lo = adaptive[:, :1] - margin
    span = adaptive[:, -1:] - adaptive[:, :1] + 2 * margin
    span = torch.where(span > 0, span, torch.ones_like(span))
    uniform = lo + span / grid_size * torch.arange(grid_size + 1, device=x.device, dtype=x.dtype)
    grid = grid_eps * uniform + (1 - grid_eps) * adaptive
    # strictly increasing knots even with repeated samples
    grid = torch.maximum(grid, torch.cummax(grid, dim=1).values)
    eps = 1e-6 * span
    grid = grid + eps * torch.arange(grid_size + 1, device=x.device, dtype=x.dtype)
    return extend_grid(grid, k)
