"""numba kernels of the fused LIF + 2x2 max pool for any dense per-step layout (NCHW or NHWC).

Imported only when :func:`~neurocircuits.functional.lif_multistep.lif_pool_multistep` takes its
compiled path. Every per-step array is the flat memory of one time step, ``(T, M)``, described as
``(P, H, W, C)`` maps in memory order: a channels-last step ``(B, C, H, W)`` is ``P = B`` with the
channel axis innermost, a contiguous (NCHW) step is ``P = B C`` with ``C = 1``. With channels last
the innermost loops run over the channels (contiguous, vectorisable), which is what makes the pool
and its gradient routing cheap on the small maps of a conv SNN. Per-neuron parameters arrive as
``(M,)`` arrays in the same memory order, uniform ones as scalars of the array dtype.

Same equations and per-element arithmetic, in the same order, as :mod:`._lif_kernels`
(``a v + g x``, ``H(h - theta)``, ``h - theta s``; no ``fastmath``). Differences, all about memory:

* the spikes are recomputed from the stored charge (``s = h >= theta``, the forward's own test)
  wherever they are needed, so the forward need not write a ``(T, M)`` spike tensor (``s`` may be
  ``None``) and the backward never reads one;
* the pool of step ``t`` is taken right after step ``t`` is computed (its rows are still in cache);
* the backward works in blocks of whole row pairs, so each block routes its own share of the
  pooled gradient to the window winners into a block-sized scratch row (no ``(M,)`` temporary).

The routing is ``max_pool2d``'s: each window's gradient goes to its first maximum in row-major
order (a later element wins only if strictly greater), exactly as ``route_pool_grad``.
"""

from __future__ import annotations

import numba
import numpy as np

from ._lif_kernels import _at, _sl, _surrogate_row, grad_factors

BLOCK = 2048  # target elements per backward block (rounded to whole row pairs)


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _row_pairs(M, W, C, block):  # pragma: no cover - compiled
    """Layout of the 2x2 pool over ``M`` elements of ``(P, H, W, C)`` maps: ``(W C, row-pair length
    2 W C, pooled width W // 2, number of row pairs, row pairs per block of about ``block`` elements,
    the longest block)``."""
    WC = W * C
    RP = 2 * WC
    per = max(1, block // RP)
    return WC, RP, W // 2, M // RP, per, min(per * RP, M)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lif_pool_forward(x, static, v0, a, g, th, soft, vr, h, s, y, v, H, W, C):  # pragma: no cover - compiled
    """LIF over ``T = h.shape[0]`` steps, then the 2x2 max pool of each step's spikes into ``y``.

    ``x`` is ``(T, M)``, or ``(1, M)`` read at every step when ``static``; ``v0`` ``(M,)`` or ``None``
    (zeros); ``h`` receives the charge,
    ``s`` the spikes (or ``None``: not stored), ``y`` ``(T, M/4)`` the pooled spikes in the same
    ``(P, H/2, W/2, C)`` layout, ``v`` the final membrane.
    """
    T, M = h.shape
    one = h.dtype.type(1.0)
    zero = h.dtype.type(0.0)
    vrt = h.dtype.type(vr)
    WC = W * C
    Wo = W // 2
    n_rp = M // (2 * WC)  # row pairs per step
    if v0 is None:  # resting start
        for m in range(M):
            v[m] = zero
    else:
        for m in range(M):
            v[m] = v0[m]
    for t in range(T):
        xt = x[0] if static else x[t]
        ht = h[t]
        if soft:
            for m in range(M):
                hm = _at(a, m) * v[m] + _at(g, m) * xt[m]
                sm = one if hm >= _at(th, m) else zero
                ht[m] = hm
                v[m] = hm - _at(th, m) * sm
        else:
            for m in range(M):
                hm = _at(a, m) * v[m] + _at(g, m) * xt[m]
                sm = one if hm >= _at(th, m) else zero
                ht[m] = hm
                v[m] = vrt if sm > zero else hm
        if s is not None:
            st = s[t]
            for m in range(M):
                st[m] = one if ht[m] >= _at(th, m) else zero
        yt = y[t]
        for q in range(n_rp):
            o = 2 * q * WC
            yo = q * Wo * C
            for j in range(Wo):
                p0 = o + 2 * j * C
                p1 = p0 + WC
                # channel-long slices: unit-stride inner loops the compiler vectorises
                ha, hb, hc, hd = ht[p0:p0 + C], ht[p0 + C:p0 + 2 * C], ht[p1:p1 + C], ht[p1 + C:p1 + 2 * C]
                ta, tb = _sl(th, p0, p0 + C), _sl(th, p0 + C, p0 + 2 * C)
                tc, td = _sl(th, p1, p1 + C), _sl(th, p1 + C, p1 + 2 * C)
                yj = yt[yo + j * C:yo + j * C + C]
                for c in range(C):
                    f = (ha[c] >= _at(ta, c)) | (hb[c] >= _at(tb, c)) | (hc[c] >= _at(tc, c)) | (hd[c] >= _at(td, c))
                    yj[c] = one if f else zero


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _membrane_grad_block(plain, static, n, ccb, cb, gxb, gb, ab, thb, sgb, spb, ht, one, f_soft, f_hard, f_hard_sg,
                         vrt):  # pragma: no cover - compiled
    """One backward time step of a block of n neurons, shared by the unblocked and blocked kernels:
    charge gradient ``G = dL/dh`` from the spike path ``ccb`` and the carried membrane gradient
    ``cb`` (through the reset's derivative ``D`` unless ``plain``), accumulated into the input
    gradient ``gxb`` (summed over time for a static input) and carried back by the decay."""
    if plain:
        for j in range(n):
            G = ccb[j] + cb[j]
            gxb[j] = gxb[j] + _at(gb, j) * G if static else _at(gb, j) * G
            cb[j] = _at(ab, j) * G
    else:
        for j in range(n):
            D = (one - f_soft * _at(thb, j) * sgb[j] - f_hard * spb[j]
                 + f_hard_sg * (vrt - ht[j]) * sgb[j])
            G = ccb[j] + cb[j] * D
            gxb[j] = gxb[j] + _at(gb, j) * G if static else _at(gb, j) * G
            cb[j] = _at(ab, j) * G


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _route_pool_grad_block(spb, ccb, gpt, q0, q1, RP, Wo, WC, C, zero):  # pragma: no cover - compiled
    """Write into ``ccb`` (one block of row pairs ``q0:q1``) each 2x2 window's pooled gradient
    ``gpt`` at the window's first maximum of the spikes ``spb`` (``max_pool2d``'s routing), zero
    elsewhere."""
    for q in range(q1 - q0):
        o = q * RP
        go = (q0 + q) * Wo * C
        for jw in range(Wo):
            p0 = o + 2 * jw * C
            p1 = p0 + WC
            # channel-long slices and bitwise (not short-circuit) tests: vectorisable selects
            sa, sb, sc, sd = spb[p0:p0 + C], spb[p0 + C:p0 + 2 * C], spb[p1:p1 + C], spb[p1 + C:p1 + 2 * C]
            ra, rb, rc, rd = ccb[p0:p0 + C], ccb[p0 + C:p0 + 2 * C], ccb[p1:p1 + C], ccb[p1 + C:p1 + 2 * C]
            gw = gpt[go + jw * C:go + jw * C + C]
            for c in range(C):
                right0 = sb[c] > sa[c]  # within a row the right element wins only if strictly greater
                right1 = sd[c] > sc[c]
                lower = max(sc[c], sd[c]) > max(sa[c], sb[c])  # the lower row only if strictly greater
                gv = gw[c]
                ra[c] = zero if (lower | right0) else gv
                rb[c] = gv if (right0 & ~lower) else zero
                rc[c] = gv if (lower & ~right1) else zero
                rd[c] = gv if (lower & right1) else zero


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lif_pool_backward(h, gs, gh, gvT, a, g, th, soft, detach, vr, code, alpha, static, gx, gv0, gp, H, W,
                      C):  # pragma: no cover - compiled
    """Reverse-time recursion of :func:`lif_pool_forward` (the adjoint of ``_lif_kernels.lif_backward``
    with the pooled gradient ``gp`` ``(T, M/4)`` routed to the window winners block by block).

    ``G_t = gh_t + (gs_t + route(gp_t)) sigma'_t + gv_t D_t``, ``gv_{t-1} = a G_t``; ``D_t`` as in
    ``lif_backward``. ``gs``/``gh`` are ``(T, M)`` or ``None``, ``gvT`` ``(M,)`` or ``None``. Writes
    ``dL/dx`` into ``gx`` (``(T, M)``, or ``(1, M)`` summed over time when ``static``) and ``dL/dv0``
    into ``gv0``.
    """
    T, M = h.shape
    one, zero, f_soft, f_hard, f_hard_sg, vrt, plain = grad_factors(h, soft, detach, vr)
    WC, RP, Wo, n_rp, per, nmax = _row_pairs(M, W, C, BLOCK)
    carry = gv0  # gv_t = dL/dv_t, updated in place; ends as dL/dv0
    for m in range(M):
        carry[m] = zero
    if gvT is not None:
        for m in range(M):
            carry[m] = gvT[m]
    if static:
        for m in range(M):
            gx[0, m] = zero
    sg = np.empty(nmax, dtype=h.dtype)  # sigma' of one block
    sp = np.empty(nmax, dtype=h.dtype)  # spikes of one block (recomputed from h)
    cc = np.empty(nmax, dtype=h.dtype)  # routed pool gradient, then C = (gs + route) sigma' + gh
    for t in range(T - 1, -1, -1):
        gpt = gp[t]
        for q0 in range(0, n_rp, per):
            q1 = min(q0 + per, n_rp)
            b0 = q0 * RP
            b1 = q1 * RP
            n = b1 - b0
            ht = h[t, b0:b1]
            cb = carry[b0:b1]
            gxb = gx[0, b0:b1] if static else gx[t, b0:b1]
            ab = _sl(a, b0, b1)
            gb = _sl(g, b0, b1)
            thb = _sl(th, b0, b1)
            sgb = sg[:n]
            spb = sp[:n]
            ccb = cc[:n]
            for j in range(n):
                spb[j] = one if ht[j] >= _at(thb, j) else zero
            _surrogate_row(ht, thb, code, alpha, sgb)
            _route_pool_grad_block(spb, ccb, gpt, q0, q1, RP, Wo, WC, C, zero)  # pooled gradient -> window winners
            if gs is not None:
                gsb = gs[t, b0:b1]
                for j in range(n):
                    ccb[j] = (gsb[j] + ccb[j]) * sgb[j]
            else:
                for j in range(n):
                    ccb[j] = ccb[j] * sgb[j]
            if gh is not None:
                ghb = gh[t, b0:b1]
                for j in range(n):
                    ccb[j] = ccb[j] + ghb[j]
            _membrane_grad_block(plain, static, n, ccb, cb, gxb, gb, ab, thb, sgb, spb, ht, one, f_soft, f_hard,
                                 f_hard_sg, vrt)


# ---------------------------------------------------------------------------- BatchNorm (training)
# ``z`` below is the convolution output as an ``(N, P, C)`` view (P = H W positions): channels-last
# memory makes it a contiguous array, an NCHW tensor a strided view (numba compiles both). Sums are
# accumulated in float64 (at least PyTorch's precision); ``y``/``g`` are dense ``(N, P, C)``.


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bn_stats(z, mean, var):  # pragma: no cover - compiled
    """Per-channel mean and biased variance of ``z`` over ``N P`` (two passes, float64)."""
    N, P, C = z.shape
    s = np.zeros(C, dtype=np.float64)
    for n in range(N):
        for p in range(P):
            zr = z[n, p]
            for c in range(C):
                s[c] += zr[c]
    cnt = N * P
    for c in range(C):
        mean[c] = s[c] / cnt
        s[c] = 0.0
    for n in range(N):
        for p in range(P):
            zr = z[n, p]
            for c in range(C):
                d = zr[c] - mean[c]
                s[c] += d * d
    for c in range(C):
        var[c] = s[c] / cnt


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bn_apply(z, scale, shift, y):  # pragma: no cover - compiled
    """``y = z scale_c + shift_c`` (BatchNorm's affine form, ``scale = gamma / std``), into ``(N, P, C)``."""
    N, P, C = z.shape
    for n in range(N):
        for p in range(P):
            zr = z[n, p]
            yr = y[n, p]
            for c in range(C):
                yr[c] = zr[c] * scale[c] + shift[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bn_backward(g, z, mean, invstd, gamma, dz, dgamma, dbeta):  # pragma: no cover - compiled
    """Training-mode BatchNorm backward from ``g = dL/dy``: ``dbeta = sum g``,
    ``dgamma = sum g xhat``, ``dz = gamma invstd (g - mean(g) - xhat mean(g xhat))`` with
    ``xhat = (z - mean) invstd``; sums in float64."""
    N, P, C = z.shape
    sg = np.zeros(C, dtype=np.float64)
    sgx = np.zeros(C, dtype=np.float64)
    for n in range(N):
        for p in range(P):
            gr = g[n, p]
            zr = z[n, p]
            for c in range(C):
                sg[c] += gr[c]
                sgx[c] += gr[c] * (zr[c] - mean[c])
    bn_backward_apply(g, z, mean, invstd, gamma, sg, sgx, dz, dgamma, dbeta)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def bn_backward_apply(g, z, mean, invstd, gamma, sg, sgx, dz, dgamma, dbeta):  # pragma: no cover - compiled
    """The second pass of :func:`bn_backward`, from the sums ``sg = sum g`` and ``sgx = sum g (z - mean)``
    (float64). (Accumulating the sums inside the LIF backward instead was measured slower.)"""
    N, P, C = z.shape
    cnt = N * P
    k = np.empty(C, dtype=g.dtype)
    mg = np.empty(C, dtype=g.dtype)
    mz = np.empty(C, dtype=g.dtype)
    cx = np.empty(C, dtype=g.dtype)
    for c in range(C):
        dbeta[c] = sg[c]
        dgamma[c] = sgx[c] * invstd[c]
        k[c] = gamma[c] * invstd[c]
        mg[c] = sg[c] / cnt
        mz[c] = mean[c]
        cx[c] = sgx[c] * invstd[c] * invstd[c] / cnt  # mean(g xhat) invstd
    for n in range(N):
        for p in range(P):
            gr = g[n, p]
            zr = z[n, p]
            dr = dz[n, p]
            for c in range(C):
                dr[c] = k[c] * (gr[c] - mg[c] - (zr[c] - mz[c]) * cx[c])


# ------------------------------------------------------------- blocked kernels (charge recomputed)
# Neurons are independent, so the whole time loop can run block by block: a block of whole row
# pairs (RBLOCK elements or so) goes through all T steps with its membrane in a block-sized row,
# pooling each step's spikes as soon as they exist. No (T, M) charge is ever stored: the backward
# recomputes the block's charges (same operations in the same order, so the same values) into a
# (T, block) scratch that stays in cache, then runs the adjoint recursion on it. Optionally the
# input is a BatchNorm's affine map of ``x`` (``x scale_c + shift_c``, channel c innermost).

RBLOCK = 1024


@numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
def _charge_block(x, static, t, b0, n, C, scale, shift, v, ab, gb, thb, soft, vrt, hb):  # pragma: no cover
    """One step of one block: ``hb = a v + g xin``; ``v`` reset in place (spikes ``hb >= theta``)."""
    one = hb.dtype.type(1.0)
    zero = hb.dtype.type(0.0)
    xr = x[0, b0:b0 + n] if static else x[t, b0:b0 + n]
    if scale is None:
        for j in range(n):
            hb[j] = _at(ab, j) * v[j] + _at(gb, j) * xr[j]
    else:
        for r in range(n // C):
            o = r * C
            for c in range(C):
                hb[o + c] = _at(ab, o + c) * v[o + c] + _at(gb, o + c) * (xr[o + c] * scale[c] + shift[c])
    if soft:
        for j in range(n):
            sm = one if hb[j] >= _at(thb, j) else zero
            v[j] = hb[j] - _at(thb, j) * sm
    else:
        for j in range(n):
            v[j] = vrt if hb[j] >= _at(thb, j) else hb[j]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lif_pool_forward_blocked(x, static, scale, shift, v0, a, g, th, soft, vr, y, v, T, H, W,
                             C):  # pragma: no cover - compiled
    """:func:`lif_pool_forward` without storing the charge: writes only the pooled spikes ``y``
    ``(T, M/4)`` and the final membrane ``v`` ``(M,)``. ``x``: ``(T, M)`` or ``(1, M)`` (``static``);
    with ``scale``/``shift`` (``(C,)``, else ``None``) the input is ``x scale_c + shift_c``."""
    M = v.shape[0]
    one = v.dtype.type(1.0)
    zero = v.dtype.type(0.0)
    vrt = v.dtype.type(vr)
    WC, RP, Wo, n_rp, per, nmax = _row_pairs(M, W, C, RBLOCK)
    hb = np.empty(nmax, dtype=v.dtype)
    for q0 in range(0, n_rp, per):
        q1 = min(q0 + per, n_rp)
        b0 = q0 * RP
        n = (q1 - q0) * RP
        vb = v[b0:b0 + n]
        for j in range(n):
            vb[j] = zero if v0 is None else v0[b0 + j]
        ab = _sl(a, b0, b0 + n)
        gb = _sl(g, b0, b0 + n)
        thb = _sl(th, b0, b0 + n)
        for t in range(T):
            _charge_block(x, static, t, b0, n, C, scale, shift, vb, ab, gb, thb, soft, vrt, hb)
            yt = y[t]
            for q in range(q1 - q0):
                o = q * RP
                yo = (q0 + q) * Wo * C
                for jw in range(Wo):
                    p0 = o + 2 * jw * C
                    p1 = p0 + WC
                    ha, hb_, hc, hd = hb[p0:p0 + C], hb[p0 + C:p0 + 2 * C], hb[p1:p1 + C], hb[p1 + C:p1 + 2 * C]
                    ta, tb, tc, td = (_sl(thb, p0, p0 + C), _sl(thb, p0 + C, p0 + 2 * C), _sl(thb, p1, p1 + C),
                                      _sl(thb, p1 + C, p1 + 2 * C))
                    yj = yt[yo + jw * C:yo + jw * C + C]
                    for c in range(C):
                        f = ((ha[c] >= _at(ta, c)) | (hb_[c] >= _at(tb, c)) | (hc[c] >= _at(tc, c))
                             | (hd[c] >= _at(td, c)))
                        yj[c] = one if f else zero


@numba.njit(cache=True, nogil=True, error_model="numpy")
def lif_pool_backward_blocked(x, static, scale, shift, v0, gvT, a, g, th, soft, detach, vr, code, alpha, gx, gv0, gp,
                              T, H, W, C):  # pragma: no cover - compiled
    """Adjoint of :func:`lif_pool_forward_blocked` (loss on the pooled spikes and the final membrane):
    per block, recompute the ``T`` charges, then the recursion of :func:`lif_pool_backward` with
    ``gs = gh = None``. ``gx`` receives ``dL/dxin`` (the gradient of the LIF input, i.e. of the
    BatchNorm output when ``scale`` is given), ``(T, M)`` or ``(1, M)`` summed over time (``static``)."""
    M = gv0.shape[0]
    one, zero, f_soft, f_hard, f_hard_sg, vrt, plain = grad_factors(gv0, soft, detach, vr)
    WC, RP, Wo, n_rp, per, nmax = _row_pairs(M, W, C, RBLOCK)
    hs = np.empty((T, nmax), dtype=gv0.dtype)  # the block's recomputed charges
    vb = np.empty(nmax, dtype=gv0.dtype)
    sg = np.empty(nmax, dtype=gv0.dtype)
    sp = np.empty(nmax, dtype=gv0.dtype)
    cc = np.empty(nmax, dtype=gv0.dtype)
    for q0 in range(0, n_rp, per):
        q1 = min(q0 + per, n_rp)
        b0 = q0 * RP
        n = (q1 - q0) * RP
        b1 = b0 + n
        ab = _sl(a, b0, b1)
        gb = _sl(g, b0, b1)
        thb = _sl(th, b0, b1)
        for j in range(n):
            vb[j] = zero if v0 is None else v0[b0 + j]
        for t in range(T):
            _charge_block(x, static, t, b0, n, C, scale, shift, vb, ab, gb, thb, soft, vrt, hs[t])
        cb = gv0[b0:b1]  # gv_t = dL/dv_t, updated in place; ends as dL/dv0
        for j in range(n):
            cb[j] = zero if gvT is None else gvT[b0 + j]
        if static:
            for j in range(n):
                gx[0, b0 + j] = zero
        sgb = sg[:n]
        spb = sp[:n]
        ccb = cc[:n]
        for t in range(T - 1, -1, -1):
            ht = hs[t, :n]
            gpt = gp[t]
            gxb = gx[0, b0:b1] if static else gx[t, b0:b1]
            for j in range(n):
                spb[j] = one if ht[j] >= _at(thb, j) else zero
            _surrogate_row(ht, thb, code, alpha, sgb)
            _route_pool_grad_block(spb, ccb, gpt, q0, q1, RP, Wo, WC, C, zero)  # pooled gradient -> window winners
            for j in range(n):
                ccb[j] = ccb[j] * sgb[j]
            _membrane_grad_block(plain, static, n, ccb, cb, gxb, gb, ab, thb, sgb, spb, ht, one, f_soft, f_hard,
                                 f_hard_sg, vrt)
