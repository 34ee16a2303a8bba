"""Alternative units: Neural Addition / Multiplication Units (Madsen & Johansen, ICLR 2020), APTx and
quadratic neurons (see :mod:`neurocircuits.layers.units`).

NAU ``y = W x`` with ``W`` in [-1, 1]; NMU ``y_j = prod_i (W_ij x_i + 1 - W_ij)`` with ``W`` in [0, 1];
sparsity regulariser ``mean min(|W|, 1 - |W|)`` drives the weights to exact {-1, 0, 1} / {0, 1}.
"""

from __future__ import annotations

import torch
from torch import nn

from ..layers.units import NAU, NMU, APTxLinear, QuadraticLinear
from ._registry import register_model

_PAPER = "Madsen & Johansen 2020, Neural Arithmetic Units (ICLR)"


@register_model("nau", family="units", paper=_PAPER)
def nau(in_features: int = 4, out_features: int = 1, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None) -> NAU:
    """Neural Addition Unit."""
    return NAU(in_features, out_features, device=device, dtype=dtype)


@register_model("nmu", family="units", paper=_PAPER)
def nmu(in_features: int = 4, out_features: int = 1, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None) -> NMU:
    """Neural Multiplication Unit."""
    return NMU(in_features, out_features, device=device, dtype=dtype)


class _Stack(nn.Sequential):
    """A feed-forward stack of one layer type with widths ``[in, ..., out]``."""

    def __init__(self, layers: list[nn.Module], in_features: int) -> None:
        super().__init__(*layers)
        self.in_features = in_features

    def example_input(self, batch: int = 4) -> torch.Tensor:
        p = next(self.parameters())
        return torch.randn(batch, self.in_features, device=p.device, dtype=p.dtype)


@register_model("aptx_mlp", family="units", paper="Kumar 2023, APTx Neuron")
def aptx_mlp(widths: tuple[int, ...] = (4, 8, 2), device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> nn.Module:
    """Stack of APTx neuron layers ``y = sum_i (alpha + tanh(beta x_i)) gamma x_i + delta`` (no activations)."""
    return _Stack([APTxLinear(a, b, device=device, dtype=dtype) for a, b in zip(widths[:-1], widths[1:])], widths[0])


@register_model("quadratic_mlp", family="units", paper="Fan et al. 2023, quadratic networks with ReLinear")
def quadratic_mlp(widths: tuple[int, ...] = (2, 4, 2), device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> nn.Module:
    """Quadratic neurons ``(W_r x + b_r)(W_g x + b_g) + W_b x^2 + c`` with ReLU between layers."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(QuadraticLinear(a, b, device=device, dtype=dtype))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return _Stack(layers, widths[0])
