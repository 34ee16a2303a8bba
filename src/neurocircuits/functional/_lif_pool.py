"""Channels-last fused LIF + 2x2 max pool (the CPU path of ``lif_pool_multistep`` for NHWC steps).

A conv SNN on CPU runs fastest with its maps in channels-last memory (oneDNN's convolutions and
PyTorch's BatchNorm take their vectorised NHWC kernels). This op keeps that layout: it reads the
current ``(time, batch, C, H, W)`` whose steps are channels-last, writes the pooled spikes in the
same layout and runs :mod:`._lif_pool_kernels`, whose inner loops are the contiguous channels.
The equations, the arithmetic per element and the pooling (values and gradients of
``F.max_pool2d(s, 2)``, ties included) are those of :func:`.lif_multistep.lif_pool_multistep`.

Memory (fresh pages cost more than the arithmetic of these small maps: a first touch of a fresh
page is a page fault, and the C heap hands large freed blocks back to the kernel): with
``keep_sequences=False`` nothing of size ``(T, M)`` is stored; the blocked kernels pool each step's
spikes as they are made and the backward recomputes the charge block by block from the saved
input. Every buffer these ops create (outputs, gradients, scratch) comes from :data:`WORKSPACE`, a
caching pool that hands a storage out again only once nothing but the pool refers to it (its
storage use count), like PyTorch's caching GPU allocator: a tensor, view, autograd context or
numpy array still holding it keeps it out of reuse.
"""

from __future__ import annotations

import functools
import math
import threading

import numpy as np
import torch
from torch import Tensor

CL = torch.channels_last
_use_count = getattr(torch._C, "_storage_Use_Count", None)


class Workspace:
    """Caching pool of CPU storages, reused once nothing outside the pool refers to them.

    :meth:`empty` returns a fresh tensor on a pooled storage whose use count shows that only the
    pool holds it (else on a new storage, kept while the pool has room: ``max_per_key`` storages per
    size and ``max_bytes`` in all). Storages under ``min_bytes`` are not pooled (the heap serves
    those without fresh pages). Without ``torch._C._storage_Use_Count`` this is ``torch.empty``.
    """

    def __init__(self, max_bytes: int = 256 << 20, max_per_key: int = 8, min_bytes: int = 64 << 10) -> None:
        self.max_bytes, self.max_per_key, self.min_bytes = max_bytes, max_per_key, min_bytes
        self._free: dict[int, list[torch.UntypedStorage]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def empty(self, numel: int, dtype: torch.dtype) -> Tensor:
        """A 1-D CPU tensor of ``numel`` elements (uninitialised)."""
        nbytes = numel * _itemsize(dtype)
        if nbytes < self.min_bytes or _use_count is None:
            return torch.empty(numel, dtype=dtype)
        with self._lock:
            pool = self._free.setdefault(nbytes, [])
            for st in pool:
                if _use_count(st._cdata) == 1:  # only the pool refers to it
                    return torch.empty(0, dtype=dtype).set_(st, 0, (numel,), (1,))
            st = torch.empty(numel, dtype=dtype).untyped_storage()
            if len(pool) < self.max_per_key and self._bytes + nbytes <= self.max_bytes:
                pool.append(st)
                self._bytes += nbytes
            return torch.empty(0, dtype=dtype).set_(st, 0, (numel,), (1,))

    def clear(self) -> None:
        """Forget every pooled storage (those still in use stay valid for their holders)."""
        with self._lock:
            self._free.clear()
            self._bytes = 0

    def pooled(self) -> int:
        """Number of storages the pool holds (in use or free)."""
        return sum(len(v) for v in self._free.values())


WORKSPACE = Workspace()


@functools.cache
def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


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
    """``(*lead, C, H, W)`` with channels-last steps, from the workspace (or on ``buf``'s memory)."""
    n = math.prod(lead)
    flat = WORKSPACE.empty(n * H * W * C, dtype) if buf is None else buf
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
    def forward(ctx, x: Tensor, v0: Tensor | None, decay: Tensor, gain: Tensor, theta: Tensor, v_reset: float, soft: bool,
                detach_reset: bool, surrogate: str, alpha: float, steps: int, static: bool,
                keep_sequences: bool):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        T = steps
        step_shape = x.shape if static else x.shape[1:]
        y, v, s_seq, h_seq = _lif_pool_forward(ctx, x.detach(), static, v0, decay, gain, theta, v_reset, soft, T,
                                               step_shape, x.dtype, keep_sequences)
        # x is read again by the blocked backward: saved, so an in-place change of it is caught there
        ctx.save_for_backward(x if not keep_sequences else None, v0, decay, gain, theta)
        ctx.cfg = (v_reset, soft, detach_reset, surrogate, alpha, static, tuple(x.shape), keep_sequences)
        return (y, v, s_seq, h_seq) if keep_sequences else (y, v)

    @staticmethod
    def backward(ctx, gy: Tensor | None, gvT: Tensor | None, gs: Tensor | None = None,
                 gh: Tensor | None = None):  # type: ignore[override]
        from .surrogate import _sum_to

        _, v0, decay, gain, theta = ctx.saved_tensors  # unpacking checks that x was not modified in place
        static, x_shape = ctx.cfg[5], ctx.cfg[6]
        T, B, C, H, W, dt = ctx.geom
        gx = _cl_empty((B,) if static else (T, B), C, H, W, dt)
        gv0 = _lif_pool_backward(ctx, gy, gvT, gs, gh, v0, decay, gain, theta, _flat_storage(gx, 1 if static else T))
        grad_x = _sum_to(gx, torch.Size(x_shape)) if ctx.needs_input_grad[0] else None
        grad_v0 = _sum_to(gv0, v0.shape) if ctx.needs_input_grad[1] else None
        return grad_x, grad_v0, None, None, None, None, None, None, None, None, None, None, None


class FusedBNLIFPoolCL(torch.autograd.Function):
    """Training-mode BatchNorm (statistics given), then :class:`FusedLIFPoolCL`'s LIF + pool, as one op.

    ``z`` is the convolution output ``(N, C, H, W)``: ``N = T B`` steps back to back with
    channels-last memory, or ``N = B`` for a time-constant input (``static``; any layout). The
    normalised current ``y = z scale + shift`` (``scale = gamma / sqrt(var + eps)``,
    ``shift = beta - mean scale``) is written into a workspace buffer in channels-last order and read
    by the LIF kernel; it is never a tensor of the graph. The backward runs the LIF recursion into a
    workspace buffer and BatchNorm's backward from it (:func:`._lif_pool_kernels.bn_backward`).
    Outputs as :class:`FusedLIFPoolCL`.
    """

    @staticmethod
    def forward(ctx, z: Tensor, weight: Tensor, bias: Tensor, v0: Tensor | None, decay: Tensor, gain: Tensor,
                theta: Tensor, stats: tuple, v_reset: float, soft: bool, detach_reset: bool, surrogate: str, alpha: float,
                steps: int, static: bool, keep_sequences: bool):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        K = _pk()
        T = steps
        N, C, H, W = z.shape
        B = N if static else N // T
        M = B * C * H * W
        dt = z.dtype
        npdt = np.dtype(str(dt).removeprefix("torch."))
        mean, invstd = stats
        w64 = weight.detach().double().numpy()
        scale = w64 * invstd
        shift = bias.detach().double().numpy() - mean * scale
        step_shape = torch.Size((B, C, H, W))
        sc, sh = scale.astype(npdt), shift.astype(npdt)
        buf = None
        if static or keep_sequences:  # the normalised current itself (one step when static)
            buf = WORKSPACE.empty(N * H * W * C, dt)
            K.bn_apply(_npc(z), sc, sh, buf.view(N, H * W, C).numpy())
            xin, sc_in, sh_in = buf, None, None
        else:  # the blocked LIF kernels apply BatchNorm's affine map on the fly
            xin, sc_in, sh_in = z.detach(), sc, sh
        y, v, s_seq, h_seq = _lif_pool_forward(ctx, xin, static, v0, decay, gain, theta, v_reset, soft, T, step_shape, dt,
                                               keep_sequences, sc_in, sh_in)
        # a static current is what the backward recomputes from: held (out of reuse) by this context
        ctx.static_current = buf if buf is not None and not keep_sequences else None
        ctx.save_for_backward(z, weight, v0, decay, gain, theta)
        ctx.bn = (mean, invstd, w64.astype(npdt))
        ctx.cfg = (v_reset, soft, detach_reset, surrogate, alpha, static, step_shape, keep_sequences)
        return (y, v, s_seq, h_seq) if keep_sequences else (y, v)

    @staticmethod
    def backward(ctx, gy: Tensor | None, gvT: Tensor | None, gs: Tensor | None = None,
                 gh: Tensor | None = None):  # type: ignore[override]
        from .surrogate import _sum_to

        z, weight, v0, decay, gain, theta = ctx.saved_tensors
        v_reset, soft, detach_reset, surrogate, alpha, static, step_shape, _ = ctx.cfg
        N, C, H, W = z.shape
        T = ctx.geom[0]
        dt = z.dtype
        gbuf = WORKSPACE.empty(N * H * W * C, dt)  # dL/dy, read by the BatchNorm backward only
        gv0 = _lif_pool_backward(ctx, gy, gvT, gs, gh, v0, decay, gain, theta, gbuf.view(1 if static else T, -1).numpy())
        mean, invstd, w = ctx.bn
        need_z, need_w, need_b = ctx.needs_input_grad[:3]
        dz = _pool_like(z)
        dgamma = np.empty(C)
        dbeta = np.empty(C)
        _pk().bn_backward(gbuf.view(N, H * W, C).numpy(), _npc(z), mean, invstd, w, _npc(dz), dgamma, dbeta)
        return (dz if need_z else None,
                torch.from_numpy(dgamma).to(weight.dtype) if need_w else None,
                torch.from_numpy(dbeta).to(weight.dtype) if need_b else None,
                _sum_to(gv0, v0.shape) if ctx.needs_input_grad[3] else None) + (None,) * 12


def _pool_like(t: Tensor) -> Tensor:
    """An uninitialised workspace tensor shaped and laid out like ``t`` (NCHW or channels last)."""
    if t.dim() == 4 and t.is_contiguous(memory_format=CL) and not t.is_contiguous():
        N, C, H, W = t.shape
        return _cl_empty((N,), C, H, W, t.dtype)
    if t.is_contiguous():
        return WORKSPACE.empty(t.numel(), t.dtype).view(t.shape)
    return torch.empty_like(t)


def _npc(t: Tensor) -> np.ndarray:
    """``(N, C, H, W)`` as an ``(N, H W, C)`` numpy view (contiguous for channels-last memory)."""
    N, C, H, W = t.shape
    return t.detach().permute(0, 2, 3, 1).reshape(N, H * W, C).numpy()


def _lif_pool_forward(ctx, x: Tensor, static: bool, v0: Tensor | None, decay: Tensor, gain: Tensor, theta: Tensor,
                      v_reset: float, soft: bool, T: int, step_shape: torch.Size, dt: torch.dtype, keep_sequences: bool,
                      scale: np.ndarray | None = None, shift: np.ndarray | None = None):
    """LIF + pool forward on ``x`` (dense, NHWC order, ``T`` or one step; the LIF input is
    ``x scale_c + shift_c`` when ``scale`` is given). With ``keep_sequences`` the charge and spikes are
    stored (:func:`._lif_pool_kernels.lif_pool_forward`); otherwise nothing of size ``(T, M)`` is:
    the blocked kernels run and the backward recomputes the charge from ``x``, which the caller
    keeps alive and unchanged (a saved input or a buffer held by the context)."""
    B, C, H, W = step_shape
    M = B * C * H * W
    y = _cl_empty((T, B), C, H // 2, W // 2, dt)
    v = _cl_empty((B,), C, H, W, dt)
    x2 = _flat_storage(x, 1 if static else T)
    pv0 = None if v0 is None else _nhwc(v0, step_shape, dt)
    a, g, th = ctx.params = tuple(_nhwc_param(p, step_shape, dt) for p in (decay, gain, theta))
    ctx.blocked = not keep_sequences
    ctx.geom = (T, B, C, H, W, dt)
    if not keep_sequences:
        _pk().lif_pool_forward_blocked(x2, static, scale, shift, pv0, a, g, th, soft, float(v_reset), _flat_storage(y, T),
                                       _flat_storage(v, 1)[0], T, H, W, C)
        ctx.lif_in = (x, scale, shift)
        return y, v, None, None
    if scale is not None:
        raise ValueError("an affine (BatchNorm) input needs keep_sequences=False; pass the normalised current instead.")
    h_seq, s_seq = _cl_empty((T, B), C, H, W, dt), _cl_empty((T, B), C, H, W, dt)
    _pk().lif_pool_forward(x2, static, pv0, a, g, th, soft, float(v_reset), _flat_storage(h_seq, T),
                           _flat_storage(s_seq, T), _flat_storage(y, T), _flat_storage(v, 1)[0], H, W, C)
    ctx.h_seq = h_seq
    return y, v, s_seq, h_seq


def _lif_pool_backward(ctx, gy, gvT, gs, gh, v0, decay, gain, theta, gx2: np.ndarray) -> Tensor:
    """The compiled recursion into ``gx2`` ``(T or 1, M)`` (NHWC order); returns ``dL/dv0`` (channels last)."""
    from .lif_multistep import _kernels

    v_reset, soft, detach_reset, surrogate, alpha, static = ctx.cfg[:6]
    T, B, C, H, W, dt = ctx.geom
    step_shape = torch.Size((B, C, H, W))
    M = B * C * H * W
    need_v0 = v0 is not None and v0.requires_grad
    gp = (_nhwc(gy, (T, B, C, H // 2, W // 2), dt).reshape(T, M // 4) if gy is not None
          else np.zeros((T, M // 4), dtype=np.dtype(str(dt).removeprefix("torch."))))
    gv0 = _cl_empty((B,), C, H, W, dt)
    a, g, th = ctx.params  # decay, gain and threshold take no gradient here: as in the forward
    pvT = None if gvT is None else _nhwc(gvT, step_shape, dt)
    code = _kernels().SURROGATE_CODES[surrogate]
    if ctx.blocked:  # no sequence was returned, so gs and gh are None
        x, scale, shift = ctx.lif_in
        _pk().lif_pool_backward_blocked(_flat_storage(x.detach(), 1 if static else T), static, scale, shift,
                                        None if v0 is None else _nhwc(v0, step_shape, dt), pvT, a, g, th, soft,
                                        detach_reset, float(v_reset), code, float(alpha), gx2,
                                        _flat_storage(gv0, 1)[0], gp, T, H, W, C)
        return gv0
    seq = lambda t: None if t is None else _nhwc(t, (T, B, C, H, W), dt).reshape(T, M)  # noqa: E731
    _pk().lif_pool_backward(_flat_storage(ctx.h_seq, T), seq(gs), seq(gh), pvT, a, g, th, soft, detach_reset,
                            float(v_reset), code, float(alpha), static, gx2, _flat_storage(gv0, 1)[0], gp, H, W, C)
    return gv0


def batchnorm_stats(z: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance (float64) of ``z`` ``(N, C, H, W)`` (any layout)."""
    C = z.shape[1]
    mean, var = np.empty(C), np.empty(C)
    _pk().bn_stats(_npc(z), mean, var)
    return mean, var


def bn_lif_pool_multistep(z: Tensor, steps: int, static: bool, weight: Tensor, bias: Tensor,
                          running_mean: Tensor | None, running_var: Tensor | None, momentum: float, eps: float,
                          v0: Tensor | None, decay: Tensor, gain: Tensor, theta: Tensor, *, reset: str = "soft",
                          v_reset: float = 0.0, detach_reset: bool = True, surrogate: str = "atan", alpha: float = 2.0,
                          keep_sequences: bool = False):
    """Training-mode ``BatchNorm2d`` over all steps, then LIF and a 2x2 max pool, as one op (CPU, numba).

    ``z``: the convolution output ``(T B, C, H, W)`` with channels-last memory (step ``t`` is rows
    ``t B .. (t+1) B``), or ``(B, C, H, W)`` in any layout for a time-constant input (``static``).
    Normalises with the batch statistics over ``N H W`` like ``F.batch_norm(..., training=True)``
    (which, for a static input, equal those over the ``T`` repeated copies) and updates the running
    statistics in place (unbiased variance, factor ``momentum``). Returns ``(pooled, v_final)`` or,
    with ``keep_sequences``, ``(pooled, v_final, spikes, membrane)``; pooled spikes
    ``(T, B, C, H/2, W/2)`` with channels-last steps.
    """
    mean, var = batchnorm_stats(z)
    n = z.numel() // z.shape[1]
    if running_mean is not None:  # in place, like BatchNorm (CPU buffers: this op runs on CPU only)
        rm, rv = running_mean.detach().numpy(), running_var.detach().numpy()
        rm[:] = (1 - momentum) * rm + momentum * mean
        rv[:] = (1 - momentum) * rv + momentum * (var * (n / max(n - 1, 1)))
    invstd = 1.0 / np.sqrt(var + eps)
    return FusedBNLIFPoolCL.apply(z, weight, bias, v0, decay, gain, theta, (mean, invstd), float(v_reset),
                                  reset == "soft", bool(detach_reset), surrogate, float(alpha), int(steps), bool(static),
                                  bool(keep_sequences))
