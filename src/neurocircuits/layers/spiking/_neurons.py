"""Trainable spiking neuron layers (time-first, ``forward(x, state=None) -> (spikes, state)``).

* :class:`LIF` -- leaky integrate-and-fire, ``h_t = a v_{t-1} + g x_t``, ``s_t = H(h_t - theta)``,
  soft (``v -= theta s``) or hard (``v = v_reset``) reset, ``a = exp(-dt/tau_mem)``. With
  ``learn_tau=True`` the decay is ``a = sigmoid(w)`` with ``w`` trained: the parametric LIF (PLIF,
  Fang et al. 2021). ``learn_threshold`` trains ``theta`` (learnable internal parameters, catalog
  row 75). Runs the fused multi-step op of :mod:`neurocircuits.functional.lif_multistep`.
* :class:`IF` -- integrate-and-fire, the LIF with ``a = 1``.
* :class:`ALIF` -- adaptive LIF (Bellec et al. 2018): ``theta_t = theta_0 + beta b_{t-1}``,
  ``b_t = rho b_{t-1} + (1 - rho) s_t``; fused (:func:`~neurocircuits.functional.lif_multistep.alif_multistep`)
  unless the surrogate slope is learned.
* :class:`GIF` -- generalised IF with multi-bit spikes (SpikeLLM, Xing et al. 2024): each step emits
  an integer level ``s_t = clip(floor(h_t / theta), 0, L)`` and subtracts ``theta s_t``; ``L = 2^bits - 1``.
* :class:`LI` -- non-spiking leaky integrator read-out (membrane sequence as output).

All neurons are registered in :data:`SPIKING_NEURONS` (``make_neuron(name, features, **kw)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ...functional.lif_multistep import MultiBitSpike as _MultiBitSpike
from ...functional.lif_multistep import _kernels, alif_multistep, gif_multistep, lif_multistep, lif_multistep_unrolled
from ...functional.lif_multistep import lif_pool_multistep
from ...functional.surrogate import SURROGATES, spike
from ...registry import Registry
from ..hooks import HookPoint
from ._time import check_time_first

SPIKING_NEURONS: Registry[Callable[..., nn.Module]] = Registry("spiking neuron")


class LIFState(NamedTuple):
    """Membrane potential after the last step, ``(batch, *features)``."""

    v: Tensor


class ALIFState(NamedTuple):
    v: Tensor
    b: Tensor  # threshold adaptation trace


def _hooked(point: nn.Module) -> bool:
    """Whether calling ``point`` can run a hook (its own or a global module hook)."""
    from torch.nn.modules import module as _m

    return bool(point._forward_hooks or point._forward_pre_hooks or _m._global_forward_hooks
                or _m._global_forward_pre_hooks)


def _as_shape(features: int | Sequence[int]) -> tuple[int, ...]:
    return (int(features),) if isinstance(features, int) else tuple(int(f) for f in features)


def _param_shape(shape: tuple[int, ...], per_neuron: bool) -> tuple[int, ...]:
    """Per-neuron parameters vary along the first feature axis (neurons or channels)."""
    if not per_neuron:
        return ()
    return (shape[0],) + (1,) * (len(shape) - 1)


class _SpikingBase(nn.Module):
    def __init__(self, features: int | Sequence[int], surrogate: str, alpha: float | None, learn_slope: bool) -> None:
        super().__init__()
        self.feature_shape = _as_shape(features)
        spec = SURROGATES.get(surrogate)  # raises with the valid names
        self.surrogate = surrogate
        a0 = float(spec.default_alpha if alpha is None else alpha)
        if learn_slope:
            self.alpha: Tensor | float = nn.Parameter(torch.tensor(a0))
        else:
            self.alpha = a0
        self.hook_membrane = HookPoint()
        self.hook_spikes = HookPoint()

    # entries of feature_shape that may take any size (set by convolutional layers for H, W)
    wildcard_axes: tuple[int, ...] = ()

    def _check(self, x: Tensor) -> None:
        shape = tuple(None if i in self.wildcard_axes else f for i, f in enumerate(self.feature_shape))
        check_time_first(x, shape, type(self).__name__)


class LIF(_SpikingBase):
    """Leaky integrate-and-fire population (PLIF with ``learn_tau=True``).

    Args:
        features: neurons per sample (int) or feature shape, e.g. ``(channels, H, W)``.
        tau_mem_ms: membrane time constant; decay ``a = exp(-dt_ms / tau_mem_ms)``.
        dt_ms: time step.
        threshold: firing threshold ``theta``.
        reset: ``"soft"`` (subtract) or ``"hard"`` (to ``v_reset``).
        v_reset: hard-reset potential.
        surrogate: surrogate-gradient name; ``alpha`` its sharpness; ``learn_slope`` trains it.
        learn_tau: train the decay (PLIF); ``learn_threshold``: train ``theta``.
        per_neuron: learnable parameters per neuron/channel instead of one per layer.
        input_gain: ``"one"`` (``h = a v + x``, snnTorch Leaky) or ``"leak"`` (``h = a v + (1-a) x``).
        detach_reset: no gradient through the reset.
    """

    def __init__(
        self,
        features: int | Sequence[int],
        tau_mem_ms: float = 10.0,
        dt_ms: float = 1.0,
        threshold: float = 1.0,
        reset: str = "soft",
        v_reset: float = 0.0,
        surrogate: str = "atan",
        alpha: float | None = None,
        learn_tau: bool = False,
        learn_threshold: bool = False,
        learn_slope: bool = False,
        per_neuron: bool = False,
        input_gain: str = "one",
        detach_reset: bool = True,
    ) -> None:
        super().__init__(features, surrogate, alpha, learn_slope)
        if tau_mem_ms <= 0 or dt_ms <= 0:
            raise ValueError(f"tau_mem_ms and dt_ms must be positive, got tau_mem_ms={tau_mem_ms}, dt_ms={dt_ms}.")
        if reset not in ("soft", "hard"):
            raise ValueError(f"reset must be 'soft' or 'hard', got {reset!r}.")
        if input_gain not in ("one", "leak"):
            raise ValueError(f"input_gain must be 'one' or 'leak', got {input_gain!r}.")
        if threshold <= 0:
            raise ValueError(f"threshold must be positive, got {threshold}.")
        self.reset, self.v_reset, self.input_gain, self.detach_reset = reset, float(v_reset), input_gain, detach_reset
        self.tau_mem_ms, self.dt_ms = float(tau_mem_ms), float(dt_ms)
        pshape = _param_shape(self.feature_shape, per_neuron)
        a0 = math.exp(-dt_ms / tau_mem_ms) if math.isfinite(tau_mem_ms) else 1.0
        if learn_tau:
            a0 = min(max(a0, 1e-4), 1 - 1e-4)
            self.decay_logit = nn.Parameter(torch.full(pshape, math.log(a0 / (1 - a0))))
        else:
            self.register_buffer("decay_const", torch.full(pshape, a0), persistent=False)
        th = torch.full(pshape, float(threshold))
        self.threshold = nn.Parameter(th) if learn_threshold else None
        if not learn_threshold:
            self.register_buffer("threshold_const", th, persistent=False)

    def decay(self) -> Tensor:
        """The per-step decay ``a`` (``sigmoid(w)`` when learned)."""
        return torch.sigmoid(self.decay_logit) if hasattr(self, "decay_logit") else self.decay_const

    def theta(self) -> Tensor:
        return self.threshold if self.threshold is not None else self.threshold_const

    def initial_state(self, batch: int, device: torch.device | None = None, dtype: torch.dtype | None = None) -> LIFState:
        return LIFState(torch.zeros((batch, *self.feature_shape), device=device, dtype=dtype))

    def forward(self, x: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        self._check(x)
        v0 = state.v if state is not None else torch.zeros_like(x[0])
        a = self.decay().to(x.dtype)
        g = (1.0 - a) if self.input_gain == "leak" else torch.ones((), dtype=x.dtype, device=x.device)
        kw = dict(reset=self.reset, v_reset=self.v_reset, detach_reset=self.detach_reset, surrogate=self.surrogate)
        if isinstance(self.alpha, Tensor):
            out = lif_multistep_unrolled(x, v0, a, g, self.theta().to(x.dtype), alpha=self.alpha, **kw)
        else:
            out = lif_multistep(x, v0, a, g, self.theta().to(x.dtype), alpha=self.alpha, **kw)
        self.hook_membrane(out.membrane)
        return self.hook_spikes(out.spikes), LIFState(out.v_final)

    def forward_pool(self, x: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        """``forward`` followed by a 2x2 max pool of the spikes at every step, ``(T, B, C, H, W)`` input.

        Equals ``seq_apply(nn.MaxPool2d(2), forward(x)[0])`` in values and gradients; for a fixed
        surrogate slope it runs as one fused op (:func:`~neurocircuits.functional.lif_multistep.lif_pool_multistep`).
        The hook points see the unpooled spikes and membrane as in ``forward``; if a hook replaces the
        spikes, the pool is applied to what it returned.
        """
        if isinstance(self.alpha, Tensor):
            s, st = self(x, state)
            T, B = s.shape[:2]
            p = torch.nn.functional.max_pool2d(s.reshape(T * B, *s.shape[2:]), 2)
            return p.reshape(T, B, *p.shape[1:]), st
        self._check(x)
        v0 = state.v if state is not None else None
        a = self.decay().to(x.dtype)
        g = (1.0 - a) if self.input_gain == "leak" else torch.ones((), dtype=x.dtype, device=x.device)
        # the unpooled sequences exist only for hooks: without any, they are never written
        keep = _hooked(self.hook_membrane) or _hooked(self.hook_spikes)
        out = lif_pool_multistep(x, v0, a, g, self.theta().to(x.dtype), reset=self.reset, v_reset=self.v_reset,
                                 detach_reset=self.detach_reset, surrogate=self.surrogate, alpha=self.alpha,
                                 keep_sequences=keep)
        if not keep:
            return out.pooled, LIFState(out.v_final)
        self.hook_membrane(out.membrane)
        spikes = self.hook_spikes(out.spikes)
        if spikes is out.spikes:
            return out.pooled, LIFState(out.v_final)
        T, B = spikes.shape[:2]
        p = torch.nn.functional.max_pool2d(spikes.reshape(T * B, *spikes.shape[2:]), 2)
        return p.reshape(T, B, *p.shape[1:]), LIFState(out.v_final)

    def bn_pool_fusable(self, bn: nn.Module, like: Tensor) -> bool:
        """Whether :meth:`forward_bn_pool` can run ``bn`` (training-mode ``BatchNorm2d``), this LIF and
        the pool as one compiled op for inputs like ``like`` (CPU float, fixed surrogate slope, no
        learned decay or threshold, no hooks on the membrane or spikes)."""
        return (isinstance(bn, nn.BatchNorm2d) and bn.training and bn.affine and like.device.type == "cpu"
                and like.dtype in (torch.float32, torch.float64) and _kernels() is not None
                and not isinstance(self.alpha, Tensor) and self.surrogate in _kernels().SURROGATE_CODES
                and not hasattr(self, "decay_logit") and self.threshold is None
                and not (_hooked(self.hook_membrane) or _hooked(self.hook_spikes)))

    def forward_bn_pool(self, z: Tensor, steps: int, static: bool, bn: nn.BatchNorm2d,
                        state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        """``bn`` (training mode) on the convolution output ``z``, this LIF, then a 2x2 max pool, fused.

        ``z`` is ``(steps * batch, C, H, W)`` with channels-last memory, or ``(batch, C, H, W)`` for a
        time-constant input (``static``). Same values, gradients and running-statistics updates as
        ``bn`` then :meth:`forward_pool` (up to float rounding); check :meth:`bn_pool_fusable` first.
        """
        from ...functional._lif_pool import bn_lif_pool_multistep

        factor = 0.0
        if bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked.add_(1)  # nn.BatchNorm2d's bookkeeping
            factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else float(bn.momentum)
        a = self.decay().to(z.dtype)
        g = (1.0 - a) if self.input_gain == "leak" else torch.ones((), dtype=z.dtype, device=z.device)
        out = bn_lif_pool_multistep(z, steps, static, bn.weight, bn.bias, bn.running_mean, bn.running_var, factor,
                                    bn.eps, state.v if state is not None else None, a, g, self.theta().to(z.dtype),
                                    reset=self.reset, v_reset=self.v_reset, detach_reset=self.detach_reset,
                                    surrogate=self.surrogate, alpha=float(self.alpha))
        return out[0], LIFState(out[1])

    def extra_repr(self) -> str:
        return (f"features={self.feature_shape}, tau_mem_ms={self.tau_mem_ms}, reset={self.reset!r}, "
                f"surrogate={self.surrogate!r}, learn_tau={hasattr(self, 'decay_logit')}")


class IF(LIF):
    """Integrate-and-fire: the LIF without leak (``a = 1``)."""

    def __init__(self, features: int | Sequence[int], threshold: float = 1.0, reset: str = "soft", **kw) -> None:
        kw.pop("tau_mem_ms", None)
        kw.pop("learn_tau", None)
        super().__init__(features, tau_mem_ms=math.inf, threshold=threshold, reset=reset, **kw)


class ALIF(_SpikingBase):
    """Adaptive-threshold LIF (Bellec et al. 2018, LSNN).

    ``h_t = a v_{t-1} + x_t``, ``theta_t = theta_0 + beta b_{t-1}``, ``s_t = H(h_t - theta_t)``,
    ``v_t = h_t - theta_t s_t``, ``b_t = rho b_{t-1} + (1 - rho) s_t`` with ``rho = exp(-dt/tau_adapt)``.
    """

    def __init__(self, features: int | Sequence[int], tau_mem_ms: float = 10.0, tau_adapt_ms: float = 100.0,
                 dt_ms: float = 1.0, threshold: float = 1.0, beta: float = 1.0, surrogate: str = "atan",
                 alpha: float | None = None, learn_slope: bool = False) -> None:
        super().__init__(features, surrogate, alpha, learn_slope)
        if min(tau_mem_ms, tau_adapt_ms, dt_ms) <= 0:
            raise ValueError("tau_mem_ms, tau_adapt_ms and dt_ms must be positive.")
        self.a, self.rho = math.exp(-dt_ms / tau_mem_ms), math.exp(-dt_ms / tau_adapt_ms)
        self.theta0, self.beta = float(threshold), float(beta)

    def forward(self, x: Tensor, state: ALIFState | None = None) -> tuple[Tensor, ALIFState]:
        self._check(x)
        v = state.v if state is not None else torch.zeros_like(x[0])
        b = state.b if state is not None else torch.zeros_like(x[0])
        if not isinstance(self.alpha, Tensor):  # fused: one op (numba kernels on CPU), else the loop below
            out = alif_multistep(x, v, b, decay=self.a, threshold=self.theta0, beta=self.beta, rho=self.rho,
                                 surrogate=self.surrogate, alpha=self.alpha)
            self.hook_membrane(out.membrane)
            return self.hook_spikes(out.spikes), ALIFState(out.v_final, out.b_final)
        spikes, mem = [], []
        for t in range(x.shape[0]):
            th = self.theta0 + self.beta * b
            h = self.a * v + x[t]
            s = spike(h - th, self.surrogate, self.alpha)
            v = h - th * s.detach()
            b = self.rho * b + (1 - self.rho) * s
            spikes.append(s)
            mem.append(h)
        self.hook_membrane(torch.stack(mem))
        return self.hook_spikes(torch.stack(spikes)), ALIFState(v, b)


class GIF(_SpikingBase):
    """Generalised integrate-and-fire with multi-bit spikes (SpikeLLM's GIF neuron).

    Each step emits an integer level ``s_t = clip(floor(h_t / theta), 0, 2^bits - 1)`` and soft-resets
    ``v_t = h_t - theta s_t``; ``bits=1`` is the IF neuron. Over ``T`` steps a GIF neuron codes a
    value in ``[0, T (2^bits - 1) theta]`` with resolution ``theta``, i.e. ``log2`` of the number of
    levels per step in bits.
    """

    def __init__(self, features: int | Sequence[int], bits: int = 2, threshold: float = 1.0, tau_mem_ms: float = math.inf,
                 dt_ms: float = 1.0) -> None:
        super().__init__(features, "straight_through", None, False)
        if bits < 1:
            raise ValueError(f"bits must be >= 1, got {bits}.")
        self.levels, self.theta = 2**bits - 1, float(threshold)
        self.a = math.exp(-dt_ms / tau_mem_ms) if math.isfinite(tau_mem_ms) else 1.0

    def forward(self, x: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        self._check(x)
        v = state.v if state is not None else torch.zeros_like(x[0])
        out = gif_multistep(x, v, decay=self.a, threshold=self.theta, levels=self.levels)  # fused (numba on CPU)
        self.hook_membrane(out.membrane)
        return self.hook_spikes(out.spikes), LIFState(out.v_final)


class LI(nn.Module):
    """Non-spiking leaky integrator read-out: ``v_t = a v_{t-1} + x_t``; output is the membrane sequence."""

    def __init__(self, features: int | Sequence[int], tau_mem_ms: float = 10.0, dt_ms: float = 1.0) -> None:
        super().__init__()
        self.feature_shape = _as_shape(features)
        self.a = math.exp(-dt_ms / tau_mem_ms) if math.isfinite(tau_mem_ms) else 1.0
        self.hook_membrane = HookPoint()

    def forward(self, x: Tensor, state: LIFState | None = None) -> tuple[Tensor, LIFState]:
        check_time_first(x, self.feature_shape, "LI")
        v = state.v if state is not None else torch.zeros_like(x[0])
        # v_t = sum_k a^(t-k) x_k, computed as one matmul with the decay kernel (no Python loop)
        T = x.shape[0]
        idx = torch.arange(T, device=x.device)
        K = torch.tril(self.a ** (idx[:, None] - idx[None, :]).clamp(min=0).to(x.dtype))
        flat = x.reshape(T, -1)
        mem = (K @ flat).reshape(x.shape) + (self.a ** (idx + 1).to(x.dtype)).view(T, *([1] * (x.dim() - 1))) * v
        return self.hook_membrane(mem), LIFState(mem[-1])


SPIKING_NEURONS.add("lif", LIF)
SPIKING_NEURONS.add("plif", lambda features, **kw: LIF(features, **{**kw, "learn_tau": True}))
SPIKING_NEURONS.add("if", IF)
SPIKING_NEURONS.add("alif", ALIF)
SPIKING_NEURONS.add("gif", GIF)
SPIKING_NEURONS.add("li", LI)


def make_neuron(name: str, features: int | Sequence[int], **kw) -> nn.Module:
    """Build the registered spiking neuron ``name`` (``lif``, ``plif``, ``if``, ``alif``, ``gif``, ``li``,
    ``mpbn_lif``, ``mpr_lif``)."""
    return SPIKING_NEURONS.get(name)(features, **kw)


def list_neurons() -> list[str]:
    return SPIKING_NEURONS.names()
