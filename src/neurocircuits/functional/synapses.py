"""Synaptic kernels as pure functions, and their exact coupling to a LIF membrane.

Kernels (all linear, integrated exactly):

* ``delta``: a spike adds ``w`` to the target variable at once (``v`` for current synapses).
* ``exp``: ``tau_syn dg/dt = -g``, a spike adds ``w`` to ``g``.
* ``alpha``: ``tau_syn dx/dt = -x``, ``tau_syn dg/dt = x - g``; a spike adds ``e * w`` to ``x`` so that the
  response ``g(t) = w (t/tau_syn) e^{1 - t/tau_syn}`` peaks at ``w`` after ``tau_syn``.

Current synapses drive a LIF as ``tau_mem du/dt = -u + g`` (``u = v - v_rest``, ``g`` in mV). Since
membrane and kernel are one linear system, the exact update of ``u`` over a step is
``u' = P00 u + P01 g + P02 x`` with ``P = expm(A dt)`` (as in NEST's iaf_psc_exp / Rotter & Diesmann 1999
and Brian2's ``exact`` method). :func:`lif_current_coupling` returns ``kappa = P0j / (1 - P00)`` so that the
synaptic drive enters :func:`~neurocircuits.functional.neurons.lif_step` as an equivalent constant input
``kappa_g g + kappa_x x``: the LIF equations stay in one place.

Conductance synapses (``g`` relative to the leak conductance, reversal ``E``) are integrated with the
exponential-Euler rule: over a step ``tau_eff = tau_mem / (1 + sum g)`` and
``v_inf = (v_rest + x + sum g E) / (1 + sum g)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..registry import Registry


@dataclass(frozen=True)
class SynapseKind:
    """A registered synapse type: ``mode`` is ``"current"`` or ``"conductance"``, ``kernel`` delta/exp/alpha."""

    name: str
    mode: str
    kernel: str


SYNAPSES: Registry[SynapseKind] = Registry("synapse")
for _mode in ("current", "conductance"):
    for _kernel in ("delta", "exp", "alpha"):
        if _mode == "conductance" and _kernel == "delta":
            continue  # a conductance pulse of zero width carries no charge
        SYNAPSES.add(f"{_kernel}_{_mode}", SynapseKind(f"{_kernel}_{_mode}", _mode, _kernel))


class AlphaState(NamedTuple):
    x: Tensor
    g: Tensor


def exp_synapse_step(g: Tensor, tau_syn_ms: float | Tensor, dt_ms: float) -> Tensor:
    """Exact decay of an exponential synapse over one step."""
    decay = torch.exp(-dt_ms / tau_syn_ms) if isinstance(tau_syn_ms, Tensor) else math.exp(-dt_ms / tau_syn_ms)
    return g * decay


def _propagator(tau_mem_ms: Tensor, tau_syn_ms: float, dt_ms: float) -> Tensor:
    """``expm(A dt)`` for state (u, g, x), batched over neurons, float64. Shape ``[n, 3, 3]``."""
    tm = tau_mem_ms.to(torch.float64).reshape(-1)
    a = torch.zeros(tm.numel(), 3, 3, dtype=torch.float64, device=tm.device)
    a[:, 0, 0] = -1.0 / tm
    a[:, 0, 1] = 1.0 / tm
    a[:, 1, 1] = -1.0 / tau_syn_ms
    a[:, 1, 2] = 1.0 / tau_syn_ms
    a[:, 2, 2] = -1.0 / tau_syn_ms
    return torch.linalg.matrix_exp(a * dt_ms)


def lif_current_coupling(tau_mem_ms: float | Tensor, tau_syn_ms: float, dt_ms: float,
                         kernel: str) -> tuple[Tensor, Tensor]:
    """Coefficients ``(kappa_g, kappa_x)`` turning synaptic state into exact equivalent LIF input.

    For ``kernel="exp"`` ``kappa_x`` is zero. Shapes follow ``tau_mem_ms`` (scalar -> 0-d tensors).
    """
    tm = torch.as_tensor(tau_mem_ms, dtype=torch.float64)
    p = _propagator(tm, float(tau_syn_ms), dt_ms)
    one_minus = 1.0 - p[:, 0, 0]
    kg = p[:, 0, 1] / one_minus
    kx = p[:, 0, 2] / one_minus if kernel == "alpha" else torch.zeros_like(kg)
    return kg.reshape(tm.shape), kx.reshape(tm.shape)


def alpha_synapse_step(state: AlphaState, tau_syn_ms: float, dt_ms: float) -> AlphaState:
    """Exact update of an alpha synapse over one step."""
    d = math.exp(-dt_ms / tau_syn_ms)
    h = dt_ms / tau_syn_ms
    return AlphaState(state.x * d, state.g * d + state.x * h * d)


ALPHA_JUMP = math.e  # spike increment of x per unit weight, so that g peaks at w


def conductance_drive(v_rest_mv: float | Tensor, x: Tensor, g_total: Tensor, ge_sum: Tensor,
                      tau_mem_ms: float | Tensor) -> tuple[Tensor, Tensor]:
    """Exponential-Euler LIF parameters under conductances: ``(tau_eff_ms, v_inf_mv)``.

    Args:
        g_total: ``1 + sum_k g_k`` (conductances relative to the leak).
        ge_sum: ``sum_k g_k E_k``.
    """
    return tau_mem_ms / g_total, (v_rest_mv + x + ge_sum) / g_total


def gap_junction_current(v: Tensor, i: Tensor, j: Tensor, g: Tensor) -> Tensor:
    """Electrical coupling input ``sum_j g_ij (v_j - v_i)`` for each neuron (``i``, ``j``: pair indices)."""
    out = torch.zeros_like(v)
    return out.index_add_(0, i, g * (v[j] - v[i]))
