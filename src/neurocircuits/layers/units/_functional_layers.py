"""Functional neural network layers: weights are smooth functions expanded in a basis.

Papers: Rossi, Conan-Guez & El Golli 2002 / Rossi & Conan-Guez 2005, "Functional multi-layer
perceptron"; Thind, Multani, Cao et al. 2023, "Deep learning with functional inputs" (FNN);
Heinrichs, Heim & Weber 2023, "Functional neural networks: shift invariant models for functional
data with applications to EEG classification" (ICML; functional convolution).

Inputs are curves ``x_c(t)`` sampled on a uniform grid of ``n_points`` in ``[t0, t1]``. Each weight
is a function ``beta(t) = sum_k c_k phi_k(t)`` with a fixed basis ``phi`` (registry
:data:`FUNCTION_BASES`: cubic B-splines or Fourier) and learnable coefficients ``c``:

    functional linear:       y_j = b_j + sum_c int beta_{jc}(t) x_c(t) dt
    functional convolution:  y_j(s) = b_j + sum_c int_0^w beta_{jc}(u) x_c(s + u) du

Integrals use the trapezoidal rule on the sampling grid. A basis of ``K << n_points`` smooth
functions ties neighbouring samples together (few parameters, smooth filters); the convolution
followed by a maximum over ``s`` is invariant to shifts of the input curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import Registry
from ._bspline import bspline_basis, uniform_grid

FUNCTION_BASES: Registry[Callable[[Tensor, int], Tensor]] = Registry("function basis")


@FUNCTION_BASES.register("bspline")
def _bspline(t: Tensor, n_basis: int) -> Tensor:
    """Cubic B-splines with uniform knots on ``[0, 1]``: ``[n_basis, len(t)]`` (needs ``n_basis >= 4``)."""
    if n_basis < 4:
        raise ValueError(f"the cubic B-spline basis needs n_basis >= 4, got {n_basis}.")
    grid = uniform_grid(1, n_basis - 3, 0.0, 1.0, 3, device=t.device, dtype=t.dtype)
    tt = t.clamp(0.0, 1.0 - 1e-9)[:, None]
    return bspline_basis(tt, grid, 3)[:, 0, :].T


@FUNCTION_BASES.register("fourier")
def _fourier(t: Tensor, n_basis: int) -> Tensor:
    """``1, sin(2 pi t), cos(2 pi t), sin(4 pi t), ...`` on ``[0, 1]``: ``[n_basis, len(t)]``."""
    rows = [torch.ones_like(t)]
    for k in range(1, n_basis):
        freq = 2 * math.pi * ((k + 1) // 2)
        rows.append(torch.sin(freq * t) if k % 2 else torch.cos(freq * t))
    return torch.stack(rows)


def trapezoid_weights(n: int, dt: float, device=None, dtype=None) -> Tensor:
    w = torch.full((n,), dt, device=device, dtype=dtype)
    w[0] = w[-1] = dt / 2
    return w


def _check_curves(x: Tensor, channels: int, points: int | None, name: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3 or x.shape[1] != channels or (points and x.shape[2] != points):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        want = points if points else "time"
        raise ValueError(f"{name} expects sampled curves of shape [batch, {channels}, {want}], got {shape}; "
                         f"add a channel axis with x.unsqueeze(1) or rebuild the layer for this shape.")


class FunctionalLinear(nn.Module):
    """``y_j = b_j + sum_c int beta_jc(t) x_c(t) dt`` with ``beta_jc = sum_k c_jck phi_k``.

    Args:
        in_channels: curves per sample; out_features: outputs; n_points: samples per curve;
        n_basis: basis size; basis: a name in :data:`FUNCTION_BASES`; span: ``t1 - t0``.
    """

    def __init__(self, in_channels: int, out_features: int, n_points: int, n_basis: int = 8, basis: str = "bspline",
                 span: float = 1.0, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if n_points < 2:
            raise ValueError(f"n_points must be >= 2, got {n_points}.")
        fk = {"device": device, "dtype": dtype}
        self.in_channels, self.out_features, self.n_points = in_channels, out_features, n_points
        t = torch.linspace(0.0, 1.0, n_points, **fk)
        phi = FUNCTION_BASES.get(basis)(t, n_basis)                                  # [K, n_points]
        self.register_buffer("quad_basis", phi * trapezoid_weights(n_points, span / (n_points - 1), **fk))
        self.register_buffer("basis", phi)
        self.coef = nn.Parameter(torch.randn(out_features, in_channels, n_basis, **fk) / math.sqrt(in_channels * n_basis))
        self.bias = nn.Parameter(torch.zeros(out_features, **fk))

    def weight_functions(self) -> Tensor:
        """``beta_jc(t)`` on the sampling grid: ``[out, in_channels, n_points]``."""
        return self.coef @ self.basis

    def forward(self, x: Tensor) -> Tensor:
        """``[batch, in_channels, n_points] -> [batch, out_features]``."""
        _check_curves(x, self.in_channels, self.n_points, "FunctionalLinear")
        return torch.einsum("bct,jck,kt->bj", x, self.coef, self.quad_basis) + self.bias


class FunctionalConv1d(nn.Module):
    """Functional convolution ``y_j(s) = b_j + sum_c int_0^w beta_jc(u) x_c(s + u) du`` (valid positions).

    Args:
        in_channels, out_channels: curve channels; kernel_points: samples the kernel spans;
        n_basis, basis: the kernel's basis; dt: sampling step of the input curves.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_points: int, n_basis: int = 6,
                 basis: str = "bspline", dt: float = 1.0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if kernel_points < 2:
            raise ValueError(f"kernel_points must be >= 2, got {kernel_points}.")
        fk = {"device": device, "dtype": dtype}
        self.in_channels, self.out_channels, self.kernel_points = in_channels, out_channels, kernel_points
        u = torch.linspace(0.0, 1.0, kernel_points, **fk)
        phi = FUNCTION_BASES.get(basis)(u, n_basis)
        self.register_buffer("quad_basis", phi * trapezoid_weights(kernel_points, dt, **fk))
        self.coef = nn.Parameter(torch.randn(out_channels, in_channels, n_basis, **fk)
                                 / (math.sqrt(in_channels * n_basis) * dt * kernel_points) * 4)
        self.bias = nn.Parameter(torch.zeros(out_channels, **fk))

    def forward(self, x: Tensor) -> Tensor:
        """``[batch, in_channels, time] -> [batch, out_channels, time - kernel_points + 1]``."""
        _check_curves(x, self.in_channels, None, "FunctionalConv1d")
        if x.shape[-1] < self.kernel_points:
            raise ValueError(f"curves of {x.shape[-1]} samples are shorter than the kernel ({self.kernel_points}).")
        return F.conv1d(x, self.coef @ self.quad_basis, self.bias)


class FunctionalCNN(nn.Module):
    """Shift-invariant functional classifier: functional conv -> ReLU -> max over time -> linear.

    ``forward(x [batch, in_channels, n_points]) -> logits [batch, classes]``.
    """

    def __init__(self, in_channels: int = 1, n_points: int = 100, classes: int = 3, channels: int = 8,
                 kernel_points: int = 25, n_basis: int = 8, basis: str = "bspline",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.in_channels, self.n_points = in_channels, n_points
        self.conv = FunctionalConv1d(in_channels, channels, kernel_points, n_basis, basis, 1.0 / (n_points - 1), **fk)
        self.head = nn.Linear(channels, classes, **fk)

    def forward(self, x: Tensor) -> Tensor:
        _check_curves(x, self.in_channels, self.n_points, "FunctionalCNN")
        return self.head(F.relu(self.conv(x)).amax(-1))

    def example_input(self, batch: int = 4) -> Tensor:
        p = self.head.weight
        return torch.randn(batch, self.in_channels, self.n_points, device=p.device, dtype=p.dtype)
