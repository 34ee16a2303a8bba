"""Spiking Legendre Memory Unit (L2MU, Pan et al. 2024; LMU, Voelker et al. 2019).

The LMU keeps a linear memory ``m (d,)`` that holds the Legendre coefficients of its input ``u``
over a sliding window of ``theta`` steps:

    theta dm/dt = A m + B u,   A_ij = (2i+1) (-1 if i < j else (-1)^(i-j+1)),   B_i = (2i+1) (-1)^i

discretised by zero-order hold (``Abar = expm(A/theta)``, ``Bbar = A^-1 (Abar - I) B``). One step:

    u_t = e_x . x_t + e_h . h_{t-1} + e_m . m_{t-1}
    m_t = Abar m_{t-1} + Bbar u_t
    h_t = f(W_x x_t + W_h h_{t-1} + W_m m_t)

The non-spiking LMU uses ``f = tanh``. The L2MU replaces ``f`` by a LIF population (surrogate-
gradient spikes, ``h_t`` = spikes) and feeds the memory through a real-to-spike input population
(``x_t -> LIF(W_in x_t)``); the class scores are a linear read-out of the hidden spike counts.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..functional.surrogate import spike
from ..layers.hooks import HookPoint
from ..layers.spiking import TimeAxisError
from ._registry import register_model


def lmu_matrices(order: int, theta: float) -> tuple[Tensor, Tensor]:
    """ZOH-discretised ``(Abar (d, d), Bbar (d,))`` of the Legendre delay system with window ``theta`` steps."""
    from scipy.linalg import expm

    q = np.arange(order, dtype=np.float64)
    r = (2 * q + 1)[:, None]
    i, j = np.meshgrid(q, q, indexing="ij")
    A = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    B = ((-1.0) ** q) * (2 * q + 1)
    Ad = expm(A / theta)
    Bd = np.linalg.solve(A, (Ad - np.eye(order)) @ B)  # (A/theta)^-1 (Ad - I) (B/theta)
    return torch.tensor(Ad, dtype=torch.float32), torch.tensor(Bd, dtype=torch.float32)


class LMUState(NamedTuple):
    h: Tensor  # hidden (spikes for the L2MU)
    m: Tensor  # Legendre memory
    v: Tensor  # hidden membrane (zeros for the non-spiking LMU)
    v_in: Tensor  # input-population membrane


class SpikingLMU(nn.Module):
    """L2MU (``spiking=True``) or the non-spiking LMU baseline (``spiking=False``), time-first."""

    def __init__(self, in_features: int = 8, hidden: int = 64, order: int = 16, theta: float = 8.0, out_features: int = 10,
                 spiking: bool = True, tau_mem_ms: float = 20.0, dt_ms: float = 1.0, threshold: float = 0.5,
                 surrogate: str = "atan", time_steps: int | None = None, device=None, dtype=None) -> None:
        super().__init__()
        self.in_features, self.hidden, self.order, self.spiking = in_features, hidden, order, spiking
        self.time_steps, self.decoder = time_steps, "count"
        Ad, Bd = lmu_matrices(order, theta)
        self.register_buffer("Abar", Ad)
        self.register_buffer("Bbar", Bd)
        self.in_pop = nn.Linear(in_features, in_features) if spiking else nn.Identity()
        self.e_x, self.e_h, self.e_m = nn.Linear(in_features, 1), nn.Linear(hidden, 1, bias=False), nn.Linear(order, 1, bias=False)
        self.W_x, self.W_h, self.W_m = nn.Linear(in_features, hidden), nn.Linear(hidden, hidden, bias=False), nn.Linear(order, hidden, bias=False)
        self.readout = nn.Linear(hidden, out_features)
        self.a = float(np.exp(-dt_ms / tau_mem_ms))
        self.threshold, self.surrogate = threshold, surrogate
        self.hook_hidden = HookPoint()
        self.hook_memory = HookPoint()
        self.to(device=device, dtype=dtype)

    def _lif(self, v: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        h = self.a * v + x
        s = spike(h - self.threshold, self.surrogate)
        return s, h - self.threshold * s.detach()

    def example_input(self, batch: int) -> Tensor:
        """A valid time-first input ``(8, batch, in_features)`` (zoo smoke-test protocol)."""
        p = self.W_x.weight
        return torch.rand(self.time_steps or 8, batch, self.in_features, dtype=p.dtype, device=p.device)

    def forward(self, x: Tensor, state: LMUState | None = None) -> tuple[Tensor, LMUState]:
        """``x (time, batch, in)`` -> per-step class scores ``(time, batch, out)`` (decode: sum over time)."""
        if x.dim() != 3 or x.shape[-1] != self.in_features:
            raise TimeAxisError(f"SpikingLMU expects time-first (time, batch, {self.in_features}), got {tuple(x.shape)}.")
        T, B, _ = x.shape
        z = x.new_zeros
        h, m, v, v_in = state if state is not None else (z(B, self.hidden), z(B, self.order), z(B, self.hidden), z(B, self.in_features))
        outs, hs, ms = [], [], []
        for t in range(T):
            xt = x[t]
            if self.spiking:  # real-to-spike input population
                xt, v_in = self._lif(v_in, self.in_pop(xt))
            u = self.e_x(xt) + self.e_h(h) + self.e_m(m)
            m = m @ self.Abar.T + u * self.Bbar
            pre = self.W_x(xt) + self.W_h(h) + self.W_m(m)
            if self.spiking:
                h, v = self._lif(v, pre)
            else:
                h = torch.tanh(pre)
            outs.append(self.readout(h))
            hs.append(h)
            ms.append(m)
        self.hook_hidden(torch.stack(hs))
        self.hook_memory(torch.stack(ms))
        return torch.stack(outs), LMUState(h, m, v, v_in)


@register_model("spiking_lmu", family="spiking", paper="Pan et al. 2024 (L2MU); Voelker et al. 2019 (LMU)")
def spiking_lmu(**cfg: Any) -> SpikingLMU:
    return SpikingLMU(**cfg)
