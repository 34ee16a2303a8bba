"""Liquid state machine: a fixed random spiking reservoir with a trained linear readout.

Maass, Natschlaeger & Markram 2002 ("Real-time computing without stable states", Neural Comput.
14:2531). ``n_neurons`` LIF cells (80% excitatory, 20% inhibitory, Dale's law) with sparse random
recurrent synapses and current-based exponential synapses::

    I <- I exp(-dt / tau_syn) + W_rec^T z_rec + W_in^T z_in
    (z, v) <- lif_step(I, v)                      (neurocircuits.functional.neurons.lif_step)

The liquid is never trained; :meth:`LiquidStateMachine.features` returns the spike counts of every
cell in ``n_bins`` time bins, to be read out by any linear classifier (the resistive-memory
hardware of the catalog's row 142 is out of scope; its contrastive projection heads are in :mod:`._contrastive_head`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...functional.maps import check_finite
from ...functional.neurons import LIFParams, LIFState, lif_step

__all__ = ["LSMConfig", "LiquidStateMachine", "event_stream_dataset"]


@dataclass(frozen=True)
class LSMConfig:
    """Liquid configuration (weights in mV of drive per spike, times in ms)."""

    n_inputs: int = 20
    n_neurons: int = 200
    p_rec: float = 0.1
    p_in: float = 0.2
    w_exc_mv: float = 3.0
    w_inh_mv: float = 12.0
    w_in_mv: float = 12.0
    tau_syn_ms: float = 5.0
    dt_ms: float = 1.0
    n_bins: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or self.n_neurons < 5 or self.n_bins < 1:
            raise ValueError("need n_inputs >= 1, n_neurons >= 5 and n_bins >= 1.")
        if not (0 < self.p_rec <= 1 and 0 < self.p_in <= 1):
            raise ValueError("connection probabilities must lie in (0, 1].")


class LiquidStateMachine:
    """Fixed random LIF liquid; ``features(spikes)`` maps input spike trains to binned spike counts."""

    def __init__(self, cfg: LSMConfig = LSMConfig()) -> None:
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        n, n_exc = cfg.n_neurons, int(0.8 * cfg.n_neurons)
        mask = torch.rand(n, n, generator=g) < cfg.p_rec
        sign = torch.ones(n, 1)
        sign[n_exc:] = -1.0
        scale = torch.where(sign > 0, cfg.w_exc_mv, cfg.w_inh_mv)
        self.W_rec = mask * torch.rand(n, n, generator=g) * scale * sign  # row = presynaptic
        self.W_rec.fill_diagonal_(0.0)
        self.W_in = (torch.rand(cfg.n_inputs, n, generator=g) < cfg.p_in) * cfg.w_in_mv
        self.lif = LIFParams(tau_mem_ms=20.0, v_thresh_mv=-50.0, v_reset_mv=-65.0, v_rest_mv=-65.0, refractory_ms=2.0)

    def run(self, spikes: Tensor) -> Tensor:
        """Liquid spikes ``(batch, time, n_neurons)`` for input spikes ``(batch, time, n_inputs)``."""
        if spikes.dim() != 3 or spikes.shape[-1] != self.cfg.n_inputs:
            raise ValueError(f"input spikes must be (batch, time, {self.cfg.n_inputs}), got {tuple(spikes.shape)}.")
        B, T, _ = spikes.shape
        n = self.cfg.n_neurons
        st = LIFState(torch.full((B, n), float(self.lif.v_rest_mv)), torch.zeros(B, n))
        I = torch.zeros(B, n)
        z = torch.zeros(B, n)
        decay = float(torch.exp(torch.tensor(-self.cfg.dt_ms / self.cfg.tau_syn_ms)))
        out = torch.empty(B, T, n)
        for t in range(T):
            I = I * decay + z @ self.W_rec + spikes[:, t].float() @ self.W_in
            z, st = lif_step(I, st, self.lif, self.cfg.dt_ms)
            out[:, t] = z
        check_finite(st.v, T - 1, "LiquidStateMachine", self.cfg)
        return out

    def features(self, spikes: Tensor) -> Tensor:
        """Spike counts per cell in ``n_bins`` equal time bins: ``(batch, n_bins * n_neurons)``."""
        z = self.run(spikes)
        B, T, n = z.shape
        bins = torch.tensor_split(z, self.cfg.n_bins, dim=1)
        return torch.cat([b.sum(1) for b in bins], dim=1)


def event_stream_dataset(n_per_class: int, n_classes: int = 4, n_inputs: int = 20, t_steps: int = 100,
                         rate: float = 0.08, seed: int = 0, template_seed: int = 1234) -> tuple[Tensor, Tensor]:
    """Poisson event streams whose classes differ only in *when* each channel is active.

    Each class has a fixed random template (drawn from ``template_seed``): every channel is active
    (``rate``) in 2 of 4 time segments and quiet (``rate / 4``) in the other 2; samples are
    independent Bernoulli draws. Every channel has the same expected count in every class, so only
    the temporal structure identifies the class.

    Returns:
        ``(spikes (n, t_steps, n_inputs) float, labels (n,))``.
    """
    gt = torch.Generator().manual_seed(template_seed)  # class templates: shared by train and test sets
    # every channel is active in exactly 2 of the 4 segments: equal expected counts in every class
    order = torch.argsort(torch.rand(n_classes, n_inputs, 4, generator=gt), dim=-1)
    templates = ((order < 2).float() * 0.75 + 0.25).transpose(1, 2)  # (class, segment, channel)
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c in range(n_classes):
        r = templates[c].repeat_interleave(t_steps // 4, dim=0) * rate  # (t, n_inputs)
        xs.append((torch.rand(n_per_class, *r.shape, generator=g) < r).float())
        ys.append(torch.full((n_per_class,), c, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)
