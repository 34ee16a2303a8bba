"""Expressive Leaky Memory (ELM) neuron (Spieler, Rahaman, Martius, Schoelkopf & Levina, ICLR 2024,
"The Expressive Leaky Memory Neuron: an Efficient and Expressive Phenomenological Neuron Model Can
Solve Long-Horizon Tasks").

A phenomenological neuron with ``d_m`` memory units of learnable timescales ``tau`` and an MLP that
integrates the synaptic input with the memory:

    Delta m_t = lambda * tanh(MLP([w_s * x_t, w_p * m_{t-1}]))
    m_t       = kappa * m_{t-1} + (1 - kappa) * Delta m_t,      kappa = exp(-dt / tau)
    y_t       = W_y m_t

``tau`` is initialised log-uniformly in ``[tau_min, tau_max]`` and kept positive through its log;
slow memory units let one neuron hold information over long delays. ELM layers stack (the output
``y`` of one is the input of the next, see :class:`ELM` ``layers``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..hooks import HookPoint
from ._common import check_sequence, check_state


class ELMState(NamedTuple):
    """Memory ``[batch, d_memory]`` of every stacked ELM layer (a tuple, one entry per layer)."""

    m: tuple[Tensor, ...]


class ELMLayer(nn.Module):
    """One ELM neuron layer (see the module docstring)."""

    def __init__(self, in_features: int, d_memory: int = 16, d_mlp: int = 32, out_features: int = 1,
                 tau_min: float = 1.0, tau_max: float = 100.0, dt: float = 1.0, lam: float = 5.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not 0 < tau_min <= tau_max:
            raise ValueError(f"need 0 < tau_min <= tau_max, got {tau_min}, {tau_max}.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.d_memory, self.dt, self.lam = in_features, d_memory, dt, lam
        self.w_s = nn.Parameter(torch.ones(in_features, **fk))
        self.w_p = nn.Parameter(torch.ones(d_memory, **fk))
        self.mlp = nn.Sequential(nn.Linear(in_features + d_memory, d_mlp, **fk), nn.ReLU(),
                                 nn.Linear(d_mlp, d_memory, **fk))
        log_tau = torch.linspace(math.log(tau_min), math.log(tau_max), d_memory, **fk)
        self.log_tau = nn.Parameter(log_tau)
        self.readout = nn.Linear(d_memory, out_features, **fk)
        self.out_features = out_features
        self.hook_m = HookPoint()

    def tau(self) -> Tensor:
        return self.log_tau.exp()

    def initial_memory(self, batch: int) -> Tensor:
        return torch.zeros(batch, self.d_memory, device=self.w_p.device, dtype=self.w_p.dtype)

    def forward(self, x: Tensor, m: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x [batch, time, in] -> (y [batch, time, out], final memory)``."""
        m = self.initial_memory(x.shape[0]) if m is None else m
        kappa = torch.exp(-self.dt / self.tau())
        xs = x * self.w_s
        ms = []
        for t in range(x.shape[1]):
            delta = self.lam * torch.tanh(self.mlp(torch.cat([xs[:, t], m * self.w_p], dim=-1)))
            m = kappa * m + (1 - kappa) * delta
            ms.append(m)
        m_seq = self.hook_m(torch.stack(ms, dim=1))
        return self.readout(m_seq), m


class ELM(nn.Module):
    """A stack of ELM layers: ``forward(x [batch, time, in], state=None) -> (y, ELMState)``.

    Args:
        in_features, out_features: sizes.
        d_memory, d_mlp: memory units and MLP width of every layer.
        layers: number of stacked ELM layers (hidden layers output ``d_memory`` features).
        tau_min, tau_max: timescale initialisation range.
    """

    def __init__(self, in_features: int, out_features: int = 1, d_memory: int = 16, d_mlp: int = 32,
                 layers: int = 1, tau_min: float = 1.0, tau_max: float = 100.0, dt: float = 1.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}.")
        sizes = [in_features] + [d_memory] * (layers - 1) + [out_features]
        self.layers = nn.ModuleList(
            ELMLayer(a, d_memory, d_mlp, b, tau_min, tau_max, dt, device=device, dtype=dtype)
            for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.in_features, self.out_features, self.d_memory = in_features, out_features, d_memory

    def forward(self, x: Tensor, state: ELMState | None = None) -> tuple[Tensor, ELMState]:
        x = check_sequence(x, self.in_features, "ELM")
        mems = [None] * len(self.layers) if state is None else list(ELMState(*state).m)
        out = []
        for layer, m in zip(self.layers, mems):
            if m is not None:
                check_state(m, x.shape[0], self.d_memory, "ELM")
            x, m = layer(x, m)
            out.append(m)
        return x, ELMState(tuple(out))

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        w = self.layers[0].w_s
        return torch.randn(batch, steps, self.in_features, device=w.device, dtype=w.dtype)
