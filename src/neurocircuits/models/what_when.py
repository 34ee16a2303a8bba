"""What/when learning with a heterogeneous Izhikevich spiking reservoir and a three-factor readout.

Reservoir (Izhikevich 2003, IEEE TNN 14:1569, with its heterogeneous excitatory / inhibitory
parameter spread)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I,   du/dt = a (b v - u),   v >= 30: v <- c, u <- u + d
    excitatory: a = 0.02, b = 0.2, c = -65 + 15 r^2, d = 8 - 6 r^2
    inhibitory: a = 0.02 + 0.08 r, b = 0.25 - 0.05 r, c = -65, d = 2          (r ~ U(0, 1))
    I_i(t) = I0_i + sigma xi_i(t) + sum_j S_ij z_j(t-1) + w_in_i . cue(t)

with heterogeneous tonic currents ``I0_i`` (so neurons fire at many frequencies and a cue resets
their phases: a spectral-timing basis) and sparse E/I weights ``S``. The readout sees spike traces
filtered with a fast and a slow time constant, ``dx/dt = -x / tau + z``. It is trained by the
error-modulated, attention-gated three-factor rule of :mod:`neurocircuits.learning` (FORCE as the
baseline): after each cue, a target appears at a fixed delay with probability ``p``; the readout
learns to respond at that delay with an amplitude proportional to ``p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ..functional.neurons import IzhikevichParams, IzhikevichState, izhikevich_step
from ..functional.maps import check_finite
from ..layers.hooks import HookPoint
from ._registry import register_model

__all__ = ["IzhikevichReservoirConfig", "IzhikevichReservoirState", "IzhikevichReservoir", "what_when_targets",
           "cue_input"]


@dataclass(frozen=True)
class IzhikevichReservoirConfig:
    """Heterogeneous Izhikevich reservoir.

    Attributes:
        n_excitatory: excitatory neurons.
        n_inhibitory: inhibitory neurons.
        n_inputs: cue channels.
        connectivity: connection probability.
        exc_weight: excitatory weights ~ U(0, exc_weight).
        inh_weight: inhibitory weights ~ -U(0, inh_weight).
        tonic_min: smallest tonic current ``I0``.
        tonic_spread: ``I0 ~ tonic_min + U(0, tonic_spread)``.
        noise_std: std of the white input noise per step.
        cue_current: current a cue channel injects (into a random half of the neurons) while on.
        tau_fast_ms: fast trace time constant.
        tau_slow_ms: slow trace time constant.
        dt_ms: simulation step (each step is integrated as two Euler half-steps).
        seed: parameter seed.
    """

    n_excitatory: int = 160
    n_inhibitory: int = 40
    n_inputs: int = 1
    connectivity: float = 0.1
    exc_weight: float = 0.5
    inh_weight: float = 1.0
    tonic_min: float = 4.0
    tonic_spread: float = 8.0
    noise_std: float = 0.3
    cue_current: float = 30.0
    tau_fast_ms: float = 20.0
    tau_slow_ms: float = 100.0
    dt_ms: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_excitatory < 1 or self.n_inhibitory < 1 or self.n_inputs < 1:
            raise ValueError("n_excitatory, n_inhibitory and n_inputs must be >= 1.")
        if not 0.0 < self.connectivity <= 1.0:
            raise ValueError(f"connectivity must lie in (0, 1], got {self.connectivity}.")
        if self.dt_ms <= 0 or self.dt_ms > 1.0:
            raise ValueError(f"dt_ms must lie in (0, 1] for the Izhikevich model to stay stable, got {self.dt_ms}.")
        if self.tau_fast_ms <= 0 or self.tau_slow_ms <= 0 or self.noise_std < 0:
            raise ValueError("trace time constants must be > 0 and noise_std >= 0.")

    @property
    def n_neurons(self) -> int:
        return self.n_excitatory + self.n_inhibitory


class IzhikevichReservoirState(NamedTuple):
    neurons: IzhikevichState  # v, u: (B, N)
    spikes: Tensor  # (B, N) last step's spikes
    traces: Tensor  # (B, 2N) fast and slow spike traces


def cue_input(batch: int, n_steps: int, cue_steps: int = 5, channel: int = 0, n_inputs: int = 1,
              dtype: torch.dtype = torch.float32) -> Tensor:
    """A cue on ``channel`` during the first ``cue_steps`` steps: ``(batch, n_steps, n_inputs)``."""
    u = torch.zeros(batch, n_steps, n_inputs, dtype=dtype)
    u[:, :cue_steps, channel] = 1.0
    return u


def what_when_targets(n_steps: int, delay_steps: int, present: np.ndarray, width_steps: float = 15.0) -> np.ndarray:
    """Targets ``(trials, n_steps)``: a Gaussian bump at ``delay_steps`` on trials where ``present``."""
    t = np.arange(n_steps)
    bump = np.exp(-0.5 * ((t - delay_steps) / width_steps) ** 2)
    return np.asarray(present, dtype=float)[:, None] * bump[None]


class IzhikevichReservoir(nn.Module):
    """Heterogeneous Izhikevich spiking reservoir with a linear readout of its spike traces.

    ``forward(cue (B, T, n_inputs)) -> (readout (B, T), state)``; :meth:`run` returns the traces the
    readout rules learn from. The readout weights ``w_out`` are an ``nn.Parameter`` (FORCE and the
    three-factor rule write into them; gradient training also works).
    """

    def __init__(self, cfg: IzhikevichReservoirConfig = IzhikevichReservoirConfig(),
                 device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        ne, ni, N = cfg.n_excitatory, cfg.n_inhibitory, cfg.n_neurons
        re, ri = torch.rand(ne, generator=g), torch.rand(ni, generator=g)
        a = torch.cat([torch.full((ne,), 0.02), 0.02 + 0.08 * ri])
        b = torch.cat([torch.full((ne,), 0.2), 0.25 - 0.05 * ri])
        c = torch.cat([-65 + 15 * re**2, torch.full((ni,), -65.0)])
        d = torch.cat([8 - 6 * re**2, torch.full((ni,), 2.0)])
        S = torch.cat([cfg.exc_weight * torch.rand(N, ne, generator=g), -cfg.inh_weight * torch.rand(N, ni, generator=g)], 1)
        S = S * (torch.rand(N, N, generator=g) < cfg.connectivity)
        tonic = cfg.tonic_min + cfg.tonic_spread * torch.rand(N, generator=g)
        kw = {"device": device, "dtype": dtype}
        for name, val in (("a", a), ("b", b), ("c", c), ("d", d), ("S", S), ("tonic", tonic)):
            self.register_buffer(name, val.to(**kw))
        # each cue channel drives a random half of the neurons
        W_in = cfg.cue_current * (torch.rand(N, cfg.n_inputs, generator=g) < 0.5).to(torch.float32)
        self.register_buffer("W_in", W_in.to(**kw))
        self.w_out = nn.Parameter(torch.zeros(2 * N + 1, **kw))
        self.hook_spikes = HookPoint()
        self.hook_traces = HookPoint()

    def example_input(self, batch: int) -> Tensor:
        return cue_input(batch, 20, n_inputs=self.cfg.n_inputs, dtype=self.S.dtype).to(self.S.device)

    def izhikevich_params(self) -> IzhikevichParams:
        return IzhikevichParams(self.a, self.b, self.c, self.d)

    def initial_state(self, batch: int) -> IzhikevichReservoirState:
        N = self.cfg.n_neurons
        v = torch.full((batch, N), -65.0, dtype=self.S.dtype, device=self.S.device)
        zeros = torch.zeros_like(v)
        return IzhikevichReservoirState(IzhikevichState(v, self.b * v), zeros, torch.zeros(batch, 2 * N, dtype=v.dtype,
                                                                                           device=v.device))

    def run(self, cue: Tensor, state: IzhikevichReservoirState | None = None,
            generator: torch.Generator | None = None) -> tuple[Tensor, IzhikevichReservoirState]:
        """Simulate: ``cue (B, T, n_inputs)`` -> traces ``(B, T, 2N)`` (fast then slow) and the final state."""
        cue = torch.as_tensor(cue, dtype=self.S.dtype, device=self.S.device)
        if cue.dim() != 3 or cue.shape[2] != self.cfg.n_inputs:
            raise ValueError(f"cue must be (batch, time, {self.cfg.n_inputs}), got {tuple(cue.shape)}.")
        B, T, _ = cue.shape
        st = state or self.initial_state(B)
        p, dt = self.izhikevich_params(), self.cfg.dt_ms
        decay = torch.cat([torch.full((self.cfg.n_neurons,), float(np.exp(-dt / self.cfg.tau_fast_ms))),
                           torch.full((self.cfg.n_neurons,), float(np.exp(-dt / self.cfg.tau_slow_ms)))]).to(cue)
        neurons, z, x = st
        drive = cue @ self.W_in.T + self.tonic
        out = torch.empty(B, T, 2 * self.cfg.n_neurons, dtype=cue.dtype, device=cue.device)
        with torch.no_grad():
            for t in range(T):
                noise = torch.randn(B, self.cfg.n_neurons, generator=generator, dtype=cue.dtype).to(cue.device)
                current = drive[:, t] + self.cfg.noise_std * noise + z @ self.S.T
                z1, neurons = izhikevich_step(current, neurons, p, 0.5 * dt)
                z2, neurons = izhikevich_step(current, neurons, p, 0.5 * dt)
                z = torch.clamp(z1 + z2, max=1.0)
                x = x * decay + torch.cat([z, z], 1)
                out[:, t] = x
            check_finite(neurons.v, T - 1, "IzhikevichReservoir", self.cfg)
        self.hook_spikes(z)
        return self.hook_traces(out), IzhikevichReservoirState(neurons, z, x)

    def forward(self, cue: Tensor, state: IzhikevichReservoirState | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, IzhikevichReservoirState]:
        """Readout ``(B, T)`` of the traces (with a bias term); returns ``(y, state)``."""
        X, st = self.run(cue, state, generator)
        return X @ self.w_out[:-1] + self.w_out[-1], st


@register_model("izhikevich_what_when", family="dynamics",
                paper="Izhikevich 2003 (IEEE TNN); three-factor readout as in neuromodulated reservoir models of what/when learning")
def izhikevich_what_when(n_excitatory: int = 160, n_inhibitory: int = 40, n_inputs: int = 1, seed: int = 0,
                         device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> IzhikevichReservoir:
    """Heterogeneous Izhikevich reservoir with a linear readout of its spike traces."""
    cfg = IzhikevichReservoirConfig(n_excitatory=n_excitatory, n_inhibitory=n_inhibitory, n_inputs=n_inputs, seed=seed)
    return IzhikevichReservoir(cfg, device=device, dtype=dtype or torch.float32)
