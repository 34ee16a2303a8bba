"""2x2 max pooling with the values and gradients of ``nn.MaxPool2d(2)``, computed in two passes.

On CPU, ``max_pool2d`` over the many small maps of a time-folded spiking layer (``T * B`` images of
8x8 or 4x4) spends most of its time on per-window index bookkeeping and an int64 index tensor. Here
the pool is two element-wise passes with long inner loops over the contiguous NCHW tensor:

    r[n, c, h, j]  = max(x[n, c, h, 2j], x[n, c, h, 2j+1])         (pairs along W: a flat view (-1, 2))
    y[n, c, i, j]  = max(r[n, c, 2i, j], r[n, c, 2i+1, j])          (pairs along H)

and the backward routes each output gradient to the element ``max_pool2d`` picks: the first
maximum of its window in row-major order (a later element wins only if strictly greater). The
result equals ``F.max_pool2d(x, 2)`` exactly, values and gradients, for every finite input (ties
included, so binary spikes route exactly as in PyTorch). Odd sizes, other kernels, strides or
paddings fall back to ``F.max_pool2d``. No index tensor is stored: the backward recomputes the
winners from the saved input and row-pooled map, writing the masks straight into the gradient
buffers (fresh memory costs page faults, which dominate these small ops on CPU). With numba
installed, CPU float tensors take one compiled pass each way instead (``pool_forward`` and
``route_pool_grad`` in :mod:`neurocircuits.functional._lif_kernels`, shared with the fused LIF + pool).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@functools.cache
def _kernels():
    """The numba pool kernels, or ``None`` without numba."""
    try:
        from ...functional import _lif_kernels
    except ImportError:
        return None
    return _lif_kernels


class _MaxPool2x2Numba(torch.autograd.Function):
    """One pass forward, one pass backward (winners recomputed from the saved input)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        N, C, H, W = x.shape
        y = x.new_empty(N, C, H // 2, W // 2)
        _kernels().pool_forward(x.detach().view(N * C, H, W).numpy(), y.view(N * C, H // 2, W // 2).numpy())
        ctx.save_for_backward(x)
        return y

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        N, C, H, W = x.shape
        gx = torch.empty_like(x)
        g = g.detach().contiguous()
        _kernels().route_pool_grad(x.detach().reshape(-1).numpy(), g.reshape(-1).numpy(), gx.view(-1).numpy(), H, W)
        return gx


class _MaxPool2x2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        N, C, H, W = x.shape
        Ho, Wo = H // 2, W // 2
        p = x.view(-1, 2)  # adjacent pairs along W
        r = torch.maximum(p[:, 0], p[:, 1])  # row-pooled map (N, C, H, Wo)
        rr = r.view(N * C * Ho, 2, Wo)  # rows 2i, 2i+1
        y = torch.maximum(rr[:, 0], rr[:, 1])
        # no index tensor: the backward recomputes the winners from x and r (both kept anyway)
        ctx.save_for_backward(x, r)
        return y.view(N, C, Ho, Wo)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, r = ctx.saved_tensors
        N, C, H, W = x.shape
        Ho, Wo = H // 2, W // 2
        g = g.reshape(N * C * Ho, Wo)
        rr = r.view(N * C * Ho, 2, Wo)
        # every pass writes straight into the gradient buffer it fills (fresh memory is costly on CPU)
        gr = g.new_empty(N * C * Ho, 2, Wo)  # gradient of the row-pooled map
        low = torch.gt(rr[:, 1], rr[:, 0], out=gr[:, 1])  # the lower row wins only if strictly greater
        low.mul_(g)
        torch.sub(g, low, out=gr[:, 0])  # g - g = 0 or g - 0 = g: exact
        gr = gr.view(-1)
        p = x.view(-1, 2)
        gx = g.new_empty(N * C * H * Wo, 2)
        right = torch.gt(p[:, 1], p[:, 0], out=gx[:, 1])  # the right element wins only if strictly greater
        right.mul_(gr)
        torch.sub(gr, right, out=gx[:, 0])
        return gx.view(N, C, H, W)


def max_pool2x2(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 2)`` (values and gradients) for ``(N, C, H, W)`` input, two-pass on CPU-friendly loops."""
    if x.dim() != 4 or x.shape[-1] % 2 or x.shape[-2] % 2 or not x.is_contiguous():
        return F.max_pool2d(x, 2)
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and _kernels() is not None:
        return _MaxPool2x2Numba.apply(x)
    return _MaxPool2x2.apply(x)


class SpikeMaxPool2d(nn.Module):
    """Drop-in ``nn.MaxPool2d(2)`` for per-step maps ``(batch, C, H, W)`` (see module docstring).

    Max pooling keeps spikes binary, so the layer after it still counts synaptic operations.
    Apply it to a time-first sequence with :func:`~neurocircuits.layers.spiking.seq_apply`.
    """

    kernel_size = 2

    def forward(self, x: Tensor) -> Tensor:
        return max_pool2x2(x)

    def extra_repr(self) -> str:
        return "kernel_size=2, stride=2"
