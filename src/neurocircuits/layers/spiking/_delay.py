"""Learnable heterogeneous synaptic delays in temporal-convolution form (Grimaldi & Perrinet 2023,
"Learning heterogeneous delays in a layer of spiking neurons for fast motion detection"; the
Gaussian delay kernel of DCLS, Hammouamri et al. 2023).

Each synapse ``i -> j`` has a weight ``w_ji`` and a real-valued delay ``tau_ji`` in ``[0, D-1]``
steps, spread over the integer lags by a normalised Gaussian of width ``sigma``:

    K_ji(d) = w_ji * exp(-(d - tau_ji)^2 / (2 sigma^2)) / sum_d' exp(-(d' - tau_ji)^2 / (2 sigma^2))
    y_t[j]  = b_j + sum_i sum_{d=0}^{D-1} K_ji(d) x_{t-d}[i]

so weights and delays are both trained by gradient descent; the layer is one ``conv1d`` over time.
:meth:`DelayLinear.prune` keeps only the largest-magnitude weights (mask).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._time import check_time_first


class DelayState(NamedTuple):
    """The last ``max_delay - 1`` input steps, ``(max_delay - 1, batch, in_features)``."""

    buffer: Tensor


class DelayLinear(nn.Module):
    """Linear layer whose synapses have learnable weights and learnable delays (see module docstring).

    Args:
        in_features, out_features: sizes.
        max_delay: number of integer lags ``D`` (delays lie in ``[0, D-1]``).
        sigma: width of the Gaussian delay kernel, in steps.
        learn_delays: train the delays (else they stay at their random initial values).
    """

    def __init__(self, in_features: int, out_features: int, max_delay: int = 12, sigma: float = 1.0,
                 learn_delays: bool = True, bias: bool = True) -> None:
        super().__init__()
        if max_delay < 1 or sigma <= 0:
            raise ValueError(f"max_delay must be >= 1 and sigma > 0, got {max_delay}, {sigma}.")
        self.in_features, self.out_features, self.max_delay, self.sigma = in_features, out_features, max_delay, sigma
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / in_features**0.5)
        init = torch.rand(out_features, in_features) * (max_delay - 1)
        self.delay = nn.Parameter(init) if learn_delays else nn.Parameter(init, requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def kernel(self) -> Tensor:
        """``K (out, in, D)``: the effective weight at each lag."""
        d = torch.arange(self.max_delay, dtype=self.weight.dtype, device=self.weight.device)
        tau = self.delay.clamp(0, self.max_delay - 1).unsqueeze(-1)
        g = torch.softmax(-((d - tau) ** 2) / (2 * self.sigma**2), dim=-1)
        return (self.weight * self.mask).unsqueeze(-1) * g

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        """``x``: time-first ``(time, batch, in)``; returns ``(time, batch, out)`` and the input buffer."""
        check_time_first(x, (self.in_features,), "DelayLinear")
        T, B, _ = x.shape
        D = self.max_delay
        buf = state.buffer if state is not None else x.new_zeros(D - 1, B, self.in_features)
        xp = torch.cat([buf, x], 0)  # (T + D - 1, B, in)
        y = nn.functional.conv1d(xp.permute(1, 2, 0), self.kernel().flip(-1), self.bias)  # (B, out, T)
        return y.permute(2, 0, 1), DelayState(xp[xp.shape[0] - (D - 1):])

    @torch.no_grad()
    def prune(self, fraction: float) -> None:
        """Zero (and keep zero) the ``fraction`` of synapses with the smallest ``|w|``."""
        if not 0 <= fraction < 1:
            raise ValueError(f"fraction must be in [0, 1), got {fraction}.")
        k = int(round(fraction * self.weight.numel()))
        self.mask.fill_(1.0)
        if k:
            idx = (self.weight * self.mask).abs().flatten().argsort()[:k]
            self.mask.view(-1)[idx] = 0.0

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, sigma={self.sigma}"
