"""numba kernels of the exact 2x2 max pool (CPU fast path of :mod:`._pool`; imported only there).

Each window ``x[p, 2i:2i+2, 2j:2j+2]`` of a contiguous ``(P, H, W)`` array (``P`` = batch x
channels) is visited once. The winner is ``max_pool2d``'s: the first maximum in row-major order
(``(0,0), (0,1), (1,0), (1,1)``; a later element wins only if strictly greater). The backward writes
every element of ``dL/dx`` exactly once (the window's gradient at the winner, zero elsewhere), so it
needs no zero-fill pass, no index tensor and no temporary.
"""

from __future__ import annotations

import numba


@numba.njit(cache=True, nogil=True, error_model="numpy")
def pool_forward(x, y):  # pragma: no cover - compiled
    P, H, W = x.shape
    Ho, Wo = y.shape[1], y.shape[2]
    for p in range(P):
        for i in range(Ho):
            r0 = x[p, 2 * i]
            r1 = x[p, 2 * i + 1]
            yr = y[p, i]
            for j in range(Wo):
                a = max(r0[2 * j], r0[2 * j + 1])
                b = max(r1[2 * j], r1[2 * j + 1])
                yr[j] = max(a, b)


@numba.njit(cache=True, nogil=True, error_model="numpy")
def pool_backward(x, g, gx):  # pragma: no cover - compiled
    P, H, W = x.shape
    Ho, Wo = g.shape[1], g.shape[2]
    zero = gx.dtype.type(0.0)
    for p in range(P):
        for i in range(Ho):
            r0 = x[p, 2 * i]
            r1 = x[p, 2 * i + 1]
            q0 = gx[p, 2 * i]
            q1 = gx[p, 2 * i + 1]
            gr = g[p, i]
            for j in range(Wo):
                k = 0
                m = r0[2 * j]
                if r0[2 * j + 1] > m:
                    k = 1
                    m = r0[2 * j + 1]
                if r1[2 * j] > m:
                    k = 2
                    m = r1[2 * j]
                if r1[2 * j + 1] > m:
                    k = 3
                gv = gr[j]
                q0[2 * j] = gv if k == 0 else zero
                q0[2 * j + 1] = gv if k == 1 else zero
                q1[2 * j] = gv if k == 2 else zero
                q1[2 * j + 1] = gv if k == 3 else zero
        # rows beyond 2 * Ho (odd H) never occur: the caller pools even sizes only
