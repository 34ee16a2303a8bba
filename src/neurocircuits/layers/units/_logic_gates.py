"""Differentiable logic gate networks (DLGN), with the light input-wise gate parametrisation.

Papers: Petersen, Borgelt, Kuehne & Deussen 2022, "Deep Differentiable Logic Gate Networks"
(NeurIPS); Ruettgers et al. 2025, "Light Differentiable Logic Gate Networks" (input-wise
reparametrisation).

Each gate reads two inputs ``a, b`` in [0, 1] through fixed random connections and outputs the
multilinear (probabilistic) extension of a truth table ``T = (T_00, T_01, T_10, T_11)``:

    g(a, b) = T_00 (1-a)(1-b) + T_01 (1-a) b + T_10 a (1-b) + T_11 a b

Two parametrisations of ``T``:

    gate16     T = softmax(z) @ G,  z in R^16, G the 16 binary truth tables (AND, OR, XOR, ...)
               discretised: T = G[argmax z]
    inputwise  T = sigmoid(w),       w in R^4 (one logit per input combination)
               discretised: T = [w > 0]

Both reach all 16 gates when discretised; the input-wise form needs 4 parameters per gate instead
of 16. A :class:`GroupSum` readout sums the gate outputs of each class group and divides by ``tau``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells._common import check_features

# The 16 two-input Boolean functions as truth tables over (a, b) = (0,0), (0,1), (1,0), (1,1).
TRUTH_TABLES = torch.tensor([[(k >> i) & 1 for i in range(4)] for k in range(16)], dtype=torch.float64)
PARAMETRISATIONS = ("inputwise", "gate16")


def soft_gate(table: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Multilinear extension of truth tables ``table [out, 4]`` at inputs ``a, b [..., out]``."""
    t00, t01, t10, t11 = table.unbind(-1)
    return t00 * (1 - a) * (1 - b) + t01 * (1 - a) * b + t10 * a * (1 - b) + t11 * a * b


class LogicGateLayer(nn.Module):
    """``out_features`` two-input logic gates with fixed random connections to ``in_features`` inputs.

    Args:
        in_features, out_features: sizes. param: ``"inputwise"`` (4 logits per gate) or ``"gate16"``.
        seed: seed of the random connections (every input is used about equally often).

    ``forward(x [..., in], hard=False)``; ``hard=True`` evaluates the discretised gates.
    """

    def __init__(self, in_features: int, out_features: int, param: str = "inputwise", seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if param not in PARAMETRISATIONS:
            raise ValueError(f"param must be one of {PARAMETRISATIONS}, got {param!r}.")
        if in_features < 2 or out_features < 1:
            raise ValueError(f"a gate layer needs in_features >= 2 and out_features >= 1, got {in_features}, "
                             f"{out_features}.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.out_features, self.param = in_features, out_features, param
        gen = torch.Generator().manual_seed(seed)
        idx = torch.cat([torch.randperm(in_features, generator=gen) for _ in range(-(-2 * out_features // in_features))])
        a_idx, b_idx = idx[: 2 * out_features].view(2, out_features)
        clash = a_idx == b_idx                                       # never wire a gate to one input twice
        b_idx = torch.where(clash, (b_idx + 1) % in_features, b_idx)
        self.register_buffer("a_idx", a_idx.to(device))
        self.register_buffer("b_idx", b_idx.to(device))
        self.logits = nn.Parameter(torch.randn(out_features, 4 if param == "inputwise" else 16, **fk))
        self.register_buffer("tables", TRUTH_TABLES.to(device=device, dtype=self.logits.dtype))

    def table(self, hard: bool = False) -> Tensor:
        """Truth tables ``[out, 4]`` (soft, or the discretised 0/1 tables)."""
        if self.param == "inputwise":
            return (self.logits > 0).to(self.logits.dtype) if hard else self.logits.sigmoid()
        if hard:
            return self.tables[self.logits.argmax(-1)]
        return self.logits.softmax(-1) @ self.tables

    def forward(self, x: Tensor, hard: bool = False) -> Tensor:
        check_features(x, self.in_features, "LogicGateLayer")
        return soft_gate(self.table(hard), x[..., self.a_idx], x[..., self.b_idx])


class LogicGateNet(nn.Module):
    """Stack of logic gate layers and a group-sum readout: ``[..., in] -> [..., classes]`` scores.

    Args:
        in_features: binary (or [0, 1]) inputs; widths: gates per layer (the last divisible by
            ``classes``); classes: output groups; tau: group-sum temperature; param: gate parametrisation.
    """

    def __init__(self, in_features: int = 16, widths: tuple[int, ...] = (64, 64), classes: int = 4,
                 tau: float = 1.0, param: str = "inputwise", seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not widths or widths[-1] % classes:
            raise ValueError(f"the last gate layer width ({widths[-1] if widths else None}) must be a positive "
                             f"multiple of classes={classes}.")
        if not tau > 0:
            raise ValueError(f"tau must be > 0, got {tau}.")
        fk = {"device": device, "dtype": dtype}
        sizes = (in_features, *widths)
        self.layers = nn.ModuleList(LogicGateLayer(a, b, param, seed + i, **fk)
                                    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))
        self.in_features, self.classes, self.tau = in_features, classes, float(tau)

    def forward(self, x: Tensor, hard: bool = False) -> Tensor:
        for layer in self.layers:
            x = layer(x, hard)
        return x.unflatten(-1, (self.classes, -1)).sum(-1) / self.tau

    def n_gate_parameters(self) -> int:
        return sum(layer.logits.numel() for layer in self.layers)

    def example_input(self, batch: int = 4) -> Tensor:
        p = self.layers[0].logits
        return torch.randint(0, 2, (batch, self.in_features), device=p.device).to(p.dtype)
