"""Alternative neuron models: APTx neurons and quadratic neurons with the ReLinear schedule.

APTx neuron (Kumar, 2023, "APTx Neuron: A Unified Trainable Neuron Architecture Integrating
Activation and Computation"): every input gets its own trainable activation-and-weight,

    y_j = sum_i (alpha_ji + tanh(beta_ji x_i)) gamma_ji x_i + delta_j,

so a layer needs no separate activation function.

Quadratic neuron (Fan, Xiong, Wang; Fan et al. 2023, "One Neuron Saved Is One Neuron Earned: On
Parametric Efficiency of Quadratic Networks", with the ReLinear training strategy):

    y = (w_r . x + b_r)(w_g . x + b_g) + w_b . (x * x) + c.

ReLinear initialises ``w_g = 0, b_g = 1, w_b = 0`` (the neuron starts as a linear neuron) and
trains the quadratic parameters with a smaller learning rate (:func:`relinear_param_groups`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..cells._common import check_features


class APTxLinear(nn.Module):
    """APTx neuron layer ``[..., in] -> [..., out]`` (no separate activation needed)."""

    def __init__(self, in_features: int, out_features: int, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        bound = 1 / math.sqrt(in_features)
        self.alpha = nn.Parameter(torch.ones(out_features, in_features, **fk))
        self.beta = nn.Parameter(torch.ones(out_features, in_features, **fk))
        self.gamma = nn.Parameter(torch.empty(out_features, in_features, **fk).uniform_(-bound, bound))
        self.delta = nn.Parameter(torch.zeros(out_features, **fk))

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "APTxLinear")
        xe = x.unsqueeze(-2)  # [..., 1, in]
        return ((self.alpha + torch.tanh(self.beta * xe)) * self.gamma * xe).sum(-1) + self.delta

    def example_input(self, batch: int = 4) -> Tensor:
        return torch.randn(batch, self.in_features, device=self.gamma.device, dtype=self.gamma.dtype)


class QuadraticLinear(nn.Module):
    """Layer of quadratic neurons ``(W_r x + b_r)(W_g x + b_g) + W_b x^2 + c`` (ReLinear init)."""

    def __init__(self, in_features: int, out_features: int, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.r = nn.Linear(in_features, out_features, **fk)
        self.g = nn.Linear(in_features, out_features, **fk)
        self.b = nn.Linear(in_features, out_features, **fk)
        with torch.no_grad():  # ReLinear: start as a linear neuron
            self.g.weight.zero_()
            self.g.bias.fill_(1.0)
            self.b.weight.zero_()
            self.b.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        check_features(x, self.in_features, "QuadraticLinear")
        return self.r(x) * self.g(x) + self.b(x * x)

    def example_input(self, batch: int = 4) -> Tensor:
        w = self.r.weight
        return torch.randn(batch, self.in_features, device=w.device, dtype=w.dtype)


def relinear_param_groups(model: nn.Module, lr: float, quadratic_lr_scale: float = 0.1) -> list[dict[str, Any]]:
    """Optimizer parameter groups for ReLinear: the quadratic parts (``g`` and ``b`` of every
    :class:`QuadraticLinear`) get ``lr * quadratic_lr_scale``, everything else ``lr``."""
    quad = {id(p) for m in model.modules() if isinstance(m, QuadraticLinear) for p in (*m.g.parameters(), *m.b.parameters())}
    rest = [p for p in model.parameters() if id(p) not in quad]
    quad_params = [p for p in model.parameters() if id(p) in quad]
    return [{"params": rest, "lr": lr}, {"params": quad_params, "lr": lr * quadratic_lr_scale}]
