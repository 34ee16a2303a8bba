"""Event-time gradients for a stochastic (noisy) LIF neuron and an MMD loss on spike-time
distributions (after Holberg & Salvi 2024, "Exact gradients for stochastic spiking neural networks
driven by rough signals": there with a Marcus-SDE event solver and signature kernels; here the
Euler-Maruyama discretisation with exact event-time gradients of the interpolated crossing).

Dynamics (Ornstein-Uhlenbeck membrane with threshold and reset), for trial ``n``:

    v_{k+1} = v_k + (dt / tau) (mu - v_k) + sigma sqrt(dt) xi_{n,k},     xi ~ N(0, 1) fixed per draw
    event when v_{k+1} >= theta:  t* = t_k + dt (theta - v_k) / (v_{k+1} - v_k),   v_{k+1} <- v_reset

With the noise draw held fixed (reparameterisation), ``t*`` is a differentiable function of
``mu``, ``theta`` (and the other parameters) through the interpolated crossing; its autograd
gradient is the implicit-function-theorem gradient ``dt*/dp = -(dv/dp) / (dv/dt)`` of the
discretised path. Spike-time samples are compared with :func:`mmd_rbf`, a multi-bandwidth
Gaussian-kernel maximum mean discrepancy (unbiased estimator).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def noisy_lif_event_times(
    drive: Tensor | float,
    threshold: Tensor | float,
    noise: Tensor,
    *,
    dt_ms: float = 0.5,
    tau_mem_ms: float = 10.0,
    sigma: float = 0.3,
    n_spikes: int = 3,
    v_reset: float = 0.0,
) -> Tensor:
    """First ``n_spikes`` event times (ms) of a noisy LIF, differentiable in ``drive`` and ``threshold``.

    Args:
        drive: asymptotic potential ``mu`` (scalar tensor, may require grad).
        threshold: firing threshold ``theta`` (may require grad).
        noise: standard-normal draws ``(trials, steps)``; the horizon is ``steps * dt_ms``.
        n_spikes: events recorded per trial; trials with fewer events keep the horizon (no gradient).

    Returns:
        ``(trials, n_spikes)`` event times.
    """
    if noise.dim() != 2:
        raise ValueError(f"noise must be (trials, steps), got shape {tuple(noise.shape)}.")
    n, steps = noise.shape
    mu = torch.as_tensor(drive, dtype=noise.dtype)
    th = torch.as_tensor(threshold, dtype=noise.dtype)
    k_leak, k_noise = dt_ms / tau_mem_ms, sigma * math.sqrt(dt_ms)
    v = torch.full((n,), v_reset, dtype=noise.dtype)
    horizon = steps * dt_ms
    times = [torch.full((n,), horizon, dtype=noise.dtype) for _ in range(n_spikes)]
    count = torch.zeros(n, dtype=torch.long)
    for k in range(steps):
        v_next = v + k_leak * (mu - v) + k_noise * noise[:, k]
        hit = (v_next >= th) & (count < n_spikes)
        if bool(hit.any()):
            # safe denominator off the crossing (a where() would still send NaN gradients through it)
            denom = torch.where(hit, v_next - v, torch.ones_like(v))
            t_star = k * dt_ms + dt_ms * (th - v) / denom
            for j in range(n_spikes):
                sel = hit & (count == j)
                times[j] = torch.where(sel, t_star, times[j])
            count = count + hit.long()
            v_next = torch.where(v_next >= th, torch.as_tensor(v_reset, dtype=noise.dtype), v_next)
        v = v_next
        if bool((count >= n_spikes).all()):
            break
    return torch.stack(times, 1)


def mmd_rbf(x: Tensor, y: Tensor, bandwidths: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0)) -> Tensor:
    """Unbiased squared MMD between samples ``x (n, d)`` and ``y (m, d)`` with a sum of Gaussian kernels."""
    if x.dim() == 1:
        x, y = x[:, None], y[:, None]
    def k(a: Tensor, b: Tensor) -> Tensor:
        d2 = torch.cdist(a, b) ** 2
        return sum(torch.exp(-d2 / (2 * h * h)) for h in bandwidths)

    n, m = x.shape[0], y.shape[0]
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return ((kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean())
