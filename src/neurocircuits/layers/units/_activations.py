"""Learnable and unusual activations: rational (Pade) activation units and the hysteresis ReLU.

Pade Activation Unit (Molina, Schramowski & Kersting, ICLR 2020; "safe" form):

    R(x) = (a_0 + a_1 x + ... + a_m x^m) / (1 + |b_1 x + ... + b_n x^n|),

initialised by least squares to a leaky ReLU, one set of coefficients per layer (``shared``) or per
channel. The denominator is >= 1, so R has no poles.

Hysteresis ReLU (HeLU): the forward pass is ``relu(x)`` but the backward pass lets gradients through
for ``x > -alpha`` (a lower threshold), so a neuron whose pre-activations sit slightly below zero
still receives gradient and can recover instead of dying.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class RationalActivation(nn.Module):
    """Safe Pade activation unit of degrees ``(m, n)`` (default ``(5, 4)``).

    Args:
        channels: None for one shared function, else one per feature of the last axis.
        init: ``"leaky_relu"`` (slope 0.01) or ``"identity"``.
    """

    def __init__(self, m: int = 5, n: int = 4, channels: int | None = None, init: str = "leaky_relu",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if init not in ("leaky_relu", "identity"):
            raise ValueError(f"init must be 'leaky_relu' or 'identity', got {init!r}.")
        a, b = _fit_init(m, n, init)
        shape = (channels,) if channels else ()
        fk = {"device": device, "dtype": dtype}
        self.a = nn.Parameter(a.to(**fk).expand(*shape, m + 1).clone())
        self.b = nn.Parameter(b.to(**fk).expand(*shape, n).clone())
        self.m, self.n, self.channels = m, n, channels

    def forward(self, x: Tensor) -> Tensor:
        if self.channels and x.shape[-1] != self.channels:
            raise ValueError(f"RationalActivation has {self.channels} channels but the input's last axis is "
                             f"{x.shape[-1]}; build it with channels={x.shape[-1]} or channels=None.")
        powers = x.unsqueeze(-1) ** torch.arange(max(self.m, self.n) + 1, device=x.device, dtype=x.dtype)
        num = (powers[..., : self.m + 1] * self.a).sum(-1)
        den = 1 + (powers[..., 1: self.n + 1] * self.b).sum(-1).abs()
        return num / den


def _fit_init(m: int, n: int, init: str) -> tuple[Tensor, Tensor]:
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    target = torch.where(x > 0, x, 0.01 * x) if init == "leaky_relu" else x.clone()
    a = torch.zeros(m + 1, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():  # linearised least squares start: num ~ target * (1 + b.x) with b = 0
        A = x.unsqueeze(-1) ** torch.arange(m + 1, dtype=torch.float64)
        a.copy_(torch.linalg.lstsq(A, target.unsqueeze(-1)).solution[:, 0])
    opt = torch.optim.LBFGS([a, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> Tensor:
        opt.zero_grad()
        pw = x.unsqueeze(-1) ** torch.arange(max(m, n) + 1, dtype=torch.float64)
        r = (pw[:, : m + 1] * a).sum(-1) / (1 + (pw[:, 1: n + 1] * b).sum(-1).abs())
        loss = ((r - target) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return a.detach().float(), b.detach().float()


class _HysteresisReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.relu(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad * (x > -ctx.alpha).to(grad.dtype), None


class HeLU(nn.Module):
    """Hysteresis ReLU: ``relu`` forward, gradient gate at ``x > -alpha`` backward."""

    def __init__(self, alpha: float = 0.5) -> None:
        super().__init__()
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0 (alpha = 0 is a plain ReLU), got {alpha}.")
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return _HysteresisReLU.apply(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class PadeLinear(nn.Module):
    """Pade neurons (PAON; Keles, Yilmaz & Tekalp 2021, "PAON: A New Neuron Model using Pade
    Approximants"): each output is a ratio of learnable polynomials of the inputs,

        y_j = (c_j + sum_{k=1..m} A_k[j] . x^k) / (1 + |sum_{k=1..n} B_k[j] . x^k|),

    with elementwise powers ``x^k``; a drop-in replacement for ``nn.Linear`` (``m=1, B=0`` is
    exactly a linear layer).
    """

    def __init__(self, in_features: int, out_features: int, m: int = 3, n: int = 2,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if m < 1 or n < 1:
            raise ValueError(f"polynomial degrees must be >= 1, got m={m}, n={n}.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.out_features, self.m, self.n = in_features, out_features, m, n
        bound = 1 / in_features**0.5
        self.A = nn.Parameter(torch.empty(m, out_features, in_features, **fk).uniform_(-bound, bound) /
                              torch.arange(1, m + 1, **fk).view(-1, 1, 1))
        # small random denominator (|.| has zero gradient at exactly 0, so B = 0 would never move)
        self.B = nn.Parameter(torch.empty(n, out_features, in_features, **fk).uniform_(-0.1, 0.1))
        self.c = nn.Parameter(torch.zeros(out_features, **fk))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"PadeLinear expects [..., {self.in_features}], got {tuple(x.shape)}.")
        k = max(self.m, self.n)
        powers = x.unsqueeze(0) ** torch.arange(1, k + 1, device=x.device, dtype=x.dtype).view(-1, *[1] * x.dim())
        num = torch.einsum("k...i,koi->...o", powers[: self.m], self.A) + self.c
        den = 1 + torch.einsum("k...i,koi->...o", powers[: self.n], self.B).abs()
        return num / den
