"""Channels-last fused LIF + 2x2 max pool (the CPU path of ``lif_pool_multistep`` for NHWC steps).

A conv SNN on CPU runs fastest with its maps in channels-last memory (oneDNN's convolutions and
PyTorch's BatchNorm take their vectorised NHWC kernels). This op keeps that layout: it reads the
current ``(time, batch, C, H, W)`` whose steps are channels-last, writes the pooled spikes in the
same layout and runs :mod:`._lif_pool_kernels`, whose inner loops are the contiguous channels.
The equations, the arithmetic per element and the pooling (values and gradients of
``F.max_pool2d(s, 2)``, ties included) are those of :func:`.lif_multistep.lif_pool_multistep`.

Memory (fresh pages cost more than the arithmetic of these small maps): with
``keep_sequences=False`` the spike and membrane sequences are not returned, so no spike sequence
is written at all (the backward recomputes ``s = h >= theta`` from the charge) and the charge,
which only the backward reads, lives in a buffer of a small :class:`Workspace` that goes back to it
when the autograd graph holding it is freed (so reuse is safe under ``retain_graph`` and when no
backward runs at all).
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import torch
from torch import Tensor

CL = torch.channels_last


class Workspace:
    """Free 1-D buffers by ``(numel, dtype)``, handed out by :meth:`take` and returned by a lease.

    Holds at most ``max_per_key`` buffers per key and ``max_bytes`` in all; buffers smaller than
    ``min_bytes`` are not kept (the heap serves those without fresh pages anyway).
    """

    def __init__(self, max_bytes: int = 256 << 20, max_per_key: int = 4, min_bytes: int = 64 << 10) -> None:
        self.max_bytes, self.max_per_key, self.min_bytes = max_bytes, max_per_key, min_bytes
        self._free: dict[tuple[int, torch.dtype], list[Tensor]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, numel: int, dtype: torch.dtype) -> Tensor:
        """A 1-D CPU tensor of ``numel`` elements (uninitialised)."""
        with self._lock:
            free = self._free.get((numel, dtype))
            if free:
                buf = free.pop()
                self._bytes -= buf.numel() * buf.element_size()
                return buf
        return torch.empty(numel, dtype=dtype)

    def give(self, buf: Tensor) -> None:
        """Return ``buf`` for reuse (dropped when the workspace is full)."""
        nbytes = buf.numel() * buf.element_size()
        if nbytes < self.min_bytes:
            return
        with self._lock:
            free = self._free.setdefault((buf.numel(), buf.dtype), [])
            if len(free) < self.max_per_key and self._bytes + nbytes <= self.max_bytes:
                free.append(buf)
                self._bytes += nbytes

    def clear(self) -> None:
        with self._lock:
            self._free.clear()
            self._bytes = 0


WORKSPACE = Workspace()


class _Lease:
    """Owns a workspace buffer; gives it back when the owner (an autograd context) is freed."""

    __slots__ = ("buf",)

    def __init__(self, buf: Tensor) -> None:
        self.buf = buf

    def __del__(self) -> None:
        try:
            WORKSPACE.give(self.buf)
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing to give back to
            pass


@functools.cache
def _pk():
    from . import _lif_pool_kernels

    return _lif_pool_kernels


def is_channels_last_steps(x: Tensor) -> bool:
    """True when ``x`` ``(T, B, C, H, W)`` (or one step ``(B, C, H, W)``) is dense with channels-last
    steps back to back (NHWC memory per step), and has more than one channel."""
    if x.dim() == 4:
        x = x.unsqueeze(0)
    if x.dim() != 5 or x.shape[2] < 2:
        return False
    T, B, C, H, W = x.shape
    st = x.stride()
    return ((st[4] == C or W == 1) and (st[3] == W * C or H == 1) and st[2] == 1 and (st[1] == H * W * C or B == 1)
            and (st[0] == B * H * W * C or T == 1))


def _nhwc(t: Tensor, shape: torch.Size, dtype: torch.dtype) -> np.ndarray:
    """A tensor broadcast to ``shape`` ``(..., C, H, W)``, as a flat numpy array in channels-last order."""
    t = t.detach().to(dtype).expand(shape)
    return t.movedim(-3, -1).contiguous().view(-1).numpy()


def _nhwc_param(p: Tensor, shape: torch.Size, dtype: torch.dtype) -> np.ndarray | np.floating:
    if p.numel() == 1:
        return np.dtype(str(dtype).removeprefix("torch.")).type(float(p))
    return _nhwc(p, shape, dtype)


def _cl_empty(lead: tuple[int, ...], C: int, H: int, W: int, dtype: torch.dtype, buf: Tensor | None = None) -> Tensor:
    """``(*lead, C, H, W)`` with channels-last steps (optionally on ``buf``'s memory)."""
    n = int(np.prod(lead))
    flat = torch.empty(n * H * W * C, dtype=dtype) if buf is None else buf
    return flat.view(n, H, W, C).permute(0, 3, 1, 2).view(*lead, C, H, W)


def _flat_storage(t: Tensor, rows: int) -> np.ndarray:
    """The dense memory of ``t`` (channels-last steps) as a ``(rows, M)`` numpy view."""
    return torch.as_strided(t, (rows, t.numel() // rows if rows else 0), (t.numel() // rows if rows else 0, 1),
                            t.storage_offset()).numpy()


class FusedLIFPoolCL(torch.autograd.Function):
    """LIF + 2x2 max pool on channels-last steps (see module docstring).

    Outputs ``(pooled, v_final)`` or, with ``keep_sequences``, ``(pooled, v_final, spikes, membrane)``.
    """

    @staticmethod
    def forward(ctx, x: Tensor, v0: Tensor, decay: Tensor, gain: Tensor, theta: Tensor, v_reset: float, soft: bool,
                detach_reset: bool, surrogate: str, alpha: float, steps: int, static: bool,
                keep_sequences: bool):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        K = _pk()
        T = steps
        step_shape = x.shape if static else x.shape[1:]
        B, C, H, W = step_shape
        M = B * C * H * W
        dt = x.dtype
        if keep_sequences:
            h_seq = _cl_empty((T, B), C, H, W, dt)
            s_seq = _cl_empty((T, B), C, H, W, dt)
            ctx.lease = None
        else:
            lease = _Lease(WORKSPACE.take(T * M, dt))
            h_seq = _cl_empty((T, B), C, H, W, dt, lease.buf)
            s_seq = None
            ctx.lease = lease  # back to the workspace when this graph node is freed
        y = _cl_empty((T, B), C, H // 2, W // 2, dt)
        v = _cl_empty((B,), C, H, W, dt)
        xd = x.detach()
        K.lif_pool_forward(_flat_storage(xd, 1 if static else T), static, _nhwc(v0, step_shape, dt),
                           _nhwc_param(decay, step_shape, dt), _nhwc_param(gain, step_shape, dt),
                           _nhwc_param(theta, step_shape, dt), soft, float(v_reset), _flat_storage(h_seq, T),
                           None if s_seq is None else _flat_storage(s_seq, T), _flat_storage(y, T),
                           _flat_storage(v, 1)[0], H, W, C)
        ctx.h_seq = h_seq  # not save_for_backward: may be a workspace buffer (never an output then)
        ctx.save_for_backward(v0, decay, gain, theta)
        ctx.cfg = (v_reset, soft, detach_reset, surrogate, alpha, static, tuple(x.shape), keep_sequences)
        if keep_sequences:
            return y, v, s_seq, h_seq
        return y, v

    @staticmethod
    def backward(ctx, gy: Tensor | None, gvT: Tensor | None, gs: Tensor | None = None,
                 gh: Tensor | None = None):  # type: ignore[override]
        from .lif_multistep import _kernels
        from .surrogate import _sum_to

        v0, decay, gain, theta = ctx.saved_tensors
        h_seq = ctx.h_seq
        v_reset, soft, detach_reset, surrogate, alpha, static, x_shape, _ = ctx.cfg
        T, B, C, H, W = h_seq.shape
        step_shape = h_seq.shape[1:]
        M = B * C * H * W
        dt = h_seq.dtype
        need_x, need_v0 = ctx.needs_input_grad[:2]
        seq = lambda t: None if t is None else _nhwc(t, h_seq.shape, dt).reshape(T, M)  # noqa: E731
        gp = (_nhwc(gy, (T, B, C, H // 2, W // 2), dt).reshape(T, M // 4) if gy is not None
              else np.zeros((T, M // 4), dtype=np.dtype(str(dt).removeprefix("torch."))))
        gx = _cl_empty((B,) if static else (T, B), C, H, W, dt)
        lease = None if need_v0 else _Lease(WORKSPACE.take(M, dt))
        gv0 = _cl_empty((B,), C, H, W, dt, None if lease is None else lease.buf)
        _pk().lif_pool_backward(_flat_storage(h_seq, T), seq(gs), seq(gh),
                                None if gvT is None else _nhwc(gvT, step_shape, dt),
                                _nhwc_param(decay, step_shape, dt), _nhwc_param(gain, step_shape, dt),
                                _nhwc_param(theta, step_shape, dt), soft, detach_reset, float(v_reset),
                                _kernels().SURROGATE_CODES[surrogate], float(alpha), static,
                                _flat_storage(gx, 1 if static else T), _flat_storage(gv0, 1)[0], gp, H, W, C)
        grad_x = _sum_to(gx, torch.Size(x_shape)) if need_x else None
        grad_v0 = _sum_to(gv0, v0.shape) if need_v0 else None
        return grad_x, grad_v0, None, None, None, None, None, None, None, None, None, None, None
