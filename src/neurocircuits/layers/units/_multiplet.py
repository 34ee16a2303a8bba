"""Multiplet neurons: weighted Lehmer and Gini means in place of the dot product.

Paper: Frick 2020, "An Informal Introduction to Multiplet Neural Networks" (arXiv:2006.01606).

A *multiplet* is a group of ``m`` neurons that share one vector of positive averaging weights ``w``
but each has its own generalisation parameter(s). For positive inputs ``x`` (plus a constant input
``x_0 = 1`` so a layer can emulate truncated power series):

    Lehmer:  L_p(x; w)     = sum_i w_i x_i^p / sum_i w_i x_i^(p-1)
    Gini:    G_{r,s}(x; w) = (sum_i w_i x_i^r / sum_i w_i x_i^s)^(1 / (r - s))

``p = 1`` is the weighted arithmetic mean, ``p = 0`` the harmonic mean, ``p = 1/2`` (two equal
inputs) the geometric mean; ``p -> +inf / -inf`` tend to max / min. The Gini mean contains the
power means (``s = 0``) and, as ``r -> s``, the weighted geometric mean
``exp(sum_i w_i x_i^s log x_i / sum_i w_i x_i^s)``, used when ``|r - s| < 1e-4``. Everything is computed in
the log domain (``x^p = exp(p log x)`` with ``logsumexp``) so large ``|p|`` stays finite. Outputs
are positive, so multiplet layers stack; a linear readout maps the last one to targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells._common import check_features


class MultipletLayer(nn.Module):
    """A layer of ``multiplets`` multiplets of ``size`` neurons each (``multiplets * size`` outputs).

    Args:
        in_features: inputs (must be positive; values below ``eps`` are clamped to ``eps``).
        multiplets: number of weight-sharing groups; size: neurons per group.
        mean: ``"lehmer"`` (one parameter ``p`` per neuron) or ``"gini"`` (``r`` and ``s`` per neuron).
        p_range: initial generalisation parameters are spread evenly over this range in each multiplet.
        bias_input: append the constant input ``1`` (lets a layer emulate power series).
    """

    def __init__(self, in_features: int, multiplets: int, size: int = 4, mean: str = "lehmer",
                 p_range: tuple[float, float] = (-1.0, 3.0), bias_input: bool = True, eps: float = 1e-6,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if mean not in ("lehmer", "gini"):
            raise ValueError(f"mean must be 'lehmer' or 'gini', got {mean!r}.")
        if min(in_features, multiplets, size) < 1:
            raise ValueError("in_features, multiplets and size must be >= 1.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.multiplets, self.size = in_features, multiplets, size
        self.mean, self.bias_input, self.eps = mean, bias_input, eps
        n_in = in_features + int(bias_input)
        self.raw_weight = nn.Parameter(torch.randn(multiplets, n_in, **fk) * 0.5)     # w = softplus(raw)
        p0 = torch.linspace(p_range[0], p_range[1], size, **fk).expand(multiplets, size).clone()
        self.p = nn.Parameter(p0)                                                     # Lehmer p, or Gini r
        if mean == "gini":
            self.s = nn.Parameter(p0 - 1.0)                                           # r - s starts at 1

    @property
    def out_features(self) -> int:
        return self.multiplets * self.size

    def weight(self) -> Tensor:
        """Positive averaging weights ``[multiplets, inputs]``."""
        return F.softplus(self.raw_weight)

    def forward(self, x: Tensor) -> Tensor:
        """``[..., in_features]`` positive -> ``[..., multiplets * size]`` positive."""
        check_features(x, self.in_features, "MultipletLayer")
        if self.bias_input:
            x = torch.cat([x, torch.ones_like(x[..., :1])], dim=-1)
        logx = x.clamp_min(self.eps).log()[..., None, None, :]                 # [..., 1, 1, in]
        logw = self.weight().log()[:, None, :]                                  # [mult, 1, in]
        p = self.p[..., None]                                                   # [mult, size, 1]
        num = torch.logsumexp(logw + p * logx, dim=-1)                          # [..., mult, size]
        if self.mean == "lehmer":
            out = num - torch.logsumexp(logw + (p - 1.0) * logx, dim=-1)
        else:
            d = self.p - self.s
            near = d.abs() < 1e-4                          # r -> s: d/dr log sum w x^r (geometric-type limit)
            log_den_terms = logw + self.s[..., None] * logx
            den = torch.logsumexp(log_den_terms, dim=-1)
            limit = (log_den_terms.softmax(-1) * logx).sum(-1)
            out = torch.where(near, limit, (num - den) / torch.where(near, torch.ones_like(d), d))
        return out.exp().flatten(-2)


class MultipletNet(nn.Module):
    """Multiplet layers followed by a linear readout: ``widths = [in, multiplets_1, ..., out]``.

    Hidden widths count multiplets; each has ``size`` neurons. ``forward(x [..., in]) -> [..., out]``.
    """

    def __init__(self, widths: tuple[int, ...] = (2, 4, 1), size: int = 4, mean: str = "lehmer",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if len(widths) < 3:
            raise ValueError(f"widths needs at least [in, multiplets, out], got {list(widths)}.")
        fk = {"device": device, "dtype": dtype}
        layers: list[nn.Module] = []
        n = widths[0]
        for m in widths[1:-1]:
            layers.append(MultipletLayer(n, m, size, mean, **fk))
            n = m * size
        self.layers = nn.Sequential(*layers)
        self.readout = nn.Linear(n, widths[-1], **fk)
        self.in_features = widths[0]

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.layers(x))

    def example_input(self, batch: int = 4) -> Tensor:
        p = self.readout.weight
        return torch.rand(batch, self.in_features, device=p.device, dtype=p.dtype) + 0.5
