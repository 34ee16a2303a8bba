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

Implementations: on CPU float32/64 with numba installed, the forward loop and the backward
recursion are each one compiled kernel call (:mod:`._lif_kernels`; no per-step dispatch, no
sequence-sized temporaries); elsewhere an allocation-lean torch loop. Also here, same scheme:
:func:`lif_pool_multistep` (LIF then a 2x2 max pool of the spikes, the pooled gradient routed to
the window winners inside the recursion), :func:`alif_multistep` (adaptive threshold, Bellec et al.
2018) and :func:`gif_multistep` (multi-bit spikes, SpikeLLM's GIF); the last two fall back to their
unrolled autograd loops without numba.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

import torch
from torch import Tensor

from .surrogate import SURROGATES, _sum_to, surrogate_derivative_inplace, surrogate_grad_inplace


class LIFSeqOut(NamedTuple):
    """Outputs of :func:`lif_multistep`: spikes and pre-reset membrane per step, final membrane."""

    spikes: Tensor  # (time, batch, ...)
    membrane: Tensor  # (time, batch, ...) pre-reset potential h_t
    v_final: Tensor  # (batch, ...) post-reset potential after the last step


@functools.cache
def _kernels():
    """The numba kernels, or ``None`` where numba is not installed (compiled on first use, cached)."""
    try:
        from . import _lif_kernels
    except ImportError:
        return None
    return _lif_kernels


def _flat(p: Tensor, shape: torch.Size, dtype: torch.dtype) -> np.ndarray:
    """A per-step tensor broadcast to one step's shape, as a contiguous ``(M,)`` numpy array."""
    return p.detach().to(dtype).expand(shape).contiguous().view(-1).numpy()


def _param(p: Tensor, shape: torch.Size, dtype: torch.dtype) -> np.ndarray | np.floating:
    """A neuron parameter for the kernels: a numpy scalar of ``dtype`` when uniform, else ``(M,)``."""
    if p.numel() == 1:
        return np.dtype(str(dtype).removeprefix("torch.")).type(float(p))
    return _flat(p, shape, dtype)


class _FusedLIF(torch.autograd.Function):
    """Forward loop without autograd recording; closed-form backward (see module docstring).

    Two implementations of the same equations: on CPU (float32/64) with numba installed, one
    compiled kernel runs the whole time loop forward and the whole recursion backward
    (:mod:`._lif_kernels`); elsewhere a torch loop, allocation-lean: ``h`` and ``s`` are written
    straight into the output sequences, the membrane lives in one reused buffer, the surrogate is
    evaluated once over the sequence in place on its one temporary, and the recursion runs in place
    on ``G`` (``G_{t-1} += a G_t [* D_{t-1}]``). A time-constant input (``static``: ``x`` is one step
    ``(batch, ...)`` repeated ``steps`` times) is read once per step and its gradient is the sum over
    time, without a ``(time, batch, ...)`` copy.
    """

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, decay: Tensor, gain: Tensor, theta: Tensor, v_reset: float,
                soft: bool, detach_reset: bool, surrogate: str, alpha: float, steps: int, static: bool,
                use_numba: bool):  # type: ignore[override]
        ctx.set_materialize_grads(False)  # unused outputs (membrane, v_final) get None, not zero tensors
        T = steps
        step_shape = x.shape if static else x.shape[1:]
        unit_gain = gain.dim() == 0 and float(gain) == 1.0
        h_seq = torch.empty((T, *step_shape), dtype=x.dtype, device=x.device)
        s_seq = torch.empty_like(h_seq)
        if use_numba:
            K = _kernels()
            M = h_seq[0].numel() if T > 0 else 0
            xd = x.detach().contiguous()
            v = torch.empty(step_shape, dtype=x.dtype)
            K.lif_forward(xd.view(1 if static else T, M).numpy(), static, _flat(v0, step_shape, x.dtype),
                          _param(decay, step_shape, x.dtype), _param(gain, step_shape, x.dtype),
                          _param(theta, step_shape, x.dtype), soft, float(v_reset), h_seq.view(T, M).numpy(),
                          s_seq.view(T, M).numpy(), v.view(M).numpy())
            if T == 0:
                v = v0.detach().expand(step_shape).clone()
        else:
            gx = x if unit_gain else x * gain
            a_s = float(decay) if decay.dim() == 0 else None  # scalar fast paths (no broadcasting)
            th_s = float(theta) if theta.dim() == 0 else None
            th = theta if th_s is None else th_s
            v_buf = torch.empty_like(h_seq[0]) if T > 0 else None  # post-reset membrane, reused every step
            vr = None if soft else torch.as_tensor(v_reset, dtype=x.dtype, device=x.device)
            v = v0
            for t in range(T):
                h = h_seq[t]
                xt = gx if static else gx[t]
                if a_s is not None:
                    torch.add(xt, v, alpha=a_s, out=h)
                else:
                    torch.addcmul(xt, decay, v, out=h)
                s = torch.ge(h, th, out=s_seq[t])
                if not soft:
                    v = torch.where(s > 0, vr, h, out=v_buf)
                elif th_s is not None:
                    v = torch.sub(h, s, alpha=th_s, out=v_buf)
                else:
                    v = torch.addcmul(h, theta, s, value=-1.0, out=v_buf)
        ctx.save_for_backward(x, v0, decay, gain, theta, h_seq, s_seq)
        ctx.cfg = (v_reset, soft, detach_reset, surrogate, alpha, unit_gain, static, use_numba)
        return s_seq, h_seq, v

    @staticmethod
    def backward(ctx, gs: Tensor | None, gh: Tensor | None, gvT: Tensor | None):  # type: ignore[override]
        x, v0, decay, gain, theta, h_seq, s_seq = ctx.saved_tensors
        v_reset, soft, detach_reset, surrogate, alpha, unit_gain, static, use_numba = ctx.cfg
        need_x, need_v0, need_a, need_g, need_th = ctx.needs_input_grad[:5]
        if use_numba and not (need_a or need_g or need_th) and surrogate in _kernels().SURROGATE_CODES:
            return _numba_backward(ctx, gs, gh, gvT) + (None,) * 11
        T = h_seq.shape[0]
        a_s = float(decay) if decay.dim() == 0 else None
        th_s = float(theta) if theta.dim() == 0 else None
        # sigma'(h - theta) over the whole sequence, in place on its one temporary; needed for the
        # spike gradient, a reset that carries gradient, and the threshold gradient
        need_sg = gs is not None or not detach_reset or need_th
        sg_reused = not detach_reset or need_th  # sigma' is needed beyond the spike term
        sg = C = None
        if need_sg:
            dist = torch.sub(h_seq, th_s) if th_s is not None else h_seq - theta
            if gs is not None and gh is None and not sg_reused:
                C = surrogate_grad_inplace(dist, gs, surrogate, alpha)  # gs * sigma', fused, on our temporary
            else:
                sg = surrogate_derivative_inplace(dist, surrogate, alpha)
        # C_t: gradient reaching h_t directly (not through v_t); becomes G_t = dL/dh_t in place below
        if C is not None:
            pass
        elif gs is not None:
            C = gs * sg if gh is None else torch.addcmul(gh, gs, sg)
        else:
            C = torch.zeros_like(h_seq) if gh is None else gh.clone()
        # D_t = dv_t/dh_t (None means 1)
        if soft:
            if detach_reset:
                D = None
            elif th_s is not None:
                D = torch.mul(sg, -th_s).add_(1.0)
            else:
                D = 1.0 - theta * sg
        else:
            D = torch.rsub(s_seq, 1.0)
            if not detach_reset:
                D.addcmul_(torch.rsub(h_seq, v_reset), sg)
        G = C
        if gvT is not None and T > 0:
            gv_last = gvT.expand_as(G[T - 1])
            if D is None:
                G[T - 1].add_(gv_last)
            else:
                G[T - 1].addcmul_(gv_last, D[T - 1])
        # G_{t-1} += gv_{t-1} D_{t-1},  gv_{t-1} = a G_t : the only sequential part, in place on G
        buf = None if D is None else torch.empty_like(G[0])
        for t in range(T - 1, 0, -1):
            if D is None:
                if a_s is not None:
                    G[t - 1].add_(G[t], alpha=a_s)
                else:
                    G[t - 1].addcmul_(G[t], decay)
            else:
                gv = torch.mul(G[t], a_s if a_s is not None else decay, out=buf)
                G[t - 1].addcmul_(gv, D[t - 1])
        grad_x = grad_v0 = grad_a = grad_g = grad_th = None
        if need_v0:
            gv0 = (G[0] * a_s if a_s is not None else G[0] * decay) if T > 0 else (
                torch.zeros_like(h_seq[0]) if gvT is None else gvT.expand_as(h_seq[0]).clone())
            grad_v0 = _sum_to(gv0, v0.shape)
        if need_a:
            # v_{t-1} sequence (post-reset), for the decay gradient
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
            last = torch.zeros_like(h_seq[:1]) if gvT is None else gvT.expand_as(h_seq[0]).unsqueeze(0)
            gv_seq = torch.cat([decay * G[1:], last], 0)
            if soft:
                dv_dth = -s_seq if detach_reset else -s_seq + theta * sg
            else:
                dv_dth = torch.zeros_like(h_seq) if detach_reset else -(v_reset - h_seq) * sg
            dth = gv_seq * dv_dth
            if gs is not None:
                dth = dth - gs * sg
            grad_th = _sum_to(dth.sum(0), theta.shape)
        if need_x:  # last: G may be handed on as the input gradient itself
            if static:
                G = G.sum(0)
            grad_x = _sum_to(G if unit_gain else G * gain, x.shape)
        return grad_x, grad_v0, grad_a, grad_g, grad_th, None, None, None, None, None, None, None, None


def _numba_backward(ctx, gs: Tensor | None, gh: Tensor | None, gvT: Tensor | None,
                    gp: Tensor | None = None) -> tuple[Tensor | None, Tensor | None]:
    """dL/dx and dL/dv0 from the compiled recursion (decay, gain and threshold take no gradient here)."""
    x, v0, decay, gain, theta, h_seq, s_seq = ctx.saved_tensors
    v_reset, soft, detach_reset, surrogate, alpha, unit_gain, static, _ = ctx.cfg
    K = _kernels()
    T = h_seq.shape[0]
    step_shape = h_seq.shape[1:]
    M = h_seq[0].numel() if T > 0 else 0
    dt = h_seq.dtype
    as2 = lambda t: t.detach().to(dt).expand(h_seq.shape).contiguous().view(T, M).numpy()  # noqa: E731
    gx = torch.empty((1 if static else T, M), dtype=dt)
    gv0 = torch.empty(M, dtype=dt)
    K.lif_backward(h_seq.view(T, M).numpy(), s_seq.view(T, M).numpy(), None if gs is None else as2(gs),
                   None if gh is None else as2(gh), None if gvT is None else _flat(gvT, step_shape, dt),
                   _param(decay, step_shape, dt), _param(gain, step_shape, dt), _param(theta, step_shape, dt), soft,
                   detach_reset, float(v_reset), K.SURROGATE_CODES[surrogate], float(alpha), static, gx.numpy(),
                   gv0.numpy(), None if gp is None else gp.detach().to(dt).contiguous().view(T, -1).numpy(),
                   int(step_shape[-2]) if gp is not None else 0, int(step_shape[-1]) if gp is not None else 0)
    need_x, need_v0 = ctx.needs_input_grad[:2]
    grad_x = _sum_to(gx.view(x.shape if static else h_seq.shape), x.shape) if need_x else None
    grad_v0 = _sum_to(gv0.view(step_shape), v0.shape) if need_v0 else None
    return grad_x, grad_v0


def _static_base(x: Tensor) -> Tensor | None:
    """The one-step tensor ``b`` when ``x`` is exactly ``b`` repeated along time (a stride-0 view of it)."""
    b = x._base
    if (x.shape[0] > 1 and x.stride(0) == 0 and b is not None and b.dim() == x.dim() - 1
            and b.shape == x.shape[1:] and b.stride() == x.stride()[1:] and b.storage_offset() == x.storage_offset()):
        return b
    return None


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
    backend: str = "auto",
) -> LIFSeqOut:
    """Run a LIF population over a whole sequence in one fused autograd op.

    Args:
        x: input current, time-first ``(time, batch, ...)``. A time-constant input given as a
            stride-0 view (``b.expand(T, ...)``, as direct encoding and ``seq_apply`` produce) is
            read once per step and its gradient flows to ``b`` directly.
        v0: initial membrane ``(batch, ...)`` (default zeros).
        decay: ``a = exp(-dt/tau)`` (scalar or broadcastable tensor; may require grad).
        gain: input gain ``g`` (e.g. ``1 - a`` for the normalised form, ``1`` otherwise).
        threshold: firing threshold ``theta`` (may require grad).
        reset: ``"soft"`` (subtract theta) or ``"hard"`` (set to ``v_reset``).
        v_reset: reset potential for the hard reset.
        detach_reset: stop the gradient through the reset term.
        surrogate: registered surrogate name; ``alpha`` its sharpness (default: its default).
        backend: ``"auto"`` (the compiled numba kernels on CPU float32/64 when numba is installed,
            else torch), ``"numba"`` or ``"torch"``. Both compute the same equations.

    Returns:
        :class:`LIFSeqOut` ``(spikes, membrane, v_final)``.
    """
    if reset not in ("soft", "hard"):
        raise ValueError(f"reset must be 'soft' or 'hard', got {reset!r}.")
    if x.dim() < 2:
        raise ValueError(f"lif_multistep expects time-first input (time, batch, ...), got shape {tuple(x.shape)}.")
    if backend not in ("auto", "numba", "torch"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'torch', got {backend!r}.")
    spec = SURROGATES.get(surrogate)
    a = alpha if alpha is not None else spec.default_alpha
    if isinstance(a, Tensor):
        raise ValueError("lif_multistep takes a float alpha; use the unrolled path for a learnable slope.")
    numba_ok = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and _kernels() is not None
    if backend == "numba" and not numba_ok:
        raise ValueError("backend='numba' needs numba installed and a CPU float32/float64 input; use backend='auto'.")
    use_numba = numba_ok and backend != "torch"
    dt = x.dtype
    as_t = lambda z: z if isinstance(z, Tensor) else torch.tensor(float(z), dtype=dt, device=x.device)  # noqa: E731
    if v0 is None:
        v0 = torch.zeros_like(x[0])
    T = x.shape[0]
    base = _static_base(x)
    xin = x if base is None else base
    out = _FusedLIF.apply(xin, v0, as_t(decay), as_t(gain), as_t(threshold), float(v_reset), reset == "soft",
                          bool(detach_reset), surrogate, float(a), T, base is not None, use_numba)
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


class ALIFSeqOut(NamedTuple):
    """Outputs of :func:`alif_multistep`: spikes and pre-reset membrane per step, final state."""

    spikes: Tensor  # (time, batch, ...)
    membrane: Tensor  # (time, batch, ...) h_t
    v_final: Tensor  # (batch, ...)
    b_final: Tensor  # (batch, ...) adaptation trace after the last step


class _FusedALIF(torch.autograd.Function):
    """The adaptive LIF's time loop and its adjoint recursion, each one numba kernel call."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, b0: Tensor, decay: float, theta0: float, beta: float, rho: float,
                surrogate: str, alpha: float):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        K = _kernels()
        T = x.shape[0]
        step_shape = x.shape[1:]
        M = x[0].numel()
        dt = x.dtype
        sc = np.dtype(str(dt).removeprefix("torch.")).type
        h, s, b = (torch.empty((T, *step_shape), dtype=dt) for _ in range(3))
        v = torch.empty(step_shape, dtype=dt)
        K.alif_forward(x.detach().contiguous().view(T, M).numpy(), _flat(v0, step_shape, dt), _flat(b0, step_shape, dt),
                       sc(decay), sc(theta0), sc(beta), sc(rho), h.view(T, M).numpy(), s.view(T, M).numpy(),
                       b.view(T, M).numpy(), v.view(M).numpy())
        ctx.save_for_backward(h, s, b, b0)
        ctx.v0_shape = v0.shape
        ctx.cfg = (decay, theta0, beta, rho, surrogate, alpha)
        b_final = b[-1].clone() if T > 0 else b0.detach().expand(step_shape).clone()
        return s, h, v, b_final

    @staticmethod
    def backward(ctx, gs: Tensor | None, gh: Tensor | None, gvT: Tensor | None, gbT: Tensor | None):  # type: ignore[override]
        h, s, b, b0 = ctx.saved_tensors
        decay, theta0, beta, rho, surrogate, alpha = ctx.cfg
        K = _kernels()
        T = h.shape[0]
        step_shape = h.shape[1:]
        M = h[0].numel()
        dt = h.dtype
        sc = np.dtype(str(dt).removeprefix("torch.")).type
        as2 = lambda t: t.detach().to(dt).expand(h.shape).contiguous().view(T, M).numpy()  # noqa: E731
        gx = torch.empty((T, M), dtype=dt)
        gv0 = torch.empty(M, dtype=dt)
        gb0 = torch.empty(M, dtype=dt)
        K.alif_backward(h.view(T, M).numpy(), s.view(T, M).numpy(), b.view(T, M).numpy(), _flat(b0, step_shape, dt),
                        None if gs is None else as2(gs), None if gh is None else as2(gh),
                        None if gvT is None else _flat(gvT, step_shape, dt), None if gbT is None else _flat(gbT, step_shape, dt),
                        sc(decay), sc(theta0), sc(beta), sc(rho), K.SURROGATE_CODES[surrogate], float(alpha),
                        gx.numpy(), gv0.numpy(), gb0.numpy())
        need_x, need_v0, need_b0 = ctx.needs_input_grad[:3]
        return (gx.view(h.shape) if need_x else None,
                _sum_to(gv0.view(step_shape), ctx.v0_shape) if need_v0 else None,
                _sum_to(gb0.view(step_shape), b0.shape) if need_b0 else None, None, None, None, None, None, None)


def alif_multistep(
    x: Tensor,
    v0: Tensor | None = None,
    b0: Tensor | None = None,
    *,
    decay: float = 0.9,
    threshold: float = 1.0,
    beta: float = 1.0,
    rho: float = 0.99,
    surrogate: str = "atan",
    alpha: float | None = None,
    backend: str = "auto",
) -> ALIFSeqOut:
    """Adaptive-threshold LIF (Bellec et al. 2018) over a whole sequence in one fused autograd op.

    ``theta_t = threshold + beta b_{t-1}``, ``h_t = decay v_{t-1} + x_t``, ``s_t = H(h_t - theta_t)``,
    ``v_t = h_t - theta_t sg(s_t)`` (the reset's spike is detached), ``b_t = rho b_{t-1} + (1 - rho) s_t``.
    ``backend="auto"`` uses the numba kernels on CPU float32/64 (when installed) and the unrolled
    autograd loop otherwise (``"unrolled"`` forces it; ``"numba"`` requires the kernels). Both give
    the same values; gradients agree to rounding.
    """
    if x.dim() < 2:
        raise ValueError(f"alif_multistep expects time-first input (time, batch, ...), got shape {tuple(x.shape)}.")
    if backend not in ("auto", "numba", "unrolled"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'unrolled', got {backend!r}.")
    spec = SURROGATES.get(surrogate)
    a = spec.default_alpha if alpha is None else alpha
    v0 = torch.zeros_like(x[0]) if v0 is None else v0
    b0 = torch.zeros_like(x[0]) if b0 is None else b0
    numba_ok = (x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and _kernels() is not None
                and surrogate in _kernels().SURROGATE_CODES and not isinstance(a, Tensor))
    if backend == "numba" and not numba_ok:
        raise ValueError("backend='numba' needs numba, a CPU float32/float64 input, a built-in surrogate and a float alpha.")
    if numba_ok and backend != "unrolled":
        out = _FusedALIF.apply(x, v0, b0, float(decay), float(threshold), float(beta), float(rho), surrogate, float(a))
        return ALIFSeqOut(*out)
    from .surrogate import spike

    v, b = v0, b0
    spikes, mem = [], []
    for t in range(x.shape[0]):
        th = threshold + beta * b
        h = decay * v + x[t]
        s = spike(h - th, surrogate, a)
        v = h - th * s.detach()
        b = rho * b + (1 - rho) * s
        spikes.append(s)
        mem.append(h)
    return ALIFSeqOut(torch.stack(spikes), torch.stack(mem), v, b)


class MultiBitSpike(torch.autograd.Function):
    """``clip(floor(h / theta), 0, L)`` with a straight-through ``1/theta`` gradient on its support."""

    @staticmethod
    def forward(ctx, h: Tensor, theta: float, levels: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(h)
        ctx.theta, ctx.levels = theta, levels
        return torch.clamp(torch.floor(h / theta), 0, levels)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        (h,) = ctx.saved_tensors
        inside = ((h >= 0) & (h < (ctx.levels + 1) * ctx.theta)).to(g.dtype)
        return g * inside / ctx.theta, None, None



class _FusedGIF(torch.autograd.Function):
    """The multi-bit GIF neuron's time loop and adjoint, each one numba kernel call."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, decay: float, theta: float, levels: int):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        K = _kernels()
        T, step_shape, M, dt = x.shape[0], x.shape[1:], x[0].numel(), x.dtype
        sc = np.dtype(str(dt).removeprefix("torch.")).type
        h, s = (torch.empty((T, *step_shape), dtype=dt) for _ in range(2))
        v = torch.empty(step_shape, dtype=dt)
        K.gif_forward(x.detach().contiguous().view(T, M).numpy(), _flat(v0, step_shape, dt), sc(decay), sc(theta),
                      int(levels), h.view(T, M).numpy(), s.view(T, M).numpy(), v.view(M).numpy())
        ctx.save_for_backward(h)
        ctx.cfg = (decay, theta, levels, v0.shape)
        return s, h, v

    @staticmethod
    def backward(ctx, gs: Tensor | None, gh: Tensor | None, gvT: Tensor | None):  # type: ignore[override]
        (h,) = ctx.saved_tensors
        decay, theta, levels, v0_shape = ctx.cfg
        K = _kernels()
        T, step_shape, M, dt = h.shape[0], h.shape[1:], h[0].numel(), h.dtype
        sc = np.dtype(str(dt).removeprefix("torch.")).type
        as2 = lambda t: t.detach().to(dt).expand(h.shape).contiguous().view(T, M).numpy()  # noqa: E731
        gx = torch.empty((T, M), dtype=dt)
        gv0 = torch.empty(M, dtype=dt)
        K.gif_backward(h.view(T, M).numpy(), None if gs is None else as2(gs), None if gh is None else as2(gh),
                       None if gvT is None else _flat(gvT, step_shape, dt), sc(decay), sc(theta), int(levels),
                       gx.numpy(), gv0.numpy())
        need_x, need_v0 = ctx.needs_input_grad[:2]
        return (gx.view(h.shape) if need_x else None, _sum_to(gv0.view(step_shape), v0_shape) if need_v0 else None,
                None, None, None)


def gif_multistep(x: Tensor, v0: Tensor | None = None, *, decay: float = 1.0, threshold: float = 1.0, levels: int = 3,
                  backend: str = "auto") -> LIFSeqOut:
    """Multi-bit GIF neuron (SpikeLLM) over a sequence in one fused op.

    ``h_t = decay v_{t-1} + x_t``, ``s_t = clip(floor(h_t / theta), 0, levels)``, ``v_t = h_t - theta s_t``;
    straight-through gradient ``1/theta`` for ``0 <= h_t < (levels + 1) theta`` (the reset keeps it).
    ``backend="auto"`` uses the numba kernels on CPU float32/64, else the unrolled loop
    (``"unrolled"``); returns :class:`LIFSeqOut` with integer-valued spike levels.
    """
    if x.dim() < 2:
        raise ValueError(f"gif_multistep expects time-first input (time, batch, ...), got shape {tuple(x.shape)}.")
    if backend not in ("auto", "numba", "unrolled"):
        raise ValueError(f"backend must be 'auto', 'numba' or 'unrolled', got {backend!r}.")
    v0 = torch.zeros_like(x[0]) if v0 is None else v0
    numba_ok = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and _kernels() is not None
    if backend == "numba" and not numba_ok:
        raise ValueError("backend='numba' needs numba installed and a CPU float32/float64 input.")
    if numba_ok and backend != "unrolled":
        return LIFSeqOut(*_FusedGIF.apply(x, v0, float(decay), float(threshold), int(levels)))
    v = v0
    out, mem = [], []
    for t in range(x.shape[0]):
        h = decay * v + x[t]
        s = MultiBitSpike.apply(h, float(threshold), int(levels))
        v = h - threshold * s
        out.append(s)
        mem.append(h)
    return LIFSeqOut(torch.stack(out), torch.stack(mem), v)


class LIFPoolSeqOut(NamedTuple):
    """Outputs of :func:`lif_pool_multistep`: 2x2-max-pooled spikes, then :class:`LIFSeqOut`'s fields."""

    pooled: Tensor  # (time, batch, C, H/2, W/2)
    spikes: Tensor | None  # (time, batch, C, H, W); None with keep_sequences=False
    membrane: Tensor | None
    v_final: Tensor


class _FusedLIFPool(torch.autograd.Function):
    """The LIF kernels followed by a 2x2 max pool of the spikes; the backward routes the pooled
    gradient to the window winners inside the LIF recursion (no unpooled gradient tensor)."""

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, decay: Tensor, gain: Tensor, theta: Tensor, v_reset: float, soft: bool,
                detach_reset: bool, surrogate: str, alpha: float, steps: int, static: bool):  # type: ignore[override]
        s_seq, h_seq, v = _FusedLIF.forward(ctx, x, v0, decay, gain, theta, v_reset, soft, detach_reset, surrogate,
                                            alpha, steps, static, True)
        *lead, H, W = s_seq.shape
        y = torch.empty((*lead, H // 2, W // 2), dtype=s_seq.dtype)
        _kernels().pool_forward(s_seq.view(-1, H, W).numpy(), y.view(-1, H // 2, W // 2).numpy())
        return y, s_seq, h_seq, v

    @staticmethod
    def backward(ctx, gy: Tensor | None, gs: Tensor | None, gh: Tensor | None, gvT: Tensor | None):  # type: ignore[override]
        return _numba_backward(ctx, gs, gh, gvT, gy) + (None,) * 10


def lif_pool_multistep(
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
    keep_sequences: bool = True,
) -> LIFPoolSeqOut:
    """:func:`lif_multistep` on ``(time, batch, C, H, W)`` followed by a 2x2 max pool of the spikes.

    The pooled spikes equal ``F.max_pool2d`` of the spikes at every step, values and gradients. On
    CPU float32/64 with numba, even ``H`` and ``W``, a built-in surrogate and no gradient wanted for
    decay, gain or threshold, pooling runs inside the fused op and its gradient is routed inside
    the LIF's backward recursion; otherwise this is the two ops in sequence. Steps in channels-last
    memory (as a channels-last conv produces; a static input's one step likewise) take the NHWC
    kernels of :mod:`._lif_pool` and give channels-last outputs (same values).

    Args:
        keep_sequences: also return the unpooled spikes and the membrane; ``False`` returns ``None``
            in those fields and, on the channels-last path, never writes a spike sequence and keeps
            the charge (read only by the backward) in a reused buffer.
    """
    from .surrogate import SURROGATES as _S

    a = alpha if alpha is not None else _S.get(surrogate).default_alpha
    as_t = lambda z: z if isinstance(z, Tensor) else torch.tensor(float(z), dtype=x.dtype, device=x.device)  # noqa: E731
    d, g, th = as_t(decay), as_t(gain), as_t(threshold)
    fusable = (x.dim() == 5 and x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0 and x.device.type == "cpu"
               and x.dtype in (torch.float32, torch.float64) and _kernels() is not None and not isinstance(a, Tensor)
               and surrogate in _kernels().SURROGATE_CODES and reset in ("soft", "hard")
               and not (d.requires_grad or g.requires_grad or th.requires_grad))
    if not fusable:
        out = lif_multistep(x, v0, decay, gain, threshold, reset=reset, v_reset=v_reset, detach_reset=detach_reset,
                            surrogate=surrogate, alpha=alpha)
        T, B = out.spikes.shape[:2]
        flat = out.spikes.reshape(T * B, *out.spikes.shape[2:])
        pooled = torch.nn.functional.max_pool2d(flat, 2)
        res = LIFPoolSeqOut(pooled.reshape(T, B, *pooled.shape[1:]), *out)
        return res if keep_sequences else res._replace(spikes=None, membrane=None)
    T = x.shape[0]
    base = _static_base(x)
    xin = x if base is None else base
    from ._lif_pool import FusedLIFPoolCL, is_channels_last_steps

    if is_channels_last_steps(xin):  # v0=None: the kernel starts from rest (no zero tensor)
        out = FusedLIFPoolCL.apply(xin, v0, d, g, th, float(v_reset), reset == "soft", bool(detach_reset), surrogate,
                                   float(a), T, base is not None, bool(keep_sequences))
        if keep_sequences:
            y, v, s, h = out
            return LIFPoolSeqOut(y, s, h, v)
        return LIFPoolSeqOut(out[0], None, None, out[1])
    if v0 is None:
        v0 = torch.zeros_like(x[0])
    out = _FusedLIFPool.apply(xin, v0, d, g, th, float(v_reset), reset == "soft",
                              bool(detach_reset), surrogate, float(a), T, base is not None)
    res = LIFPoolSeqOut(*out)
    return res if keep_sequences else res._replace(spikes=None, membrane=None)
