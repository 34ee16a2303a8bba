"""Kuramoto oscillator populations and AKOrN layers (unit-vector oscillators).

* :class:`KuramotoPopulation`: classical phase oscillators (see
  :func:`neurocircuits.functional.oscillators.kuramoto_step`), with the critical coupling of the
  all-to-all model ``K_c = 2 / (pi g(0))`` (Kuramoto 1975) and, for Lorentzian frequencies of
  half-width ``gamma``, the exact stationary order parameter ``R = sqrt(1 - K_c / K)``.
* :class:`AKOrNLayer`: Artificial Kuramoto Oscillatory Neurons (Miyato, Loewe, Geiger & Welling,
  ICLR 2025). Channels are grouped into oscillators ``x_i`` in R^n on the unit sphere and unrolled
  for ``n_steps`` generalised Kuramoto updates

      x_i <- normalize(x_i + gamma (Omega x_i + P_{x_i}(c_i + sum_j J_ij x_j)))

  with ``J`` a fully-connected (``coupling="fc"``) or convolutional (``coupling="conv"``) linear
  map, or self-attention over tokens (``coupling="attn"``: ``(J x)_i = sum_j softmax_j(q_i . k_j /
  sqrt(d)) v_j`` with ``q, k, v`` learned linear maps of the oscillators, per head; the paper's
  attentive coupling, state-dependent and not symmetric, so the energy trace is not a Lyapunov
  function there), ``c`` the conditional stimulus (the layer input) and ``Omega`` a learnable
  antisymmetric matrix. Written from the paper's equations, not from its code. The layer is differentiable and
  returns the oscillator states and the energy trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ...functional.maps import check_finite
from ...functional.oscillators import KuramotoParams, akorn_step, kuramoto_step, order_parameter
from ..hooks import HookPoint

__all__ = [
    "KuramotoPopulation",
    "lorentzian_frequencies",
    "critical_coupling_lorentzian",
    "AKOrNConfig",
    "AKOrNState",
    "AKOrNLayer",
    "AttentionCoupling",
]


def lorentzian_frequencies(n: int, gamma: float, omega0: float = 0.0) -> Tensor:
    """Deterministic quantiles of a Lorentzian (Cauchy) of half-width ``gamma`` (no sampling noise)."""
    if n < 1 or gamma <= 0:
        raise ValueError(f"need n >= 1 and gamma > 0, got {n} and {gamma}.")
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    return omega0 + gamma * torch.tan(math.pi * (u - 0.5))


def critical_coupling_lorentzian(gamma: float) -> float:
    """``K_c = 2 / (pi g(0)) = 2 gamma`` for a Lorentzian of half-width ``gamma``."""
    return 2.0 * gamma


class KuramotoPopulation(nn.Module):
    """All-to-all (or matrix-coupled) Kuramoto population; natural frequencies are a buffer.

    ``forward(theta0, state=None)`` integrates ``n_steps`` Euler steps and returns the phase
    trajectory ``(time, ..., N)`` and the final phases.
    """

    def __init__(self, omega: Tensor, coupling: float | Tensor, dt: float = 0.05, n_steps: int = 1000) -> None:
        super().__init__()
        if dt <= 0 or n_steps < 1:
            raise ValueError(f"need dt > 0 and n_steps >= 1, got {dt} and {n_steps}.")
        self.register_buffer("omega", omega)
        self.coupling = coupling
        self.dt, self.n_steps = dt, n_steps
        self.hook_phase = HookPoint()

    def forward(self, theta0: Tensor, state: None = None, record_every: int = 1) -> tuple[Tensor, Tensor]:
        params = KuramotoParams(self.omega, self.coupling)
        theta, out = theta0, []
        for t in range(self.n_steps):
            theta, _ = kuramoto_step(theta, None, params, self.dt)
            if t % record_every == 0:
                out.append(self.hook_phase(theta))
            if t % 100 == 0:
                check_finite(theta, t, "KuramotoPopulation", {"coupling": self.coupling, "dt": self.dt})
        return torch.stack(out), theta

    @staticmethod
    def order_parameter(theta: Tensor) -> tuple[Tensor, Tensor]:
        return order_parameter(theta)


#: input rank of each coupling: (batch, channels), (batch, channels, H, W), (batch, channels, tokens)
_INPUT_DIMS = {"fc": 2, "conv": 4, "attn": 3}


class AttentionCoupling(nn.Module):
    """``J x`` as multi-head self-attention over tokens: x ``(batch, channels, tokens)`` ->
    ``sum_j softmax_j(q_i . k_j / sqrt(d_head)) v_j`` in the same layout."""

    def __init__(self, channels: int, n_heads: int, **kw: object) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(channels, channels, bias=False, **kw)  # type: ignore[arg-type]
        self.k = nn.Linear(channels, channels, bias=False, **kw)  # type: ignore[arg-type]
        self.v = nn.Linear(channels, channels, bias=False, **kw)  # type: ignore[arg-type]

    def forward(self, x: Tensor) -> Tensor:
        b, c, n = x.shape
        h = self.n_heads
        xt = x.transpose(1, 2)  # (batch, tokens, channels)
        q, k, v = (f(xt).view(b, n, h, c // h).transpose(1, 2) for f in (self.q, self.k, self.v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(c // h), dim=-1)  # (batch, head, tokens, tokens)
        return (att @ v).transpose(1, 2).reshape(b, n, c).transpose(1, 2)


@dataclass(frozen=True)
class AKOrNConfig:
    """AKOrN layer configuration.

    Attributes:
        channels: feature channels; must be divisible by ``osc_dim``.
        osc_dim: dimension ``n`` of each oscillator vector (``n = 2`` is the phase oscillator).
        coupling: ``"fc"`` (input ``(batch, channels)``), ``"conv"`` (input ``(batch, channels, H, W)``)
            or ``"attn"`` (input ``(batch, channels, tokens)``).
        kernel_size: conv coupling kernel size.
        n_heads: attention heads of the ``"attn"`` coupling (``channels`` must be a multiple).
        n_steps: unrolled Kuramoto updates.
        gamma: step size of an update.
        learn_omega: learn the natural-frequency generator ``Omega``. ``False`` keeps its random
            initial value fixed (the oscillators still rotate); for no natural frequencies at all, zero
            ``AKOrNLayer.omega_raw`` (then ``Omega`` is skipped).
    """

    channels: int
    osc_dim: int = 2
    coupling: str = "conv"
    kernel_size: int = 3
    n_steps: int = 8
    gamma: float = 0.5
    learn_omega: bool = True
    n_heads: int = 1

    def __post_init__(self) -> None:
        if self.osc_dim < 2 or self.channels % self.osc_dim:
            raise ValueError(
                f"channels ({self.channels}) must be a multiple of osc_dim ({self.osc_dim}) and osc_dim >= 2."
            )
        if self.coupling not in _INPUT_DIMS:
            raise ValueError(f"coupling must be one of {sorted(_INPUT_DIMS)}, got {self.coupling!r}.")
        if self.n_heads < 1 or self.channels % self.n_heads:
            raise ValueError(f"channels ({self.channels}) must be a multiple of n_heads ({self.n_heads}).")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd to keep the spatial size, got {self.kernel_size}.")
        if self.n_steps < 1 or self.gamma <= 0:
            raise ValueError(f"need n_steps >= 1 and gamma > 0, got {self.n_steps} and {self.gamma}.")


class AKOrNState(NamedTuple):
    x: Tensor  # oscillators, same shape as the input, unit norm over each osc_dim group


class AKOrNLayer(nn.Module):
    """Unrolled generalised-Kuramoto layer: ``forward(c, state=None) -> (x_T, AKOrNState, energies)``.

    Hook points: ``hook_osc`` sees the oscillators after every update.
    """

    def __init__(self, cfg: AKOrNConfig, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        kw = {"device": device, "dtype": dtype}
        if cfg.coupling == "conv":
            self.J: nn.Module = nn.Conv2d(cfg.channels, cfg.channels, cfg.kernel_size,
                                          padding=cfg.kernel_size // 2, bias=False, **kw)
        elif cfg.coupling == "attn":
            self.J = AttentionCoupling(cfg.channels, cfg.n_heads, **kw)
        else:
            self.J = nn.Linear(cfg.channels, cfg.channels, bias=False, **kw)
        self.omega_raw = nn.Parameter(0.1 * torch.randn(cfg.osc_dim, cfg.osc_dim, **kw),
                                      requires_grad=cfg.learn_omega)
        self.hook_osc = HookPoint()

    @property
    def omega(self) -> Tensor:
        """Antisymmetric natural-frequency generator ``Omega = A - A^T``."""
        return self.omega_raw - self.omega_raw.T

    def _group(self, x: Tensor) -> Tensor:
        b, c = x.shape[:2]
        return x.reshape(b, c // self.cfg.osc_dim, self.cfg.osc_dim, *x.shape[2:])

    def normalize(self, x: Tensor) -> Tensor:
        """Project channels onto unit oscillator vectors."""
        g = self._group(x)
        return (g / g.norm(dim=2, keepdim=True).clamp_min(1e-12)).reshape(x.shape)

    def initial_state(self, like: Tensor, generator: torch.Generator | None = None) -> AKOrNState:
        """Random oscillators on the sphere, shaped like the stimulus ``like``."""
        return AKOrNState(self.normalize(torch.randn(like.shape, generator=generator).to(like)))

    def example_input(self, batch: int) -> Tensor:
        w = self.omega_raw
        rest = {"fc": (), "conv": (6, 6), "attn": (5,)}[self.cfg.coupling]
        return torch.randn((batch, self.cfg.channels) + rest, dtype=w.dtype, device=w.device)

    def bad_example_input(self, batch: int) -> Tensor:
        """A wrongly shaped input (one channel too many): any spatial size is valid for conv coupling."""
        x = self.example_input(batch)
        return torch.cat([x, x[:, :1]], dim=1)

    def forward(self, c: Tensor, state: AKOrNState | None = None) -> tuple[Tensor, AKOrNState, Tensor]:
        """Unroll ``n_steps`` updates from ``state`` (random if ``None``) under stimulus ``c``.

        Returns:
            ``(x_T, AKOrNState(x_T), energies)`` with ``energies`` of shape ``(n_steps, batch)``.
        """
        expected = _INPUT_DIMS[self.cfg.coupling]
        if c.dim() != expected or c.shape[1] != self.cfg.channels:
            rest = {"fc": "", "conv": ", H, W", "attn": ", tokens"}[self.cfg.coupling]
            raise ValueError(
                f"AKOrNLayer({self.cfg.coupling}) expects input (batch, {self.cfg.channels}{rest}), got {tuple(c.shape)}."
            )
        x = (state or self.initial_state(c)).x
        cg = self._group(c)
        energies = []
        for t in range(self.cfg.n_steps):
            xg = self._group(x)
            jx = self._group(self.J(x))
            omega = self.omega if self.cfg.learn_omega or self.omega_raw.abs().sum() > 0 else None
            xg, e = akorn_step(xg, jx, cg, omega, self.cfg.gamma, dim=2)
            x = self.hook_osc(xg.reshape(c.shape))
            energies.append(e)
        check_finite(x, self.cfg.n_steps, "AKOrNLayer", self.cfg)
        return x, AKOrNState(x), torch.stack(energies)
