"""Spike-count approximations of transformer operators (after BrainTransformers, Tang & Zhu 2024).

Each operator is computed from spike counts over ``T`` steps and converges to the ANN operator as
``T`` grows:

* :func:`spike_matmul` -- ``x @ W`` with ``x`` rate-coded by signed IF neurons (soft reset) of range
  ``x_max``: ``x_hat = x_max n / T`` with ``|x - x_hat| <= x_max / T``; the product is a sum of weight
  rows selected by spikes (accumulate-only).
* :func:`spike_softmax` -- a winner-take-all population that emits one spike per step, neuron ``i``
  with probability ``softmax(x)_i``; rates ``n_i / T`` converge to softmax (error ``~ T^-1/2``).
* :func:`spike_silu` -- ``x * sigma(x)`` as ``x`` times the rate of a Bernoulli neuron with firing
  probability ``sigma(x)`` (error ``~ T^-1/2``).
"""

from __future__ import annotations

import torch
from torch import Tensor


def if_rate_code(x: Tensor, time_steps: int, x_max: float | Tensor, simulate: bool = False) -> Tensor:
    """Spike counts ``n`` (``|n| <= T``) of signed IF neurons driven by ``d = x / x_max`` for ``T`` steps.

    A soft-reset IF neuron starting at rest under constant drive ``d`` fires ``trunc(T d)`` times
    (closed form, used by default); ``simulate=True`` runs the neuron step by step instead.
    """
    drive = torch.clamp(x / x_max, -1.0, 1.0)
    if not simulate:
        return torch.trunc(drive * time_steps + torch.sign(drive) * 1e-9)
    v = torch.zeros_like(x)
    n = torch.zeros_like(x)
    for _ in range(time_steps):
        v = v + drive
        s = (v >= 1.0 - 1e-9).to(x.dtype) - (v <= -1.0 + 1e-9).to(x.dtype)
        v = v - s
        n = n + s
    return n


def spike_matmul(x: Tensor, weight: Tensor, time_steps: int, x_max: float | None = None) -> Tensor:
    """``x @ weight`` from rate-coded ``x`` (``x_max`` defaults to ``max |x|``)."""
    xm = float(x.abs().max()) if x_max is None else x_max
    return (if_rate_code(x, time_steps, xm) * (xm / time_steps)) @ weight


def spike_softmax(x: Tensor, time_steps: int, generator: torch.Generator | None = None) -> Tensor:
    """Softmax over the last axis as winner-take-all spike rates over ``T`` steps."""
    p = torch.softmax(x, -1).reshape(-1, x.shape[-1])
    idx = torch.multinomial(p, time_steps, replacement=True, generator=generator)  # (rows, T): the winner per step
    counts = torch.zeros_like(p).scatter_add_(1, idx, torch.ones_like(idx, dtype=p.dtype))
    return (counts / time_steps).reshape(x.shape)


def spike_silu(x: Tensor, time_steps: int, generator: torch.Generator | None = None) -> Tensor:
    """``x * rate`` where a Bernoulli neuron fires with probability ``sigmoid(x)`` for ``T`` steps."""
    p = torch.sigmoid(x)
    # the spike count of T independent Bernoulli(p) steps, drawn at once: Binomial(T, p)
    n = torch.binomial(torch.full_like(p, float(time_steps)), p, generator=generator)
    return x * n / time_steps
