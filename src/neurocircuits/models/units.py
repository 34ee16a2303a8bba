"""Arithmetic units: Neural Addition / Multiplication Units (Madsen & Johansen, ICLR 2020).

NAU ``y = W x`` with ``W`` in [-1, 1]; NMU ``y_j = prod_i (W_ij x_i + 1 - W_ij)`` with ``W`` in [0, 1];
sparsity regulariser ``mean min(|W|, 1 - |W|)`` drives the weights to exact {-1, 0, 1} / {0, 1}.
"""

from __future__ import annotations

import torch

from ..layers.units import NAU, NMU
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
