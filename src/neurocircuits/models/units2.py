"""More alternative units (round 2 of group 5).

Multiplet networks (Frick 2020): neurons compute weighted Lehmer means
``L_p(x; w) = sum w_i x_i^p / sum w_i x_i^(p-1)`` or Gini means
``G_{r,s} = (sum w_i x_i^r / sum w_i x_i^s)^(1/(r-s))`` of positive inputs, in groups (multiplets)
sharing ``w``; see :mod:`neurocircuits.layers.units._multiplet`.

Light differentiable logic gate networks (Petersen et al. 2022; Ruettgers et al. 2025): two-input
gates ``g(a, b) = sum_{ij} T_ij [a=i][b=j]`` relaxed multilinearly, truth tables ``T = sigmoid(w)``
(input-wise, 4 parameters) or ``softmax(z) @ G`` (16 gates); see
:mod:`neurocircuits.layers.units._logic_gates`.

Functional neural networks (Heinrichs et al. 2023): weights ``beta(t) = sum_k c_k phi_k(t)`` in a
B-spline or Fourier basis; functional convolution ``y(s) = int beta(u) x(s + u) du``; see
:mod:`neurocircuits.layers.units._functional_layers`.

Neural module networks with learned internals (Andreas et al. 2016; Pahuja et al. 2019): modules
``m_k = sum_j softmax(alpha_k)_j p_j`` over arithmetic primitives, token-to-module selection
``softmax(E[o])``; see :mod:`neurocircuits.layers.units._nmn`.
"""

from __future__ import annotations

import torch

from ..layers.units import FunctionalCNN, LogicGateNet, MultipletNet, NMNArithmetic
from ._registry import register_model


@register_model("multiplet_net", family="units", paper="Frick 2020, Multiplet Neural Networks (arXiv:2006.01606)")
def multiplet_net(widths: tuple[int, ...] = (2, 4, 1), size: int = 4, mean: str = "lehmer",
                  device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> MultipletNet:
    """Multiplet layers (hidden widths count multiplets of ``size`` neurons) and a linear readout."""
    return MultipletNet(widths, size, mean, device=device, dtype=dtype)


@register_model("logic_gate_net", family="units",
                paper="Petersen et al. 2022, Deep Differentiable Logic Gate Networks; Ruettgers et al. 2025, Light DLGN")
def logic_gate_net(in_features: int = 16, widths: tuple[int, ...] = (64, 64), classes: int = 4, tau: float = 1.0,
                   param: str = "inputwise", seed: int = 0, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> LogicGateNet:
    """Logic gate layers with fixed random wiring and a group-sum readout (``forward(x, hard=False)``)."""
    return LogicGateNet(in_features, widths, classes, tau, param, seed, device=device, dtype=dtype)


@register_model("functional_cnn", family="units",
                paper="Heinrichs, Heim & Weber 2023, Functional neural networks (ICML)")
def functional_cnn(in_channels: int = 1, n_points: int = 100, classes: int = 3, channels: int = 8,
                   kernel_points: int = 25, n_basis: int = 8, basis: str = "bspline",
                   device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FunctionalCNN:
    """Functional convolution (basis-expanded kernels) -> ReLU -> max over time -> linear classifier."""
    return FunctionalCNN(in_channels, n_points, classes, channels, kernel_points, n_basis, basis,
                         device=device, dtype=dtype)


@register_model("nmn_arithmetic", family="units",
                paper="Andreas et al. 2016, Neural Module Networks; Pahuja et al. 2019, structure learning for NMNs")
def nmn_arithmetic(n_op_tokens: int = 4, n_modules: int = 4, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> NMNArithmetic:
    """Arithmetic-program executor with learned module internals and learned module selection."""
    return NMNArithmetic(n_op_tokens, n_modules, device=device, dtype=dtype)
