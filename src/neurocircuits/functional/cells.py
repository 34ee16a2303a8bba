"""Pure step functions for continuous-time cells: LTC and CfC.

Liquid time-constant networks (Hasani, Lechner, Amini, Rus, Grosu, AAAI 2021, "Liquid
Time-constant Networks") integrate, for every neuron ``j`` with membrane state ``v_j``,

    C_j dv_j/dt = g_leak,j (E_leak,j - v_j) + sum_i g_ij(t) (E_ij - v_j),
    g_ij(t)     = w_ij * sigmoid(sigma_ij (v_i - mu_ij))          (recurrent synapses)
                  (and the same form with the external inputs x_i as presynaptic signal).

so the effective time constant ``C_j / (g_leak + sum_i g_ij)`` depends on the state and the input
("liquid"). The *fused* (semi-implicit) solver of the paper treats the state linearly implicit and
the conductances explicitly; with ``L`` unfolds of size ``dt/L``

    v <- (C/dt' * v + g_leak E_leak + sum_i g_ij E_ij) / (C/dt' + g_leak + sum_i g_ij + eps).

Every update is a convex combination of ``v``, ``E_leak`` and the ``E_ij`` (all weights are
non-negative), which is the paper's Theorem 2: the state stays inside
``[min(v0, E_leak, E), max(v0, E_leak, E)]`` for any input. Explicit solvers (Euler, midpoint,
RK4, from :data:`ODE_SOLVERS`) integrate the same right-hand side and carry no such guarantee.

Closed-form continuous-time cells (Hasani et al., Nature Machine Intelligence 2022, "Closed-form
continuous-time neural networks") replace the ODE by its gated closed-form approximation

    h(t) = sigma(-f(x, h) t) * g(x, h) + (1 - sigma(-f(x, h) t)) * k(x, h),

implemented (as in the authors' code) with a shared backbone ``z = act(W [x, h] + b)`` and heads
``g = tanh(W_1 z)``, ``k = tanh(W_2 z)``, ``sigma = sigmoid(t_a(z) t + t_b(z))``; mode
``"no_gate"`` uses ``g + sigma k`` and mode ``"pure"`` the direct solution
``h = -A exp(-t (|w_tau| + |f|)) f + A`` with ``f = W_1 z``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import Registry

__all__ = [
    "LTCState", "LTCParams", "CfCState", "CfCParams", "ODE_SOLVERS", "LTC_SOLVERS", "CFC_MODES",
    "ACTIVATIONS", "ltc_rhs", "ltc_step", "ltc_conductances", "cfc_step", "lecun_tanh",
    "euler_step", "midpoint_step", "rk4_step", "ltc_state_bounds", "ltc_unroll", "ltc_linear_system",
]


class LTCState(NamedTuple):
    """LTC state: membrane potentials ``v`` of shape ``[batch, units]``."""

    v: Tensor


class LTCParams(NamedTuple):
    """Constrained (already positive where needed) LTC parameters.

    Synapse tensors are indexed ``[pre, post]``; sensory tensors ``[input, post]``.
    """

    gleak: Tensor  # [units] > 0
    vleak: Tensor  # [units]
    cm: Tensor  # [units] > 0
    w: Tensor  # [units, units] >= 0
    sigma: Tensor  # [units, units]
    mu: Tensor  # [units, units]
    erev: Tensor  # [units, units]
    mask: Tensor  # [units, units] in {0, 1}
    sensory_w: Tensor  # [in, units] >= 0
    sensory_sigma: Tensor  # [in, units]
    sensory_mu: Tensor  # [in, units]
    sensory_erev: Tensor  # [in, units]
    sensory_mask: Tensor  # [in, units] in {0, 1}


def _synapse_sums(pre: Tensor, w: Tensor, sigma: Tensor, mu: Tensor, erev: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    # pre: [batch, n_pre] -> conductance sum and reversal-weighted sum over pre, each [batch, n_post]
    g = w * mask * torch.sigmoid((pre.unsqueeze(-1) - mu) * sigma)
    return g.sum(dim=1), (g * erev).sum(dim=1)


def ltc_conductances(x: Tensor, v: Tensor, p: LTCParams) -> tuple[Tensor, Tensor]:
    """Total synaptic conductance ``sum_i g_ij`` and ``sum_i g_ij E_ij`` (sensory + recurrent)."""
    gs, gse = _synapse_sums(x, p.sensory_w, p.sensory_sigma, p.sensory_mu, p.sensory_erev, p.sensory_mask)
    gr, gre = _synapse_sums(v, p.w, p.sigma, p.mu, p.erev, p.mask)
    return gs + gr, gse + gre


def ltc_rhs(x: Tensor, v: Tensor, p: LTCParams) -> Tensor:
    """``dv/dt`` of the LTC ODE for input ``x`` [batch, in] and state ``v`` [batch, units]."""
    g, ge = ltc_conductances(x, v, p)
    return (p.gleak * (p.vleak - v) + ge - g * v) / p.cm


def ltc_linear_system(x: Tensor, v: Tensor, p: LTCParams) -> tuple[Tensor, Tensor]:
    """State-dependent linear-system view of the LTC (biophysical synapses, catalog row 34).

    With the conductances frozen at the current state the LTC is linear in ``v``:

        dv/dt = -a(x, v) * v + b(x, v),   a = (g_leak + sum_i g_ij) / C,   b = (g_leak E_leak + sum_i g_ij E_ij) / C,

    and one fused semi-implicit sub-step of size ``h`` is exactly ``v' = (v + h b) / (1 + h a)``
    (up to ``eps``). ``a`` is the inverse *liquid* time constant of every neuron.

    Returns:
        ``(a, b)``, each ``[batch, units]``.
    """
    g, ge = ltc_conductances(x, v, p)
    return (p.gleak + g) / p.cm, (p.gleak * p.vleak + ge) / p.cm


# ---------------------------------------------------------------------------------------------
# Generic explicit ODE solvers: ``solver(f, y, h) -> y_next`` for dy/dt = f(y).
# ---------------------------------------------------------------------------------------------

OdeSolver = Callable[[Callable[[Tensor], Tensor], Tensor, Tensor], Tensor]
ODE_SOLVERS: Registry[OdeSolver] = Registry("ODE solver")


@ODE_SOLVERS.register("euler")
def euler_step(f: Callable[[Tensor], Tensor], y: Tensor, h: Tensor) -> Tensor:
    """Forward Euler: ``y + h f(y)``."""
    return y + h * f(y)


@ODE_SOLVERS.register("midpoint")
def midpoint_step(f: Callable[[Tensor], Tensor], y: Tensor, h: Tensor) -> Tensor:
    """Explicit midpoint (RK2): ``y + h f(y + h/2 f(y))``."""
    return y + h * f(y + 0.5 * h * f(y))


@ODE_SOLVERS.register("rk4")
def rk4_step(f: Callable[[Tensor], Tensor], y: Tensor, h: Tensor) -> Tensor:
    """Classical fourth-order Runge-Kutta."""
    k1 = f(y)
    k2 = f(y + 0.5 * h * k1)
    k3 = f(y + 0.5 * h * k2)
    k4 = f(y + h * k3)
    return y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


# ---------------------------------------------------------------------------------------------
# LTC solvers: ``solver(x, v, params, dt, unfolds, eps) -> v_next`` (dt: [batch, 1] or scalar).
# ---------------------------------------------------------------------------------------------

LtcSolver = Callable[[Tensor, Tensor, LTCParams, Tensor, int, float], Tensor]
LTC_SOLVERS: Registry[LtcSolver] = Registry("LTC solver")


@LTC_SOLVERS.register("semi_implicit")
def _ltc_semi_implicit(x: Tensor, v: Tensor, p: LTCParams, dt: Tensor, unfolds: int, eps: float) -> Tensor:
    # The sensory conductances depend only on the input, constant over the step: compute once.
    gs, gse = _synapse_sums(x, p.sensory_w, p.sensory_sigma, p.sensory_mu, p.sensory_erev, p.sensory_mask)
    cm_t = p.cm / (dt / unfolds)
    # loop invariants hoisted: (v - mu) sigma = v sigma - mu sigma; masked weights; constant terms
    neg_mu_sigma = -(p.mu * p.sigma)
    wm = p.w * p.mask
    wme = wm * p.erev
    num0 = p.gleak * p.vleak + gse
    den0 = cm_t + p.gleak + gs + eps
    for _ in range(unfolds):
        act = torch.sigmoid(torch.addcmul(neg_mu_sigma, v.unsqueeze(-1), p.sigma))
        v = (cm_t * v + num0 + (act * wme).sum(dim=1)) / (den0 + (act * wm).sum(dim=1))
    return v


def _explicit(name: str) -> LtcSolver:
    def solve(x: Tensor, v: Tensor, p: LTCParams, dt: Tensor, unfolds: int, eps: float) -> Tensor:
        step = ODE_SOLVERS.get(name)
        h = dt / unfolds
        for _ in range(unfolds):
            v = step(lambda y: ltc_rhs(x, y, p), v, h)
        return v

    solve.__name__ = f"ltc_{name}"
    solve.__doc__ = f"LTC integrated with the explicit {name!r} ODE solver, ``unfolds`` sub-steps."
    return solve


for _name in ("euler", "midpoint", "rk4"):
    LTC_SOLVERS.add(_name, _explicit(_name))


def _as_dt(dt: float | Tensor, like: Tensor) -> Tensor:
    dt_t = torch.as_tensor(dt, dtype=like.dtype, device=like.device)
    if dt_t.dim() == 1:  # per-sample elapsed time [batch]
        dt_t = dt_t.unsqueeze(-1)
    return dt_t


def ltc_step(
    x: Tensor,
    state: LTCState,
    params: LTCParams,
    dt: float | Tensor = 1.0,
    solver: str = "semi_implicit",
    unfolds: int = 6,
    eps: float = 1e-8,
) -> tuple[Tensor, LTCState]:
    """Advance an LTC population by ``dt``.

    Args:
        x: sensory input ``[batch, in]`` (already input-mapped).
        state: :class:`LTCState` with ``v`` ``[batch, units]``.
        params: :class:`LTCParams` (positive-constrained).
        dt: elapsed time, a float or a ``[batch]`` tensor of per-sample time spans.
        solver: a name in :data:`LTC_SOLVERS` (``semi_implicit``, ``euler``, ``midpoint``, ``rk4``).
        unfolds: number of solver sub-steps per ``dt``.
        eps: added to the semi-implicit denominator.

    Returns:
        ``(v_next, LTCState(v_next))``.
    """
    if unfolds < 1:
        raise ValueError(f"unfolds must be a positive integer, got {unfolds}; use e.g. unfolds=6.")
    v = LTC_SOLVERS.get(solver)(x, state.v, params, _as_dt(dt, state.v), unfolds, eps)
    return v, LTCState(v)


def ltc_unroll(
    x: Tensor,
    state: LTCState,
    params: LTCParams,
    timespans: Tensor | None = None,
    solver: str = "semi_implicit",
    unfolds: int = 6,
    eps: float = 1e-8,
) -> tuple[Tensor, LTCState]:
    """Run :func:`ltc_step` over a sequence ``x`` ``[batch, time, in]``; returns the state trajectory
    ``[batch, time, units]`` and the final state.

    Same result as a Python loop over :func:`ltc_step`, but for the semi-implicit solver everything
    that does not depend on the state (sensory conductances of all time steps, masked weights,
    ``mu * sigma``) is computed once for the whole sequence, and the recursion runs as one autograd
    function with a hand-written backward pass (first-order gradients only: no double backward).
    """
    if unfolds < 1:
        raise ValueError(f"unfolds must be a positive integer, got {unfolds}; use e.g. unfolds=6.")
    steps = x.shape[1]
    if solver != "semi_implicit":
        vs = []
        for t in range(steps):
            dt = 1.0 if timespans is None else timespans[:, t]
            _, state = ltc_step(x[:, t], state, params, dt, solver, unfolds, eps)
            vs.append(state.v)
        return torch.stack(vs, dim=1), state
    p = params
    # sensory conductances for every time step at once: [batch, time, units]
    g = p.sensory_w * p.sensory_mask * torch.sigmoid((x.unsqueeze(-1) - p.sensory_mu) * p.sensory_sigma)
    gs_all, gse_all = g.sum(dim=2), (g * p.sensory_erev).sum(dim=2)
    wm = p.w * p.mask
    num_all = p.gleak * p.vleak + gse_all
    if timespans is None:
        c_all = (p.cm * float(unfolds)).expand_as(num_all)
    else:
        c_all = p.cm * (unfolds / timespans.unsqueeze(-1))  # [batch, time, units]
    den_all = c_all + p.gleak + gs_all + eps
    v0 = state.v.expand(num_all.shape[0], num_all.shape[2])
    v_seq = _FusedLTCUnroll.apply(v0, num_all, den_all, c_all, -(p.mu * p.sigma), p.sigma, wm * p.erev, wm, unfolds)
    return v_seq, LTCState(v_seq[:, -1])


class _FusedLTCUnroll(torch.autograd.Function):
    """The semi-implicit LTC recursion over a whole sequence with a hand-written backward pass.

    With ``a = sigmoid(sigma_ij v_i - mu_ij sigma_ij)`` each sub-step is

        N_j = c_j v_j + num_j + sum_i a_ij W^E_ij,   D_j = den_j + sum_i a_ij W_ij,   v'_j = N_j / D_j,

    (``W = w * mask``, ``W^E = W * E``). Its adjoint is, with ``gN = g / D`` and ``gD = -g v' / D``,

        g_v_i = c_i gN_i + sum_j a_ij (1 - a_ij) sigma_ij (W^E_ij gN_j + W_ij gD_j),

    one small matrix-vector product per sub-step, and the parameter gradients are sums over all
    sub-steps, computed at once after the reverse sweep. This replaces ~30 autograd nodes per
    sub-step by ~3 tensor operations (the unroll is dominated by per-operation overhead).
    """

    @staticmethod
    def forward(ctx: object, v0: Tensor, num_all: Tensor, den_all: Tensor, c_all: Tensor, nms: Tensor,  # type: ignore[override]
                sigma: Tensor, wme: Tensor, wm: Tensor, unfolds: int) -> Tensor:
        b, steps, n = num_all.shape
        w2 = torch.stack([wme, wm])  # [2, pre, post]
        nd_all = torch.stack([num_all, den_all], dim=2)  # [batch, time, 2, units]
        keep = any(ctx.needs_input_grad)  # type: ignore[attr-defined]
        v = v0
        vs, acts, dens = [v0], [], []
        out = []
        for t in range(steps):
            nd0, c = nd_all[:, t], c_all[:, t]
            for _ in range(unfolds):
                act = torch.sigmoid(torch.addcmul(nms, v.unsqueeze(-1), sigma))  # [b, pre, post]
                nd = torch.linalg.vecdot(act.unsqueeze(1), w2, dim=2).add_(nd0)  # [b, 2, post]
                den = nd[:, 1]
                v = torch.addcmul(nd[:, 0], c, v).div_(den)
                if keep:
                    vs.append(v)
                    acts.append(act)
                    dens.append(den)
            out.append(v)
        if keep:
            ctx.save_for_backward(torch.stack(vs), torch.stack(acts), torch.stack(dens), c_all, sigma, wme, wm)  # type: ignore[attr-defined]
            ctx.unfolds = unfolds  # type: ignore[attr-defined]
        return torch.stack(out, dim=1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: object, g_seq: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        vs, acts, dens, c_all, sigma, wme, wm = ctx.saved_tensors  # type: ignore[attr-defined]
        unfolds = ctx.unfolds  # type: ignore[attr-defined]
        b, steps, n = g_seq.shape
        vprev, vnew = vs[:-1], vs[1:]  # [K, b, n]
        inv_d = dens.reciprocal()
        r = torch.stack([inv_d, -vnew * inv_d], dim=2)  # [K, b, 2, n]: (gN, gD) = g * r
        da = acts * (1.0 - acts)  # sigmoid derivative, [K, b, pre, post]
        ds = da * sigma
        c_rep = c_all.transpose(0, 1).repeat_interleave(unfolds, dim=0)  # [K, b, n]
        ab = torch.cat([ds * wme + torch.diag_embed(c_rep), ds * wm], dim=-1)  # [K, b, pre, 2 post]
        g = torch.zeros_like(g_seq[:, 0])
        gnds = []
        k = steps * unfolds - 1
        for t in range(steps - 1, -1, -1):
            g = g + g_seq[:, t]
            for _ in range(unfolds):
                gnd = g.unsqueeze(1) * r[k]  # [b, 2, n]
                gnds.append(gnd)
                g = torch.bmm(ab[k], gnd.reshape(b, 2 * n, 1)).reshape(b, n)
                k -= 1
        gnd_all = torch.stack(gnds[::-1])  # [K, b, 2, n]
        gn, gd = gnd_all[:, :, 0], gnd_all[:, :, 1]
        need = ctx.needs_input_grad  # type: ignore[attr-defined]
        g_pre = (wme * gn.unsqueeze(2) + wm * gd.unsqueeze(2)) * da  # [K, b, pre, post]

        def per_step(z: Tensor) -> Tensor:  # [K, b, n] -> [b, time, n], summed over unfolds
            return z.reshape(steps, unfolds, b, n).sum(dim=1).transpose(0, 1)

        return (
            g if need[0] else None,
            per_step(gn) if need[1] else None,
            per_step(gd) if need[2] else None,
            per_step(gn * vprev) if need[3] else None,
            g_pre.sum(dim=(0, 1)) if need[4] else None,
            (g_pre * vprev.unsqueeze(-1)).sum(dim=(0, 1)) if need[5] else None,
            (acts * gn.unsqueeze(2)).sum(dim=(0, 1)) if need[6] else None,
            (acts * gd.unsqueeze(2)).sum(dim=(0, 1)) if need[7] else None,
            None,
        )


def ltc_state_bounds(params: LTCParams, v0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-neuron interval that the semi-implicit LTC state can never leave (paper, Theorem 2).

    The bound of neuron ``j`` is ``[min(E_leak,j, E_ij over connected i, v0_j),
    max(...)]``; pass ``v0`` (``[batch, units]``) to include the initial state.
    """
    big = torch.finfo(params.erev.dtype).max
    conn = torch.cat([params.mask, params.sensory_mask], dim=0) > 0
    erev = torch.cat([params.erev, params.sensory_erev], dim=0)
    lo = torch.minimum(params.vleak, torch.where(conn, erev, torch.full_like(erev, big)).amin(dim=0))
    hi = torch.maximum(params.vleak, torch.where(conn, erev, torch.full_like(erev, -big)).amax(dim=0))
    if v0 is not None:
        lo = torch.minimum(lo, v0.amin(dim=0))
        hi = torch.maximum(hi, v0.amax(dim=0))
    return lo, hi


# ---------------------------------------------------------------------------------------------
# CfC
# ---------------------------------------------------------------------------------------------


def lecun_tanh(x: Tensor) -> Tensor:
    """LeCun's scaled tanh ``1.7159 tanh(0.666 x)`` (the CfC backbone default)."""
    return 1.7159 * torch.tanh(0.666 * x)


ACTIVATIONS: Registry[Callable[[Tensor], Tensor]] = Registry("activation")
ACTIVATIONS.add("lecun_tanh", lecun_tanh)
ACTIVATIONS.add("tanh", torch.tanh)
ACTIVATIONS.add("relu", F.relu)
ACTIVATIONS.add("gelu", F.gelu)
ACTIVATIONS.add("silu", F.silu)
ACTIVATIONS.add("identity", lambda x: x)


class CfCState(NamedTuple):
    """CfC state: hidden vector ``h`` of shape ``[batch, units]``."""

    h: Tensor


class CfCParams(NamedTuple):
    """CfC parameters. Linear weights are ``[out, in]`` (torch convention) and act on ``[x, h]``."""

    backbone_w: tuple[Tensor, ...]
    backbone_b: tuple[Tensor, ...]
    ff1_w: Tensor
    ff1_b: Tensor
    ff2_w: Tensor
    ff2_b: Tensor
    time_a_w: Tensor
    time_a_b: Tensor
    time_b_w: Tensor
    time_b_b: Tensor
    w_tau: Tensor | None  # [units] (mode "pure")
    a: Tensor | None  # [units] (mode "pure")


CfcHead = Callable[[Tensor, CfCParams, Tensor], Tensor]
CFC_MODES: Registry[CfcHead] = Registry("CfC mode")


def _gate(z: Tensor, p: CfCParams, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    ff1 = torch.tanh(F.linear(z, p.ff1_w, p.ff1_b))
    ff2 = torch.tanh(F.linear(z, p.ff2_w, p.ff2_b))
    t_interp = torch.sigmoid(F.linear(z, p.time_a_w, p.time_a_b) * t + F.linear(z, p.time_b_w, p.time_b_b))
    return ff1, ff2, t_interp


@CFC_MODES.register("default")
def _cfc_default(z: Tensor, p: CfCParams, t: Tensor) -> Tensor:
    ff1, ff2, s = _gate(z, p, t)
    return ff1 * (1.0 - s) + s * ff2


@CFC_MODES.register("no_gate")
def _cfc_no_gate(z: Tensor, p: CfCParams, t: Tensor) -> Tensor:
    ff1, ff2, s = _gate(z, p, t)
    return ff1 + s * ff2


@CFC_MODES.register("pure")
def _cfc_pure(z: Tensor, p: CfCParams, t: Tensor) -> Tensor:
    f = F.linear(z, p.ff1_w, p.ff1_b)
    return -p.a * torch.exp(-t * (p.w_tau.abs() + f.abs())) * f + p.a


def cfc_step(
    x: Tensor,
    state: CfCState,
    params: CfCParams,
    dt: float | Tensor = 1.0,
    mode: str = "default",
    activation: str = "lecun_tanh",
) -> tuple[Tensor, CfCState]:
    """One closed-form continuous-time update.

    Args:
        x: input ``[batch, in]``.
        state: :class:`CfCState` with ``h`` ``[batch, units]``.
        params: :class:`CfCParams`.
        dt: elapsed time (float or ``[batch]`` tensor).
        mode: a name in :data:`CFC_MODES` (``default``, ``no_gate``, ``pure``).
        activation: backbone activation, a name in :data:`ACTIVATIONS`.

    Returns:
        ``(h_next, CfCState(h_next))``.
    """
    act = ACTIVATIONS.get(activation)
    head = CFC_MODES.get(mode)
    z = torch.cat([x, state.h], dim=-1)
    for w, b in zip(params.backbone_w, params.backbone_b):
        z = act(F.linear(z, w, b))
    h = head(z, params, _as_dt(dt, state.h))
    return h, CfCState(h)
