"""Multi-bit GIF coding of activations and saliency-based per-channel timestep allocation
(SpikeLLM, Xing et al. 2024).

A GIF neuron driven by ``x / T_c`` for ``T_c`` steps, with ``L = 2^bits - 1`` spike levels per step
and threshold ``theta_c = x_max_c / (T_c L)``, emits ``n = sum_t s_t = floor(x / theta_c)`` spikes
with ``x_hat = theta_c n``: a uniform quantiser with ``T_c L + 1`` levels, i.e. ``log2(T_c L + 1)`` bits
(``~ log2 T`` for one-bit spikes), error ``|x - x_hat| < theta_c`` on ``[0, x_max]``.

With a downstream weight ``W``, the output error ``W (x - x_hat)`` is dominated by channels with a
large ``x_max_c ||W[:, c]||`` (their saliency ``a_c``). Minimising ``sum_c a_c^2 / T_c^2`` at a fixed
budget ``sum_c T_c`` gives ``T_c ~ a_c^(2/3)``: :func:`allocate_timesteps`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def gif_quantize(x: Tensor, steps: Tensor | int, x_max: Tensor | float, bits: int = 1) -> tuple[Tensor, Tensor]:
    """Run per-channel GIF neurons on a constant drive and decode their spike counts.

    Args:
        x: activations ``(batch, channels)``, expected in ``[0, x_max]`` (clipped).
        steps: timesteps per channel ``(channels,)`` or one int.
        x_max: per-channel range ``(channels,)`` or a float.
        bits: spike levels per step ``L = 2^bits - 1``.

    Returns:
        ``(x_hat, spike_counts)``, both ``(batch, channels)``.
    """
    C = x.shape[-1]
    steps_t = torch.as_tensor(steps, dtype=torch.long).expand(C) if not isinstance(steps, int) else torch.full((C,), steps)
    if bool((steps_t < 1).any()):
        raise ValueError("every channel needs at least one timestep.")
    L = 2**bits - 1
    xm = torch.as_tensor(x_max, dtype=x.dtype).expand(C)
    theta = xm / (steps_t.to(x.dtype) * L)
    drive = torch.minimum(x.clamp(min=0), xm) / steps_t.to(x.dtype)
    v = torch.zeros_like(x)
    count = torch.zeros_like(x)
    for t in range(int(steps_t.max())):
        active = (t < steps_t).to(x.dtype)
        h = v + drive * active
        # small tolerance: the last level must fire for x = x_max despite rounding
        s = torch.clamp(torch.floor(h / theta + 1e-6), 0, L) * active
        v = h - theta * s
        count = count + s
    return theta * count, count


def allocate_timesteps(saliency: Tensor, budget: int, min_steps: int = 1) -> Tensor:
    """Integer timesteps per channel, ``T_c ~ saliency_c^(2/3)``, summing exactly to ``budget``."""
    C = saliency.numel()
    if budget < C * min_steps:
        raise ValueError(f"budget={budget} is below channels * min_steps = {C * min_steps}.")
    w = saliency.clamp(min=0).double() ** (2.0 / 3.0)
    w = w / w.sum() if w.sum() > 0 else torch.full_like(w, 1.0 / C)
    free = budget - C * min_steps
    raw = w * free
    steps = torch.floor(raw).long()
    rest = free - int(steps.sum())
    if rest:
        steps[torch.argsort(raw - steps, descending=True)[:rest]] += 1
    return steps + min_steps
