"""Heterogeneous-timescale recurrent spiking network (HRSNN) used as a reservoir.

Chakraborty, Kang, Kumar & Mukhopadhyay, "Sparse Spiking Neural Network: Exploiting Heterogeneity in
Timescales for Pruning Recurrent SNN" (ICLR 2024), building on Chakraborty & Mukhopadhyay (2023),
"Heterogeneous recurrent spiking neural network for spatio-temporal classification".

Each neuron ``i`` has its own membrane time constant ``tau_i`` (log-uniform in
``[tau_mem_min_ms, tau_mem_max_ms]``), decay ``a_i = exp(-dt / tau_i)``. With recurrent weights
``W`` (random, density ``connectivity``, scale ``gain / sqrt(N p)``), input weights ``W_in`` and
bias ``b``, one step of the spiking dynamics is::

    u_t = a * v_{t-1} + (1 - a) * (W s_{t-1} + W_in x_t + b)
    s_t = H(u_t - theta)
    v_t = u_t - theta s_t                         (soft reset)

and the read-out is linear in the membrane, ``y_t = W_out v_t + c`` (the only trained part of a
reservoir; :func:`fit_ridge_readout` solves it in closed form).

The *smoothed* dynamics replace the spike by a sigmoid rate, ``r = sigmoid((v - theta) / beta)``::

    v_t = a * v_{t-1} + (1 - a) * (W r(v_{t-1}) + W_in x_t + b)

a differentiable map whose Jacobian ``J = diag(a) + diag(1 - a) W diag(r'(v))`` is well defined
everywhere; :mod:`neurocircuits.analysis.lyapunov_snn` estimates the network's maximal Lyapunov
exponent from it and prunes synapses guided by it (Lyapunov noise pruning, LNP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..layers.hooks import HookPoint
from ._registry import register_model

__all__ = ["HRSNN", "HRSNNConfig", "HRSNNState", "fit_ridge_readout", "forecast_nrmse"]


@dataclass(frozen=True)
class HRSNNConfig:
    """HRSNN settings (times in ms; ``connectivity`` is the fraction of nonzero recurrent synapses)."""

    n_neurons: int = 200
    n_inputs: int = 1
    n_outputs: int = 1
    connectivity: float = 0.2
    gain: float = 1.0
    tau_mem_min_ms: float = 2.0
    tau_mem_max_ms: float = 50.0
    dt_ms: float = 1.0
    threshold: float = 1.0
    input_scale: float = 1.0
    bias: float = 0.5
    smooth_beta: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_neurons < 1 or self.n_inputs < 1 or self.n_outputs < 1:
            raise ValueError("n_neurons, n_inputs and n_outputs must be >= 1.")
        if not 0 < self.connectivity <= 1:
            raise ValueError(f"connectivity must be in (0, 1], got {self.connectivity}.")
        if not 0 < self.tau_mem_min_ms <= self.tau_mem_max_ms:
            raise ValueError(f"need 0 < tau_mem_min_ms <= tau_mem_max_ms, got {self.tau_mem_min_ms}, "
                             f"{self.tau_mem_max_ms}.")
        if self.dt_ms <= 0 or self.threshold <= 0 or self.smooth_beta <= 0:
            raise ValueError("dt_ms, threshold and smooth_beta must be positive.")


class HRSNNState(NamedTuple):
    """Membrane ``v`` and last spikes ``s``, both ``(batch, n_neurons)``."""

    v: Tensor
    s: Tensor


class HRSNN(nn.Module):
    """Recurrent LIF reservoir with heterogeneous membrane time constants (see module docstring).

    ``W``, ``W_in``, ``b`` and the decays are buffers (a random reservoir, edited by pruning);
    the linear read-out ``readout`` is the trainable part.
    """

    def __init__(self, cfg: HRSNNConfig | None = None, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, **kw) -> None:
        super().__init__()
        cfg = HRSNNConfig(**{**(cfg.__dict__ if cfg is not None else {}), **kw})
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        n = cfg.n_neurons
        mask = torch.rand(n, n, generator=g) < cfg.connectivity
        mask.fill_diagonal_(False)
        w = torch.randn(n, n, generator=g) * cfg.gain / math.sqrt(n * cfg.connectivity)
        self.register_buffer("W", (w * mask).to(torch.float64))
        self.register_buffer("W_in", (torch.rand(n, cfg.n_inputs, generator=g) * 2 - 1).to(torch.float64) * cfg.input_scale)
        log_tau = torch.rand(n, generator=g) * (math.log(cfg.tau_mem_max_ms) - math.log(cfg.tau_mem_min_ms)) \
            + math.log(cfg.tau_mem_min_ms)
        self.register_buffer("tau_mem_ms", log_tau.exp().to(torch.float64))
        self.register_buffer("b", torch.full((n,), cfg.bias, dtype=torch.float64))
        self.readout = nn.Linear(n, cfg.n_outputs)
        self.hook_membrane = HookPoint()
        self.hook_spikes = HookPoint()
        self.to(device=device, dtype=dtype if dtype is not None else torch.float32)

    # -- helpers ---------------------------------------------------------------------------------
    @property
    def decay(self) -> Tensor:
        """Per-neuron ``a_i = exp(-dt / tau_i)``."""
        return torch.exp(-self.cfg.dt_ms / self.tau_mem_ms)

    def with_recurrent_weights(self, w: Tensor) -> HRSNN:
        """A copy of this network with recurrent weights ``w`` (same shape); used by pruning."""
        if w.shape != self.W.shape:
            raise ValueError(f"recurrent weights must have shape {tuple(self.W.shape)}, got {tuple(w.shape)}.")
        new = HRSNN(self.cfg).to(self.W.device, self.W.dtype)
        new.load_state_dict(self.state_dict())
        new.W.copy_(w.to(self.W))
        return new

    def sparsity(self) -> float:
        """Fraction of zero off-diagonal recurrent synapses."""
        n = self.cfg.n_neurons
        return 1.0 - float((self.W != 0).sum()) / (n * (n - 1))

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.cfg.n_inputs:
            raise ValueError(f"HRSNN expects time-first input (time, batch, {self.cfg.n_inputs}), got shape "
                             f"{tuple(x.shape)}; reshape the input or set n_inputs.")

    def initial_state(self, batch: int) -> HRSNNState:
        z = self.W.new_zeros(batch, self.cfg.n_neurons)
        return HRSNNState(z, z.clone())

    def example_input(self, batch: int) -> Tensor:
        return torch.rand(5, batch, self.cfg.n_inputs, dtype=self.W.dtype, device=self.W.device)

    # -- dynamics --------------------------------------------------------------------------------
    def rate(self, v: Tensor) -> Tensor:
        """Smooth surrogate of the spike: ``sigmoid((v - theta) / beta)``."""
        return torch.sigmoid((v - self.cfg.threshold) / self.cfg.smooth_beta)

    def smooth_step(self, v: Tensor, x: Tensor) -> Tensor:
        """One step of the smoothed (rate) dynamics; ``v``: ``(batch, N)``, ``x``: ``(batch, n_in)``."""
        a = self.decay
        return a * v + (1 - a) * (self.rate(v) @ self.W.T + x @ self.W_in.T + self.b)

    def run(self, x: Tensor, state: HRSNNState | None = None) -> tuple[Tensor, Tensor, HRSNNState]:
        """Spiking simulation. Returns spikes and membranes ``(time, batch, N)`` and the final state."""
        self._check(x)
        st = state if state is not None else self.initial_state(x.shape[1])
        v, s = st.v, st.s
        a, th = self.decay, self.cfg.threshold
        drive = x @ self.W_in.T + self.b  # (T, B, N)
        spikes, mem = [], []
        for t in range(x.shape[0]):
            u = a * v + (1 - a) * (s @ self.W.T + drive[t])
            s = (u >= th).to(u.dtype)
            v = u - th * s
            spikes.append(s)
            mem.append(v)
        spk, m = self.hook_spikes(torch.stack(spikes)), self.hook_membrane(torch.stack(mem))
        return spk, m, HRSNNState(v, s)

    def forward(self, x: Tensor, state: HRSNNState | None = None) -> tuple[Tensor, HRSNNState]:
        """``x``: ``(time, batch, n_inputs)`` -> read-out ``(time, batch, n_outputs)`` and the final state."""
        _, mem, st = self.run(x, state)
        return self.readout(mem), st


def _features(model: HRSNN, x: Tensor, filter_ms: float = 5.0) -> Tensor:
    """Reservoir features: membranes and exponentially filtered spikes, ``(time, batch, 2N)``."""
    with torch.no_grad():
        spk, mem, _ = model.run(x)
        k = math.exp(-model.cfg.dt_ms / filter_ms)
        tr, out = torch.zeros_like(spk[0]), []
        for t in range(spk.shape[0]):
            tr = k * tr + spk[t]
            out.append(tr)
        return torch.cat([mem, torch.stack(out)], dim=-1)


def fit_ridge_readout(features: Tensor, target: Tensor, ridge: float = 1e-4) -> tuple[Tensor, Tensor]:
    """Closed-form ridge regression ``target ~ features @ w + c`` on ``(n, f)`` / ``(n, k)`` tensors."""
    mu_x, mu_y = features.mean(0), target.mean(0)
    xc, yc = features - mu_x, target - mu_y
    a = xc.T @ xc + ridge * xc.shape[0] * torch.eye(xc.shape[1], dtype=xc.dtype, device=xc.device)
    w = torch.linalg.solve(a, xc.T @ yc)
    return w, mu_y - mu_x @ w


def forecast_nrmse(model: HRSNN, series: Tensor, horizon: int = 1, washout: int = 200, train_fraction: float = 0.7,
                   ridge: float = 1e-4) -> float:
    """Normalised RMSE of predicting ``series[t + horizon]`` from the reservoir state at ``t``.

    The series (1-D) drives the network as a single input channel (standardised); a ridge read-out
    is fitted on the first ``train_fraction`` of the post-washout steps and scored on the rest.
    NRMSE = RMSE / std(target); 1.0 is no better than predicting the mean.
    """
    if series.dim() != 1 or series.numel() < washout + horizon + 20:
        raise ValueError(f"series must be 1-D and longer than washout + horizon + 20, got shape {tuple(series.shape)}.")
    s = series.to(model.W.dtype)
    s = (s - s.mean()) / s.std()
    f = _features(model, s[:, None, None].expand(-1, 1, model.cfg.n_inputs).contiguous())[:, 0]
    x, y = f[washout:-horizon], s[washout + horizon:, None]
    n_tr = int(train_fraction * x.shape[0])
    w, c = fit_ridge_readout(x[:n_tr], y[:n_tr], ridge)
    pred = x[n_tr:] @ w + c
    return float(torch.sqrt(((pred - y[n_tr:]) ** 2).mean()) / y[n_tr:].std())


@register_model("hrsnn", family="spiking", paper="Chakraborty et al. 2024 (HRSNN, Lyapunov noise pruning)",
                smoke_cfg={"n_neurons": 16})
def hrsnn(**cfg) -> HRSNN:
    return HRSNN(**cfg)
