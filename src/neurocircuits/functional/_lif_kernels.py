"""numba kernels of the fused multi-step LIF (CPU fast path of :mod:`.lif_multistep`).

Imported only when that path runs. Arrays are 2-D ``(time, M)`` views of contiguous tensors with
``M`` = batch x features; per-neuron parameters arrive as ``(M,)`` arrays, uniform ones as scalars of the array dtype (numba
compiles one specialisation per combination).
One call runs the whole time loop, so there is no per-step dispatch and the inner loops over ``M``
are plain, branch-free (selects), vectorisable code. The arithmetic per element is the unrolled
reference's, in its order (``a v + g x``, ``H(h - theta)``, ``h - theta s``); no ``fastmath``.

Surrogate codes (``dF/dx`` at ``x = h - theta``, as in :mod:`.surrogate`):
0 atan ``(a/2) / (1 + (pi a x / 2)^2)``, 1 fast_sigmoid ``1 / (1 + a|x|)^2``,
2 triangle ``a max(0, 1 - a|x|)``, 3 sigmoid ``a s (1 - s)``, 4 straight_through ``1``.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba.core import types
from numba.extending import overload

SURROGATE_CODES = {"atan": 0, "fast_sigmoid": 1, "triangle": 2, "sigmoid": 3, "straight_through": 4}


def _at(p, m):  # noqa: ANN001, ANN202 - element m of a per-neuron array, or the scalar itself
    return p[m] if isinstance(p, np.ndarray) else p


def _sl(p, lo, hi):  # noqa: ANN001, ANN202 - p[lo:hi] of a per-neuron array, or the scalar itself
    return p[lo:hi] if isinstance(p, np.ndarray) else p


@overload(_sl, inline="always")
def _sl_ov(p, lo, hi):  # noqa: ANN001, ANN202
    if isinstance(p, types.Array):
        return lambda p, lo, hi: p[lo:hi]
    return lambda p, lo, hi: p


@overload(_at, inline="always")
def _at_ov(p, m):  # noqa: ANN001, ANN202
    if isinstance(p, types.Array):
        return lambda p, m: p[m]
    return lambda p, m: p


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lif_forward(x, static, v0, a, g, th, soft, vr, h, s, v):  # pragma: no cover - compiled
    """Charge, fire and reset over ``T = h.shape[0]`` steps; ``v`` receives the final membrane.

    ``x`` is ``(T, M)``, or ``(1, M)`` read at every step when ``static``.
    """
    T, M = h.shape
    one = h.dtype.type(1.0)
    zero = h.dtype.type(0.0)
    vrt = h.dtype.type(vr)
    for m in range(M):
        v[m] = v0[m]
    for t in range(T):
        xt = x[0] if static else x[t]
        ht = h[t]
        st = s[t]
        if soft:
            for m in range(M):
                hm = _at(a, m) * v[m] + _at(g, m) * xt[m]
                sm = one if hm >= _at(th, m) else zero
                ht[m] = hm
                st[m] = sm
                v[m] = hm - _at(th, m) * sm
        else:
            for m in range(M):
                hm = _at(a, m) * v[m] + _at(g, m) * xt[m]
                sm = one if hm >= _at(th, m) else zero
                ht[m] = hm
                st[m] = sm
                v[m] = vrt if sm > zero else hm


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _surrogate_row(h, th, code, alpha, out):  # pragma: no cover - compiled
    """``out[m] = dF/dx(h[m] - _at(th, m))``; one vectorisable loop per surrogate."""
    M = h.shape[0]
    one = out.dtype.type(1.0)
    zero = out.dtype.type(0.0)
    al = out.dtype.type(alpha)
    if code == 0:
        k = out.dtype.type(math.pi / 2.0 * alpha)
        half = out.dtype.type(alpha / 2.0)
        for m in range(M):
            y = k * (h[m] - _at(th, m))
            out[m] = half / (one + y * y)
    elif code == 1:
        for m in range(M):
            d = one + al * abs(h[m] - _at(th, m))
            out[m] = one / (d * d)
    elif code == 2:
        for m in range(M):
            out[m] = al * max(zero, one - al * abs(h[m] - _at(th, m)))
    elif code == 3:
        for m in range(M):
            sg = one / (one + math.exp(-al * (h[m] - _at(th, m))))
            out[m] = al * sg * (one - sg)
    else:
        for m in range(M):
            out[m] = one


@numba.njit(cache=True, nogil=True, error_model="numpy")
def pool_forward(x, y):  # pragma: no cover - compiled
    """``y[p, i, j] = max`` of the window ``x[p, 2i:2i+2, 2j:2j+2]`` (2x2 max pool, stride 2)."""
    P = x.shape[0]
    Ho, Wo = y.shape[1], y.shape[2]
    for p in range(P):
        for i in range(Ho):
            r0 = x[p, 2 * i]
            r1 = x[p, 2 * i + 1]
            yr = y[p, i]
            for j in range(Wo):
                yr[j] = max(max(r0[2 * j], r0[2 * j + 1]), max(r1[2 * j], r1[2 * j + 1]))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def route_pool_grad(x, g, out, H, W):  # pragma: no cover - compiled
    """``dL/dx`` of the 2x2 max pool on flat rows: ``x``/``out`` hold ``P`` maps of ``H x W``
    (``P H W`` values), ``g`` the ``P (H/2) (W/2)`` pooled gradients. Each window's gradient goes to
    ``max_pool2d``'s winner (the first maximum in row-major order), zero elsewhere; every element of
    ``out`` is written once, branch-free."""
    zero = out.dtype.type(0.0)
    Wo = W // 2
    for q in range(x.shape[0] // (2 * W)):  # row pairs (2i, 2i+1) of every map, contiguous
        o = q * 2 * W
        go = q * Wo
        for j in range(Wo):
            a = x[o + 2 * j]
            b = x[o + 2 * j + 1]
            c = x[o + W + 2 * j]
            d = x[o + W + 2 * j + 1]
            right0 = b > a  # within a row the right element wins only if strictly greater
            right1 = d > c
            lower = max(c, d) > max(a, b)  # the lower row wins only if strictly greater
            gv = g[go + j]
            out[o + 2 * j] = zero if (lower or right0) else gv
            out[o + 2 * j + 1] = gv if (right0 and not lower) else zero
            out[o + W + 2 * j] = gv if (lower and not right1) else zero
            out[o + W + 2 * j + 1] = gv if (lower and right1) else zero


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def grad_factors(like, soft, detach, vr):  # pragma: no cover - compiled
    """The 0/1 factors of ``D_t`` in the backward recursions, in ``like``'s dtype: ``(one, zero,
    f_soft, f_hard, f_hard_sg, v_reset, plain)``, ``plain`` meaning soft reset with a detached
    reset (``D_t = 1``)."""
    one = like.dtype.type(1.0)
    zero = like.dtype.type(0.0)
    f_soft = one if (soft and not detach) else zero
    f_hard = zero if soft else one
    f_hard_sg = one if (not soft and not detach) else zero
    return one, zero, f_soft, f_hard, f_hard_sg, like.dtype.type(vr), soft and detach


BLOCK = 2048  # elements per block in the backward: the block's rows and sigma' stay in L1/L2


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lif_backward(h, s, gs, gh, gvT, a, g, th, soft, detach, vr, code, alpha, static, gx, gv0, gp, pool_h,
                 pool_w):  # pragma: no cover
    """Reverse-time recursion ``G_t = gh_t + gs_t sigma'_t + gv_t D_t``, ``gv_{t-1} = a G_t``.

    With ``gp`` (``(T, M/4)``, the gradient of the spikes' 2x2 max pool; ``None`` otherwise)
    each step's pooled gradient is first routed to its window winners (:func:`route_pool_grad`) and
    added to ``gs_t``: the unpooled gradient never exists as a ``(T, M)`` tensor.

    ``gs``/``gh`` are ``(T, M)`` or ``None`` when that output got no gradient (numba compiles the
    ``None`` branches away); ``gvT`` is ``(M,)`` or ``None``. Writes ``dL/dx`` into ``gx``
    (``(T, M)``, or ``(1, M)`` summed over time when ``static``) and ``dL/dv0`` into ``gv0``, and
    uses no other array of size ``M`` (sigma' lives in one block-sized scratch row).
    ``D_t = dv_t/dh_t`` is ``1`` (soft, detached: its own loop), else
    ``1 - f1 theta sigma' - f2 s + f3 (v_reset - h) sigma'`` with 0/1 factors: ``1 - theta sigma'``
    (soft), ``1 - s`` (hard, detached), ``1 - s + (v_reset - h) sigma'`` (hard); adding exact zeros
    leaves each case's value unchanged.
    """
    T, M = h.shape
    one, zero, f_soft, f_hard, f_hard_sg, vrt, plain = grad_factors(h, soft, detach, vr)
    carry = gv0  # gv_t = dL/dv_t, updated in place; ends as dL/dv0
    for m in range(M):
        carry[m] = zero
    if gvT is not None:
        for m in range(M):
            carry[m] = gvT[m]
    if static:
        for m in range(M):
            gx[0, m] = zero
    sg = np.empty(min(BLOCK, M), dtype=h.dtype)  # sigma' of one block
    cc = np.empty(min(BLOCK, M), dtype=h.dtype)  # C = gs sigma' + gh of one block
    # one step's routed pool gradient (simple `is None` tests only: numba prunes those branches)
    n_rr = 1
    if gp is not None:
        n_rr = M
    rr = np.empty(n_rr, dtype=h.dtype)
    for t in range(T - 1, -1, -1):
        if gp is not None:
            route_pool_grad(s[t], gp[t], rr, pool_h, pool_w)
        for b0 in range(0, M, BLOCK):
            b1 = min(b0 + BLOCK, M)
            n = b1 - b0
            ht = h[t, b0:b1]
            cb = carry[b0:b1]
            gxb = gx[0, b0:b1] if static else gx[t, b0:b1]
            ab = _sl(a, b0, b1)
            gb = _sl(g, b0, b1)
            thb = _sl(th, b0, b1)
            sgb = sg[:n]
            ccb = cc[:n]
            _surrogate_row(ht, thb, code, alpha, sgb)
            rrb = rr[b0:b1] if n_rr > 1 else rr
            if gs is not None:
                gsb = gs[t, b0:b1]
                if gp is not None:
                    for j in range(n):
                        ccb[j] = (gsb[j] + rrb[j]) * sgb[j]
                else:
                    for j in range(n):
                        ccb[j] = gsb[j] * sgb[j]
            else:
                if gp is not None:
                    for j in range(n):
                        ccb[j] = rrb[j] * sgb[j]
                else:
                    for j in range(n):
                        ccb[j] = zero
            if gh is not None:
                ghb = gh[t, b0:b1]
                for j in range(n):
                    ccb[j] = ccb[j] + ghb[j]
            if plain:
                for j in range(n):
                    G = ccb[j] + cb[j]
                    gxb[j] = gxb[j] + _at(gb, j) * G if static else _at(gb, j) * G
                    cb[j] = _at(ab, j) * G
            else:
                st = s[t, b0:b1]
                for j in range(n):
                    D = (one - f_soft * _at(thb, j) * sgb[j] - f_hard * st[j]
                         + f_hard_sg * (vrt - ht[j]) * sgb[j])
                    G = ccb[j] + cb[j] * D
                    gxb[j] = gxb[j] + _at(gb, j) * G if static else _at(gb, j) * G
                    cb[j] = _at(ab, j) * G


@numba.njit(cache=True, nogil=True, error_model="numpy")
def alif_forward(x, v0, b0, a, th0, beta, rho, h, s, b, v):  # pragma: no cover - compiled
    """Adaptive LIF over ``T`` steps: ``theta_t = th0 + beta b_{t-1}``, ``h_t = a v_{t-1} + x_t``,
    ``s_t = H(h_t - theta_t)``, ``v_t = h_t - theta_t s_t``, ``b_t = rho b_{t-1} + (1 - rho) s_t``.

    Writes ``h``, ``s`` and the adaptation trace ``b`` (after each step) as ``(T, M)``; ``v`` gets
    the final membrane. The arithmetic follows the unrolled reference in its order.
    """
    T, M = h.shape
    one = h.dtype.type(1.0)
    zero = h.dtype.type(0.0)
    for m in range(M):
        v[m] = v0[m]
    for t in range(T):
        bp = b0 if t == 0 else b[t - 1]
        xt = x[t]
        ht = h[t]
        st = s[t]
        bt = b[t]
        for m in range(M):
            th = _at(th0, m) + _at(beta, m) * bp[m]
            hm = _at(a, m) * v[m] + xt[m]
            sm = one if hm - th >= zero else zero
            ht[m] = hm
            st[m] = sm
            v[m] = hm - th * sm
            bt[m] = _at(rho, m) * bp[m] + (one - _at(rho, m)) * sm


@numba.njit(cache=True, nogil=True, error_model="numpy")
def alif_backward(h, s, b, b0, gs, gh, gvT, gbT, a, th0, beta, rho, code, alpha, gx, gv0, gb0):  # pragma: no cover
    """Adjoint recursion of :func:`alif_forward` (reset detached as in the reference: ``v_t = h_t -
    theta_t sg(s_t)``; the trace ``b`` keeps the spike's gradient). Per step, going back:
    ``Gs = gs_t + (1 - rho) gb_t``, ``Gh = gh_t + gv_t + Gs sigma'``, ``Gth = -gv_t s_t - Gs sigma'``;
    ``dL/dx_t = Gh``, ``gv_{t-1} = a Gh``, ``gb_{t-1} = rho gb_t + beta Gth``.
    """
    T, M = h.shape
    one = h.dtype.type(1.0)
    zero = h.dtype.type(0.0)
    for m in range(M):
        gv0[m] = zero if gvT is None else gvT[m]
        gb0[m] = zero if gbT is None else gbT[m]
    th = np.empty(M, dtype=h.dtype)
    sg = np.empty(M, dtype=h.dtype)
    for t in range(T - 1, -1, -1):
        bp = b0 if t == 0 else b[t - 1]
        ht = h[t]
        st = s[t]
        for m in range(M):
            th[m] = _at(th0, m) + _at(beta, m) * bp[m]
        _surrogate_row(ht, th, code, alpha, sg)
        gxt = gx[t]
        for m in range(M):
            gsm = zero if gs is None else gs[t, m]
            ghm = zero if gh is None else gh[t, m]
            Gs = gsm + (one - _at(rho, m)) * gb0[m]
            Gh = ghm + gv0[m] + Gs * sg[m]
            Gth = -gv0[m] * st[m] - Gs * sg[m]
            gxt[m] = Gh
            gv0[m] = _at(a, m) * Gh
            gb0[m] = _at(rho, m) * gb0[m] + _at(beta, m) * Gth


@numba.njit(cache=True, nogil=True, error_model="numpy")
def gif_forward(x, v0, a, theta, levels, h, s, v):  # pragma: no cover - compiled
    """Multi-bit IF/LIF (SpikeLLM's GIF): ``h_t = a v_{t-1} + x_t``,
    ``s_t = clip(floor(h_t / theta), 0, L)``, ``v_t = h_t - theta s_t``."""
    T, M = h.shape
    zero = h.dtype.type(0.0)
    lv = h.dtype.type(levels)
    for m in range(M):
        v[m] = v0[m]
    for t in range(T):
        xt = x[t]
        ht = h[t]
        st = s[t]
        for m in range(M):
            hm = a * v[m] + xt[m]
            sm = min(max(math.floor(hm / theta), zero), lv)
            ht[m] = hm
            st[m] = sm
            v[m] = hm - theta * sm


@numba.njit(cache=True, nogil=True, error_model="numpy")
def gif_backward(h, gs, gh, gvT, a, theta, levels, gx, gv0):  # pragma: no cover - compiled
    """Adjoint of :func:`gif_forward` with the straight-through level gradient ``1/theta`` on
    ``0 <= h < (L + 1) theta`` (the reset keeps the spike's gradient): ``Gs = gs_t - theta gv_t``,
    ``Gh = gh_t + gv_t + Gs [inside] / theta``, ``dL/dx_t = Gh``, ``gv_{t-1} = a Gh``."""
    T, M = h.shape
    zero = h.dtype.type(0.0)
    top = (levels + 1) * theta
    for m in range(M):
        gv0[m] = zero if gvT is None else gvT[m]
    for t in range(T - 1, -1, -1):
        ht = h[t]
        gxt = gx[t]
        for m in range(M):
            gsm = zero if gs is None else gs[t, m]
            ghm = zero if gh is None else gh[t, m]
            Gs = gsm + gv0[m] * (-theta)
            ins = (ht[m] >= zero) & (ht[m] < top)
            Gh = ghm + gv0[m] + ((Gs if ins else zero) / theta)
            gxt[m] = Gh
            gv0[m] = a * Gh
