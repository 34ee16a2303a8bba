"""Fused multi-step leaky integrate-and-fire: the whole time loop in one autograd op.

Discrete LIF (the exact-exponential / forward-Euler update of ``tau dv/dt = -(v - v_rest) + R I``
with ``v_rest = 0``, as in ``functional.neurons.lif_step``), for t = 1..T:

    h_t = a * v_{t-1} + g * x_t                  (charge; a = exp(-dt/tau) or 1 - dt/tau)
    s_t = H(h_t - theta)                         (fire; surrogate dF/dx in the backward)
    v_t = h_t - theta * s_t                      (soft reset, "subtract")
    v_t = h_t * (1 - s_t) + v_reset * s_t        (hard reset, "zero"/"to v_reset")

``a`` (decay), ``g`` (input gain) and ``theta`` (threshold) are scalars or tensors broadcastable to
one time step ``(batch, ...)``; all three can require grad (PLIF's learnable tau, learnable
threshold). ``a = 1`` gives the IF neuron.

Why fused: an unrolled loop records ~6 autograd nodes per step and pays Python dispatch for each in
the backward. Here the forward runs the loop without recording, stores only the charge sequence
``h`` and the backward is the closed-form recursion

    G_t      = dL/dh_t = gh_t + gs_t * sigma'(h_t - theta) + gv_t * dv_t/dh_t
    gv_{t-1} = a * G_t

where only the two-operation recursion on ``gv`` is sequential; everything else is one vectorised
op over the whole sequence. ``dv_t/dh_t`` is ``1 - theta sigma'`` (soft) or
``(1 - s_t) + (v_reset - h_t) sigma'`` (hard); with ``detach_reset`` the reset carries no gradient
(``1`` and ``1 - s_t``), as snnTorch and SpikingJelly's ``detach_reset`` do.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .surrogate import SURROGATES, _sum_to, surrogate_derivative_inplace


class LIFSeqOut(NamedTuple):
    """Outputs of :func:`lif_multistep`: spikes and pre-reset membrane per step, final membrane."""

    spikes: Tensor  # (time, batch, ...)
    membrane: Tensor  # (time, batch, ...) pre-reset potential h_t
    v_final: Tensor  # (batch, ...) post-reset potential after the last step


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, decay: Tensor, gain: Tensor, theta: Tensor, v_reset: float,
                soft: bool, detach_reset: bool, surrogate: str, alpha: float):  # type: ignore[override]
        ctx.set_materialize_grads(False)  # unused outputs (membrane, v_final) get None, not zero tensors
        T = x.shape[0]
        unit_gain = gain.dim() == 0 and float(gain) == 1.0
        gx = x if unit_gain else x * gain
        h_seq = torch.empty(gx.shape, dtype=gx.dtype, device=gx.device)
        s_seq = torch.empty_like(h_seq)
        v = v0
        if soft and theta.dim() == 0:
            th = float(theta)
            for t in range(T):
                h = torch.addcmul(gx[t], decay, v, out=h_seq[t])
                s = torch.ge(h, th, out=s_seq[t])
                v = torch.sub(h, s, alpha=th)
        else:
            vr = torch.as_tensor(v_reset, dtype=x.dtype, device=x.device)
            for t in range(T):
                h = torch.addcmul(gx[t], decay, v, out=h_seq[t])
                s = torch.ge(h, theta, out=s_seq[t])
                v = h - theta * s if soft else torch.where(s > 0, vr, h)
        ctx.save_for_backward(x, v0, decay, gain, theta, h_seq, s_seq)
        ctx.cfg = (v_reset, soft, detach_reset, surrogate, alpha, unit_gain)
        return s_seq, h_seq, v

    @staticmethod
    def backward(ctx, gs: Tensor | None, gh: Tensor | None, gvT: Tensor | None):  # type: ignore[override]
        x, v0, decay, gain, theta, h_seq, s_seq = ctx.saved_tensors
        v_reset, soft, detach_reset, surrogate, alpha, unit_gain = ctx.cfg
        T = h_seq.shape[0]
        sg = surrogate_derivative_inplace(h_seq - theta, surrogate, alpha)  # sigma'(h - theta), (T, B, ...)
        # C_t: gradient reaching h_t directly (not through v_t); becomes G_t = dL/dh_t in place below
        if gs is not None:
            if gh is None:
                sg_reused = not soft or not detach_reset or ctx.needs_input_grad[4]
                C = gs * sg if sg_reused else sg.mul_(gs)  # sg is a fresh temporary: reuse it
            else:
                C = torch.addcmul(gh, gs, sg)
        else:
            C = torch.zeros_like(h_seq) if gh is None else gh.clone()
        # D_t = dv_t/dh_t (None means 1)
        if soft:
            D = None if detach_reset else 1.0 - theta * sg
        else:
            D = 1.0 - s_seq if detach_reset else (1.0 - s_seq) + (v_reset - h_seq) * sg
        G = C
        gv = None if gvT is None else gvT.expand_as(h_seq[0])
        for t in range(T - 1, -1, -1):
            if gv is not None:
                if D is None:
                    G[t].add_(gv)
                else:
                    G[t].addcmul_(gv, D[t])
            gv = decay * G[t]
        # v_{t-1} sequence (post-reset), for the decay gradient
        need_x, need_v0, need_a, need_g, need_th = ctx.needs_input_grad[:5]
        grad_x = (G if unit_gain else G * gain) if need_x else None
        grad_v0 = _sum_to(gv, v0.shape) if need_v0 else None
        grad_a = grad_g = grad_th = None
        if need_a:
            if soft:
                v_after = h_seq - theta * s_seq
            else:
                v_after = torch.where(s_seq > 0, torch.as_tensor(v_reset, dtype=h_seq.dtype), h_seq)
            v_prev = torch.cat([v0.expand_as(h_seq[:1]), v_after[:-1]], 0)
            grad_a = _sum_to((G * v_prev).sum(0), decay.shape)
        if need_g:
            grad_g = _sum_to((G * x).sum(0), gain.shape)
        if need_th:
            # dL/dtheta = sum_t [ -gs_t sigma' + gv_t * dv_t/dtheta |_h ] ; gv_t = G_{t+1} * a
            gv_seq = torch.cat([decay * G[1:], (torch.zeros_like(h_seq[:1]) if gvT is None else gvT.expand_as(h_seq[0]).unsqueeze(0))], 0)
            dth = torch.zeros_like(h_seq)
            if gs is not None:
                dth = dth - gs * sg
            if gh is not None:
                pass  # h does not depend on theta directly
            if soft:
                dv_dth = -s_seq if detach_reset else -s_seq + theta * sg
            else:
                dv_dth = torch.zeros_like(h_seq) if detach_reset else -(v_reset - h_seq) * sg
            dth = dth + gv_seq * dv_dth
            grad_th = _sum_to(dth.sum(0), theta.shape)
        return grad_x, grad_v0, grad_a, grad_g, grad_th, None, None, None, None, None


def lif_multistep(
    x: Tensor,
    v0: Tensor | None = None,
    decay: float | Tensor = 0.9,
    gain: float | Tensor = 1.0,
    threshold: float | Tensor = 1.0,
    *,
    reset: str = "soft",
    v_reset: float = 0.0,
    detach_reset: bool = True,
    surrogate: str = "atan",
    alpha: float | None = None,
) -> LIFSeqOut:
    """Run a LIF population over a whole sequence in one fused autograd op.

    Args:
        x: input current, time-first ``(time, batch, ...)``.
        v0: initial membrane ``(batch, ...)`` (default zeros).
        decay: ``a = exp(-dt/tau)`` (scalar or broadcastable tensor; may require grad).
        gain: input gain ``g`` (e.g. ``1 - a`` for the normalised form, ``1`` otherwise).
        threshold: firing threshold ``theta`` (may require grad).
        reset: ``"soft"`` (subtract theta) or ``"hard"`` (set to ``v_reset``).
        v_reset: reset potential for the hard reset.
        detach_reset: stop the gradient through the reset term.
        surrogate: registered surrogate name; ``alpha`` its sharpness (default: its default).

    Returns:
        :class:`LIFSeqOut` ``(spikes, membrane, v_final)``.
    """
    if reset not in ("soft", "hard"):
        raise ValueError(f"reset must be 'soft' or 'hard', got {reset!r}.")
    if x.dim() < 2:
        raise ValueError(f"lif_multistep expects time-first input (time, batch, ...), got shape {tuple(x.shape)}.")
    spec = SURROGATES.get(surrogate)
    a = alpha if alpha is not None else spec.default_alpha
    if isinstance(a, Tensor):
        raise ValueError("lif_multistep takes a float alpha; use the unrolled path for a learnable slope.")
    dt = x.dtype
    as_t = lambda z: z if isinstance(z, Tensor) else torch.tensor(float(z), dtype=dt, device=x.device)  # noqa: E731
    if v0 is None:
        v0 = torch.zeros_like(x[0])
    out = _FusedLIF.apply(x, v0, as_t(decay), as_t(gain), as_t(threshold), float(v_reset), reset == "soft",
                          bool(detach_reset), surrogate, float(a))
    return LIFSeqOut(*out)


def lif_multistep_unrolled(
    x: Tensor,
    v0: Tensor | None = None,
    decay: float | Tensor = 0.9,
    gain: float | Tensor = 1.0,
    threshold: float | Tensor = 1.0,
    *,
    reset: str = "soft",
    v_reset: float = 0.0,
    detach_reset: bool = True,
    surrogate: str = "atan",
    alpha: float | Tensor | None = None,
) -> LIFSeqOut:
    """Reference: the same equations as :func:`lif_multistep`, unrolled with plain autograd.

    Slower, but accepts a learnable surrogate slope ``alpha`` (a tensor requiring grad).
    """
    from .surrogate import spike

    if reset not in ("soft", "hard"):
        raise ValueError(f"reset must be 'soft' or 'hard', got {reset!r}.")
    v = torch.zeros_like(x[0]) if v0 is None else v0
    spikes, hs = [], []
    for t in range(x.shape[0]):
        h = decay * v + gain * x[t]
        s = spike(h - threshold, surrogate, alpha)
        sr = s.detach() if detach_reset else s
        v = h - threshold * sr if reset == "soft" else h * (1 - sr) + v_reset * sr
        spikes.append(s)
        hs.append(h)
    return LIFSeqOut(torch.stack(spikes), torch.stack(hs), v)
