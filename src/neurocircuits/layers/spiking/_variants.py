"""Neuron variants that shape the membrane-potential distribution.

* :class:`MPBNLIF` -- membrane-potential BatchNorm (Guo et al. 2023, "Membrane Potential Batch
  Normalization for SNNs"): ``u_t = a u_{t-1} (1 - s_{t-1}) + x_t``, ``s_t = H(BN(u_t) - theta)``.
  At inference ``BN(u) = gamma (u - m) / sqrt(var + eps) + beta`` is monotone in ``u`` per channel,
  so firing is ``H(u - theta')`` with ``theta' = m + (theta - beta) sqrt(var + eps) / gamma``
  (``gamma > 0``): :meth:`MPBNLIF.fold` returns a plain :class:`LIF` with per-channel thresholds
  whose outputs are identical.
* :class:`MPRLIF` -- soft-reset LIF with the membrane-potential rectifier (Guo et al. 2022,
  "Reducing information loss for SNNs", ECCV). With ``m = u / theta`` the rectifier is the paper's
  piecewise map ``phi(m) = m`` for ``m < 0`` or ``m > 1`` and
  ``phi(m) = tanh(K (m - 1/2)) / (2 tanh(K/2)) + 1/2`` on ``[0, 1]`` (continuous, monotone,
  ``phi(1/2) = 1/2``); the neuron fires ``s = H(phi(m) - 1/2)`` (the paper's ``V_th = 0.5`` in
  units of ``theta``) and soft-resets ``v = u - theta s / 2``. The spikes equal ``H(u - theta/2)``;
  what changes is (i) the quantity that is quantised to a spike, ``phi(m)``, which sits closer to
  the spike levels {0, 1} than ``m`` (lower quantisation error), and (ii) the gradient,
  ``surrogate'(phi(m) - 1/2) phi'(m)``, which flows through ``phi`` (identity slope outside
  ``[0, theta]``, so strongly driven or inhibited neurons still learn).
  The rectified potential is exposed at ``hook_rectified``.
* :func:`rmp_loss` -- RMP-Loss (Guo et al. 2023, ICCV): ``mean (u - q(u))^2`` with
  ``q(u) = theta * clip(round(u / theta), 0, 1)``, the distance of membrane potentials to the spike
  levels; :func:`quantization_error` is its L1 counterpart ``mean |u - q(u)|``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ...functional.surrogate import spike
from ..hooks import HookPoint
from ._neurons import LIF, SPIKING_NEURONS, LIFState, _SpikingBase


def quantize_to_spike_levels(u: Tensor, threshold: float | Tensor = 1.0) -> Tensor:
    """``theta * clip(round(u / theta), 0, 1)``: the spike level nearest to ``u``."""
    return threshold * torch.clamp(torch.round(u / threshold), 0, 1)


def rmp_loss(membrane: Tensor, threshold: float | Tensor = 1.0) -> Tensor:
    """RMP-Loss: mean squared distance of membrane potentials to the spike levels {0, theta}."""
    return ((membrane - quantize_to_spike_levels(membrane.detach(), threshold)) ** 2).mean()


def quantization_error(membrane: Tensor, threshold: float | Tensor = 1.0) -> Tensor:
    """Mean absolute distance of membrane potentials to the spike levels {0, theta}."""
    return (membrane - quantize_to_spike_levels(membrane, threshold)).abs().mean()


class MPBNLIF(_SpikingBase):
    """Hard-reset LIF with BatchNorm on the membrane potential before firing (per channel)."""

    def __init__(self, features: int | Sequence[int], tau_mem_ms: float = 10.0, dt_ms: float = 1.0, threshold: float = 1.0,
                 surrogate: str = "atan", alpha: float | None = None, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(features, surrogate, alpha, False)
        self.a, self.theta = math.exp(-dt_ms / tau_mem_ms), float(threshold)
        self.tau_mem_ms, self.dt_ms = tau_mem_ms, dt_ms
        self.bn = nn.BatchNorm1d(self.feature_shape[0], eps=eps, momentum=momentum)

    def _bn(self, u: Tensor) -> Tensor:
        B = u.shape[0]
        flat = u.reshape(B, self.feature_shape[0], -1)  # (B, C, L)
        return self.bn(flat).reshape(u.shape)

    def forward(self, x: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        self._check(x)
        v = state.v if state is not None else torch.zeros_like(x[0])
        out, mem = [], []
        for t in range(x.shape[0]):
            u = self.a * v + x[t]
            s = spike(self._bn(u) - self.theta, self.surrogate, self.alpha)
            v = u * (1 - s.detach())
            out.append(s)
            mem.append(u)
        self.hook_membrane(torch.stack(mem))
        return self.hook_spikes(torch.stack(out)), LIFState(v)

    @torch.no_grad()
    def folded_threshold(self) -> Tensor:
        """Per-channel ``theta' = m + (theta - beta) sqrt(var + eps) / gamma`` (inference statistics)."""
        bn = self.bn
        gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
        beta = bn.bias if bn.affine else torch.zeros_like(bn.running_var)
        if bool((gamma <= 0).any()):
            bad = torch.nonzero(gamma <= 0).flatten().tolist()
            raise ValueError(f"cannot fold MPBN into a threshold: gamma <= 0 in channels {bad} (firing would invert).")
        return bn.running_mean + (self.theta - beta) * torch.sqrt(bn.running_var + bn.eps) / gamma

    def fold(self) -> LIF:
        """A plain hard-reset :class:`LIF` with per-channel thresholds, identical at inference."""
        lif = LIF(self.feature_shape, tau_mem_ms=self.tau_mem_ms, dt_ms=self.dt_ms, reset="hard", surrogate=self.surrogate,
                  per_neuron=True)
        lif.wildcard_axes = self.wildcard_axes
        th = self.folded_threshold().to(lif.threshold_const.dtype)
        lif.threshold_const = th.view(lif.threshold_const.shape).clone()
        return lif


class MPRLIF(_SpikingBase):
    """Soft-reset LIF with the membrane-potential rectifier (fires at ``u >= threshold / 2``).

    Args:
        features: neurons (int) or feature shape.
        tau_mem_ms, dt_ms: leak ``a = exp(-dt / tau)``; ``u_t = a v_{t-1} + x_t``.
        threshold: ``theta``, the range ``[0, theta]`` the rectifier acts on; spikes at ``theta / 2``.
        k: the rectifier's sharpness ``K`` (larger pushes ``phi`` harder toward 0 and ``theta``).
        surrogate, alpha: surrogate gradient of the spike of ``phi(u / theta) - 1/2``.
    """

    def __init__(self, features: int | Sequence[int], tau_mem_ms: float = 10.0, dt_ms: float = 1.0, threshold: float = 1.0,
                 k: float = 4.0, surrogate: str = "atan", alpha: float | None = None) -> None:
        super().__init__(features, surrogate, alpha, False)
        if threshold <= 0 or k <= 0:
            raise ValueError(f"threshold and k must be positive, got threshold={threshold}, k={k}.")
        self.a, self.theta, self.k = math.exp(-dt_ms / tau_mem_ms), float(threshold), float(k)
        self.hook_rectified = HookPoint()

    def rectify(self, u: Tensor) -> Tensor:
        """``phi(u / theta)``: tanh-shaped on ``[0, theta]``, identity outside; ``phi(theta/2) = 1/2``."""
        m = u / self.theta
        inside = torch.tanh(self.k * (m.clamp(0.0, 1.0) - 0.5)) / (2 * math.tanh(self.k / 2)) + 0.5
        return torch.where((m >= 0) & (m <= 1), inside, m)

    def forward(self, x: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        self._check(x)
        v = state.v if state is not None else torch.zeros_like(x[0])
        out, mem, rect = [], [], []
        for t in range(x.shape[0]):
            u = self.a * v + x[t]
            r = self.rectify(u)
            s = spike(r - 0.5, self.surrogate, self.alpha)
            v = u - 0.5 * self.theta * s.detach()
            out.append(s)
            mem.append(u)
            rect.append(r)
        self.hook_membrane(torch.stack(mem))
        self.hook_rectified(torch.stack(rect))
        return self.hook_spikes(torch.stack(out)), LIFState(v)


SPIKING_NEURONS.add("mpbn_lif", MPBNLIF)
SPIKING_NEURONS.add("mpr_lif", MPRLIF)
