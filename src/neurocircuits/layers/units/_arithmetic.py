"""Neural Addition and Multiplication Units (Madsen & Johansen, ICLR 2020, "Neural Arithmetic Units").

    NAU:  y = W x,                                W clamped to [-1, 1]
    NMU:  y_j = prod_i (W_ij x_i + 1 - W_ij),      W clamped to [0, 1]

Both are pushed to discrete weights ({-1, 0, 1} and {0, 1}) by the sparsity regulariser
``R = mean_ij min(|W_ij|, 1 - |W_ij|)``; discrete weights make the units compute exact sums and
products, which therefore extrapolate far outside the training range.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..cells._common import check_features


class NAU(nn.Module):
    """Neural Addition Unit ``[..., in] -> [..., out]``."""

    def __init__(self, in_features: int, out_features: int, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        r = min(0.5, math.sqrt(3.0 / (in_features + out_features)))  # Xavier-uniform, inside [-0.5, 0.5]
        self.weight = nn.Parameter(torch.empty(out_features, in_features, device=device, dtype=dtype).uniform_(-r, r))

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "NAU")
        return x @ self.weight.clamp(-1, 1).T

    def regularization(self) -> Tensor:
        w = self.weight.clamp(-1, 1).abs()
        return torch.minimum(w, 1 - w).mean()

    @torch.no_grad()
    def clamp_(self) -> None:
        self.weight.clamp_(-1, 1)

    def example_input(self, batch: int = 4) -> Tensor:
        return torch.randn(batch, self.in_features, device=self.weight.device, dtype=self.weight.dtype)


class NMU(nn.Module):
    """Neural Multiplication Unit ``[..., in] -> [..., out]``."""

    def __init__(self, in_features: int, out_features: int, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.full((out_features, in_features), 0.5, device=device, dtype=dtype)
                                   + torch.empty(out_features, in_features, device=device, dtype=dtype).uniform_(-0.25, 0.25))

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "NMU")
        w = self.weight.clamp(0, 1)
        return torch.prod(w * x.unsqueeze(-2) + 1 - w, dim=-1)

    def regularization(self) -> Tensor:
        w = self.weight.clamp(0, 1)
        return torch.minimum(w, 1 - w).mean()

    @torch.no_grad()
    def clamp_(self) -> None:
        self.weight.clamp_(0, 1)

    def example_input(self, batch: int = 4) -> Tensor:
        return torch.rand(batch, self.in_features, device=self.weight.device, dtype=self.weight.dtype) + 0.5
