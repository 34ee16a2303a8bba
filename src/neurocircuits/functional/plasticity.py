"""Plasticity rules as pure functions.

* **Pair-based STDP** with traces (Song, Miller & Abbott 2000; van Rossum, Bi & Turrigiano 2000)::

      tau_plus dx/dt = -x (presynaptic trace, +1 per pre spike)
      tau_minus dy/dt = -y (postsynaptic trace, +1 per post spike)
      pre spike:  w <- w - A_minus * y * f_minus(w)        post spike: w <- w + A_plus * x * f_plus(w)

  additive: ``f_plus = f_minus = 1``; multiplicative: ``f_plus = w_max - w``, ``f_minus = w - w_min``.
  The resulting window is ``A_plus exp(-dt/tau_plus)`` for post after pre (dt > 0) and
  ``-A_minus exp(dt/tau_minus)`` otherwise (:func:`stdp_window`).
* **Triplet STDP** (Pfister & Gerstner 2006, all-to-all)::

      pre spike:  w <- w - o1 (A2_minus + A3_minus r2)      post spike: w <- w + r1 (A2_plus + A3_plus o2)

  with pre traces r1 (tau_plus), r2 (tau_x) and post traces o1 (tau_minus), o2 (tau_y), the triplet
  terms read just before their own increment.
* **Hebb** ``dW = lr y x^T`` and **Oja** ``dW = lr y (x^T - y W)`` (Oja 1982) for rate units.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor


class STDPParams(NamedTuple):
    tau_plus_ms: float = 20.0
    tau_minus_ms: float = 20.0
    a_plus: float = 0.01
    a_minus: float = 0.0105
    w_min: float = 0.0
    w_max: float = 1.0
    rule: str = "additive"


class TripletParams(NamedTuple):
    """Pfister & Gerstner (2006) all-to-all visual-cortex fit (minimal model)."""

    tau_plus_ms: float = 16.8
    tau_minus_ms: float = 33.7
    tau_x_ms: float = 101.0
    tau_y_ms: float = 125.0
    a2_plus: float = 5e-10
    a3_plus: float = 6.2e-3
    a2_minus: float = 7e-3
    a3_minus: float = 2.3e-4
    w_min: float = 0.0
    w_max: float = 1.0


def stdp_window(delta_t_ms: Tensor, params: STDPParams) -> Tensor:
    """Additive pair-STDP weight change for one pair, ``delta_t = t_post - t_pre``."""
    return torch.where(
        delta_t_ms > 0,
        params.a_plus * torch.exp(-delta_t_ms / params.tau_plus_ms),
        -params.a_minus * torch.exp(delta_t_ms / params.tau_minus_ms),
    )


def decay_trace(trace: Tensor, tau_ms: float, dt_ms: float) -> Tensor:
    return trace * math.exp(-dt_ms / tau_ms)


def stdp_depress(w: Tensor, post_trace: Tensor, params: STDPParams) -> Tensor:
    """Weights of synapses whose presynaptic neuron spiked: ``post_trace`` read at their targets."""
    if params.rule == "additive":
        dw = -params.a_minus * post_trace
    elif params.rule == "multiplicative":
        dw = -params.a_minus * post_trace * (w - params.w_min)
    else:
        raise ValueError(f"STDP rule must be 'additive' or 'multiplicative', got {params.rule!r}.")
    return (w + dw).clamp(params.w_min, params.w_max)


def stdp_potentiate(w: Tensor, pre_trace: Tensor, params: STDPParams) -> Tensor:
    """Weights of synapses whose postsynaptic neuron spiked: ``pre_trace`` read at their sources."""
    if params.rule == "additive":
        dw = params.a_plus * pre_trace
    elif params.rule == "multiplicative":
        dw = params.a_plus * pre_trace * (params.w_max - w)
    else:
        raise ValueError(f"STDP rule must be 'additive' or 'multiplicative', got {params.rule!r}.")
    return (w + dw).clamp(params.w_min, params.w_max)


def triplet_depress(w: Tensor, o1: Tensor, r2: Tensor, params: TripletParams) -> Tensor:
    return (w - o1 * (params.a2_minus + params.a3_minus * r2)).clamp(params.w_min, params.w_max)


def triplet_potentiate(w: Tensor, r1: Tensor, o2: Tensor, params: TripletParams) -> Tensor:
    return (w + r1 * (params.a2_plus + params.a3_plus * o2)).clamp(params.w_min, params.w_max)


def hebb_step(w: Tensor, pre: Tensor, post: Tensor, lr: float) -> Tensor:
    """Plain Hebbian update ``W += lr * post pre^T`` (batch-averaged); ``w`` is ``[n_post, n_pre]``."""
    post, pre = post.reshape(-1, w.shape[0]), pre.reshape(-1, w.shape[1])
    return w + lr * post.T @ pre / post.shape[0]


def oja_step(w: Tensor, pre: Tensor, post: Tensor, lr: float) -> Tensor:
    """Oja's rule ``W += lr * (y x^T - diag(y^2) W)`` (batch-averaged): normalised Hebbian learning."""
    post, pre = post.reshape(-1, w.shape[0]), pre.reshape(-1, w.shape[1])
    n = post.shape[0]
    return w + lr * (post.T @ pre - (post * post).sum(0)[:, None] * w) / n
