"""The numba kernels of the CPU fast path (imported only when that path runs; see ``_fast.py``).

One time step is one pass over the neurons in cache-sized blocks: for each block the arrivals of the
previous step are read from the delay ring buffers, the synaptic variables decay, the membrane is
integrated, thresholded and reset, and the block's spikes are collected, while the block's data sit in L2
(for the common E/I case of two exponential-current inputs onto every neuron all of this is one fused
loop). Each inner loop runs over contiguous 1-D views with non-negative indices and no branches, so LLVM
vectorises it. Spikes then go out row by row (CSR), with the rows of the next spikes prefetched. Parameters that are equal over the whole network arrive as scalars and parameters that
vary as per-neuron arrays; numba compiles one specialisation per combination (``_at``/``_sl``/``_row``
below), so a uniform network reads no parameter arrays at all. The arithmetic per neuron is the torch
path's, in the same order: fusing and blocking only change the order in which neurons are visited.
No ``fastmath``: it would license reassociation and break bit-exactness.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

_AHEAD = 8  # spikes whose synapse rows are prefetched ahead of the one being propagated
BLOCK = 8192  # neurons per block: the block's arrays stay in L2 between the passes (a multiple of 64)


# ------------------------------------------------------------------ scalar-or-array helpers
def _at(a, i):  # noqa: ANN001, ANN202 - element i of a per-neuron array, or the scalar itself
    return a[i] if isinstance(a, np.ndarray) else a


def _sl(a, lo, hi):  # noqa: ANN001, ANN202 - a[lo:hi], or the scalar itself
    return a[lo:hi] if isinstance(a, np.ndarray) else a


def _row(a, c, lo, hi):  # noqa: ANN001, ANN202 - a[c, lo:hi] of a [channel, neuron] array, or a[c] of [channel]
    return a[c, lo:hi] if a.ndim == 2 else a[c]


@overload(_at, inline="always")
def _at_ov(a, i):  # noqa: ANN001, ANN202
    if isinstance(a, types.Array):
        return lambda a, i: a[i]
    return lambda a, i: a


@overload(_sl, inline="always")
def _sl_ov(a, lo, hi):  # noqa: ANN001, ANN202
    if isinstance(a, types.Array):
        return lambda a, lo, hi: a[lo:hi]
    return lambda a, lo, hi: a


@overload(_row, inline="always")
def _row_ov(a, c, lo, hi):  # noqa: ANN001, ANN202
    if a.ndim == 2:
        return lambda a, c, lo, hi: a[c, lo:hi]
    return lambda a, c, lo, hi: a[c]


@intrinsic
def _prefetch(typingctx, arr, idx):  # noqa: ANN001, ANN202 - hint: fetch the line of arr[idx] (results unchanged)
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):  # noqa: ANN001, ANN202
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [args[1]], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


@numba.njit(inline="always")
def _prefetch_row(indptr, post, w, same_w, ptr0, syn0, j, n_src):  # pragma: no cover - compiled
    """Prefetch the synapses (targets, and weights unless uniform) of source row ``j`` (if in range)."""
    if j < 0 or j >= n_src:
        return
    a = indptr[ptr0 + j] + syn0
    b = indptr[ptr0 + j + 1] + syn0
    for s in range(a, b, 16):
        _prefetch(post, s)
    if not same_w:
        for s in range(a, b, 16):
            _prefetch(w, s)


# ------------------------------------------------------------------ kernels
@numba.njit(cache=True, nogil=True)
def deliver(step, half_dt, v, ref, spikes, ch_kind, ch_lo, ch_hi, ch_len, g, xs, buf):  # pragma: no cover
    """Move the arrivals of slot ``step % L`` into the synaptic variables (and v for delta synapses)."""
    e = math.e
    for c in range(ch_kind.shape[0]):
        slot = step % ch_len[c]
        kd = ch_kind[c]
        for i in range(ch_lo[c], ch_hi[c]):
            a_in = buf[c, slot, i]
            buf[c, slot, i] = 0
            if kd == 0:
                if spikes[i] == 0 and ref[i] <= half_dt:
                    v[i] = v[i] + a_in
            elif kd == 2:
                xs[c, i] = xs[c, i] + e * a_in
            else:
                g[c, i] = g[c, i] + a_in


@numba.njit(cache=True, nogil=True)
def _exp_current(bc, gc, xb, kc, d):  # pragma: no cover - compiled
    for j in range(gc.shape[0]):
        gi = gc[j] + bc[j]
        bc[j] = 0
        xb[j] = xb[j] + _at(kc, j) * gi
        gc[j] = gi * d


@numba.njit(cache=True, nogil=True)
def _delta_current(bc, vb, rb, sb, half_dt):  # pragma: no cover - compiled
    for j in range(vb.shape[0]):
        a_in = bc[j]
        bc[j] = 0
        op = 1.0 if (sb[j] == 0) & (rb[j] <= half_dt) else 0.0
        vb[j] = vb[j] + a_in * op


@numba.njit(cache=True, nogil=True)
def _alpha_current(bc, gc, xc, xb, kc, kxc, d, hd):  # pragma: no cover - compiled
    e = math.e
    for j in range(gc.shape[0]):
        xi = xc[j] + e * bc[j]
        bc[j] = 0
        gi = gc[j]
        xb[j] = xb[j] + _at(kc, j) * gi
        xb[j] = xb[j] + _at(kxc, j) * xi
        gc[j] = gi * d + xi * hd
        xc[j] = xi * d


@numba.njit(cache=True, nogil=True)
def _exp_conductance(bc, gc, tb, eb, gs, er, d):  # pragma: no cover - compiled
    for j in range(gc.shape[0]):
        gi = gc[j] + bc[j]
        bc[j] = 0
        gg = gi * _at(gs, j)
        tb[j] = tb[j] + gg
        eb[j] = eb[j] + gg * er
        gc[j] = gi * d


@numba.njit(cache=True, nogil=True)
def _channels(step, b0, b1, half_dt, spikes, v, ref, gscale, ch_kind, ch_lo, ch_hi, ch_decay, ch_h, ch_erev,
              ch_len, g, xs, kg, kx, buf, x, gtot, ge):  # pragma: no cover - compiled
    """Add the arrivals of step - 1 and each channel's drive to ``x`` (block ``[b0, b1)``), then decay.

    One small function per kernel kind: each inner loop is then vectorised on its own.
    """
    for c in range(ch_kind.shape[0]):
        lo = max(ch_lo[c], b0)
        hi = min(ch_hi[c], b1)
        if lo >= hi:
            continue
        o = lo - b0
        kd = ch_kind[c]
        bc = buf[c, (step - 1) % ch_len[c], lo:hi]
        xb = x[o:o + hi - lo]
        if kd == 1:  # exponential current: the common case
            _exp_current(bc, g[c, lo:hi], xb, _row(kg, c, lo, hi), ch_decay[c])
        elif kd == 0:
            _delta_current(bc, v[lo:hi], ref[lo:hi], spikes[lo:hi], half_dt)
        elif kd == 2:
            _alpha_current(bc, g[c, lo:hi], xs[c, lo:hi], xb, _row(kg, c, lo, hi), _row(kx, c, lo, hi),
                           ch_decay[c], ch_h[c] * ch_decay[c])
        else:
            _exp_conductance(bc, g[c, lo:hi], gtot[o:o + hi - lo], ge[o:o + hi - lo], _sl(gscale, lo, hi),
                             ch_erev[c], ch_decay[c])


def _vinf(v_rest, x, j):  # noqa: ANN001, ANN202 - v_rest[j] + x, or x itself when v_rest is None (x is v_inf)
    return x if v_rest is None else _at(v_rest, j) + x


@overload(_vinf, inline="always")
def _vinf_ov(v_rest, x, j):  # noqa: ANN001, ANN202
    if isinstance(v_rest, types.NoneType):
        return lambda v_rest, x, j: x
    return lambda v_rest, x, j: _at(v_rest, j) + x


@numba.njit(inline="always")
def _lif_update(vb, rb, sb, j, v_inf, decay, vthr, vres, refms, soft, dt, half_dt, zero):  # pragma: no cover
    """Exact LIF update of neuron ``j`` toward ``v_inf`` (``functional.lif_step``'s arithmetic, in its order)."""
    vi = vb[j]
    v_int = v_inf + (vi - v_inf) * _at(decay, j)
    left = rb[j] - dt
    left = left if left > 0 else left * zero
    held = left > half_dt
    v_int = vi if held else v_int
    vt = _at(vthr, j)
    fire = (not held) & (v_int - vt > 0)
    v_fire = v_int - (vt - _at(vres, j)) if _at(soft, j) else v_int - (v_int - _at(vres, j))
    vb[j] = v_fire if fire else v_int
    rb[j] = _at(refms, j) if fire else left
    sb[j] = 1 if fire else 0


@numba.njit(cache=True, nogil=True)
def _neurons(vb, rb, sb, xb, vrest, decay, vthr, vres, refms, soft, dt, half_dt):  # pragma: no cover - compiled
    """Exact LIF step of one block (``functional.lif_step``'s arithmetic); spikes go to ``sb`` (0/1)."""
    zero = dt - dt
    for j in range(vb.shape[0]):
        v_inf = _vinf(vrest, xb[j], j)
        _lif_update(vb, rb, sb, j, v_inf, decay, vthr, vres, refms, soft, dt, half_dt, zero)


@numba.njit(cache=True, nogil=True)
def _collect(b0, b1, step, spikes, words, out_step, out_idx, n_out):  # pragma: no cover - compiled
    """Append the spikes of block ``[b0, b1)``: test 64 flags at once (one cache line), then word by word."""
    for q in range(b0 >> 6, (b1 + 63) >> 6):
        acc = words[8 * q]
        for t in range(1, 8):
            acc |= words[8 * q + t]
        if acc:
            for r in range(8 * q, 8 * q + 8):
                if words[r]:
                    for i in range(8 * r, 8 * r + 8):
                        if spikes[i]:
                            out_step[n_out] = step
                            out_idx[n_out] = i
                            n_out += 1
    return n_out


@numba.njit(cache=True, nogil=True)
def _neurons_exp2(vb, rb, sb, ie, b0b, g0b, k0, d0, b1b, g1b, k1, d1, vrest, decay, vthr, vres, refms, soft, dt,
                  half_dt):  # pragma: no cover - compiled
    """Two exponential-current channels and the LIF step fused in one pass (same arithmetic as the passes)."""
    zero = dt - dt
    for j in range(vb.shape[0]):
        x = _at(ie, j)
        gi = g0b[j] + b0b[j]
        b0b[j] = 0
        x = x + _at(k0, j) * gi
        g0b[j] = gi * d0
        gi = g1b[j] + b1b[j]
        b1b[j] = 0
        x = x + _at(k1, j) * gi
        g1b[j] = gi * d1
        v_inf = _at(vrest, j) + x
        _lif_update(vb, rb, sb, j, v_inf, decay, vthr, vres, refms, soft, dt, half_dt, zero)


@numba.njit(cache=True, nogil=True)
def run_chunk(step0, n_steps, dt, half_dt, v, ref, spikes, iext, vrest, vthr, vres, refms, decay, tau, soft,
              gscale, cond, ch_kind, ch_lo, ch_hi, ch_decay, ch_h, ch_erev, ch_len, g, xs, kg, kx, buf,
              pw_src_lo, pw_n_src, pw_ptr_off, pw_syn_off, pw_ch, pw_delay, pw_w, indptr, post, w, dly,
              out_step, out_idx, x, gtot, ge):  # pragma: no cover - compiled
    """Run ``n_steps`` steps from ``step0``; returns (steps done, spikes written, bad neuron or -2 / -1 full).

    The arrivals of step k-1 (slot (k-1) % L) are added at the start of step k: the same arithmetic, in the
    same order, as the torch path's "deliver at the end of step k-1"; the caller flushes the last slot when
    a run ends. ``spikes`` is padded to a multiple of 64 (the padding stays 0) so it is scanned 64 at a time.
    """
    n = v.shape[0]
    n_pw = pw_src_lo.shape[0]
    n_out = 0
    cap = out_step.shape[0]
    any_cond = False
    for c in range(ch_kind.shape[0]):
        if ch_kind[c] == 3:
            any_cond = True
    words = spikes.view(np.uint64)
    B = x.shape[0]
    # the common case (E/I exponential current synapses onto every neuron): one fused pass per block
    exp2 = (ch_kind.shape[0] == 2 and ch_kind[0] == 1 and ch_kind[1] == 1 and ch_lo[0] == 0 and ch_lo[1] == 0
            and ch_hi[0] == n and ch_hi[1] == n)
    for k in range(n_steps):
        step = step0 + k
        if n_out + n > cap:
            return k, n_out, -1
        first = n_out
        for b0 in range(0, n, B):
            b1 = min(b0 + B, n)
            m = b1 - b0
            if exp2:
                s0 = (step - 1) % ch_len[0]
                s1 = (step - 1) % ch_len[1]
                _neurons_exp2(v[b0:b1], ref[b0:b1], spikes[b0:b1], _sl(iext, b0, b1), buf[0, s0, b0:b1], g[0, b0:b1],
                              _row(kg, 0, b0, b1), ch_decay[0], buf[1, s1, b0:b1], g[1, b0:b1], _row(kg, 1, b0, b1),
                              ch_decay[1], _sl(vrest, b0, b1), _sl(decay, b0, b1), _sl(vthr, b0, b1),
                              _sl(vres, b0, b1), _sl(refms, b0, b1), _sl(soft, b0, b1), dt, half_dt)
                n_out = _collect(b0, b1, step, spikes, words, out_step, out_idx, n_out)
                continue
            xb = x[:m]
            ie = _sl(iext, b0, b1)
            for j in range(m):
                xb[j] = _at(ie, j)
            if any_cond:
                for j in range(m):
                    gtot[j] = 1.0
                    ge[j] = 0.0
            _channels(step, b0, b1, half_dt, spikes, v, ref, gscale, ch_kind, ch_lo, ch_hi, ch_decay, ch_h,
                      ch_erev, ch_len, g, xs, kg, kx, buf, x, gtot, ge)
            vb = v[b0:b1]
            rb = ref[b0:b1]
            sb = spikes[b0:b1]
            pr = _sl(vrest, b0, b1)
            pd = _sl(decay, b0, b1)
            pt = _sl(vthr, b0, b1)
            pv = _sl(vres, b0, b1)
            pf = _sl(refms, b0, b1)
            ps = _sl(soft, b0, b1)
            if any_cond:
                cb = cond[b0:b1]
                ptau = _sl(tau, b0, b1)
                tb = gtot[:m]
                for j in range(m):
                    if cb[j]:
                        xb[j] = (_at(pr, j) + xb[j] + ge[j]) / tb[j]  # x now holds v_inf
                        tb[j] = math.exp(-dt / (_at(ptau, j) / tb[j]))  # gtot now holds the step's decay
                    else:
                        xb[j] = _at(pr, j) + xb[j]
                        tb[j] = _at(pd, j)
                _neurons(vb, rb, sb, xb, None, tb, pt, pv, pf, ps, dt, half_dt)
            else:
                _neurons(vb, rb, sb, xb, pr, pd, pt, pv, pf, ps, dt, half_dt)
            n_out = _collect(b0, b1, step, spikes, words, out_step, out_idx, n_out)
        if k % 16 == 15 or k == n_steps - 1:  # non-finite v: stop (checked every 16 steps, vectorised)
            n_bad = 0
            for i in range(n):
                n_bad += 0 if abs(v[i]) < math.inf else 1
            if n_bad:
                for i in range(n):
                    if not math.isfinite(v[i]):
                        return k, n_out, i
        if n_out == first:
            continue
        # event-driven propagation of this step's spikes into the delay ring buffers, pathway by pathway
        # (the torch path's order: projections, then their targets, then spikes by neuron index)
        for p in range(n_pw):
            lo_src = pw_src_lo[p]
            n_src = pw_n_src[p]
            c = pw_ch[p]
            L = ch_len[c]
            d_uni = pw_delay[p]
            ptr0 = pw_ptr_off[p]
            syn0 = pw_syn_off[p]
            bc = buf[c, (step + max(d_uni, 0)) % L]
            w_uni = pw_w[p]  # the pathway's weight when all are equal (bitwise), else NaN
            same_w = w_uni == w_uni
            for q in range(first, min(first + _AHEAD, n_out)):
                _prefetch_row(indptr, post, w, same_w, ptr0, syn0, out_idx[q] - lo_src, n_src)
            for q in range(first, n_out):
                if q + _AHEAD < n_out:  # rows are random places in memory: ask for them a few spikes ahead
                    _prefetch_row(indptr, post, w, same_w, ptr0, syn0, out_idx[q + _AHEAD] - lo_src, n_src)
                j = out_idx[q] - lo_src
                if j < 0 or j >= n_src:
                    continue
                a = indptr[ptr0 + j] + syn0
                b = indptr[ptr0 + j + 1] + syn0
                if d_uni >= 0 and same_w:
                    for s in range(a, b):
                        bc[post[s]] += w_uni
                elif d_uni >= 0:
                    for s in range(a, b):
                        bc[post[s]] += w[s]
                else:
                    for s in range(a, b):
                        dd = step + dly[s]
                        if dd >= L:
                            dd = dd % L
                        buf[c, dd, post[s]] += w[s]
    return n_steps, n_out, -2
