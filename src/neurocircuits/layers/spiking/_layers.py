"""Spiking synaptic layers: a weight layer applied to every time step, followed by a neuron.

The weight layer runs once on the whole sequence (time folded into batch: one matmul / one conv
call), then the neuron's fused time loop runs. ``forward(x, state=None) -> (spikes, state)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...functional.lif_multistep import _static_base
from ._neurons import make_neuron
from ._pool import max_pool2x2
from ._time import TimeAxisError, check_time_first


def seq_apply(module: nn.Module, x: Tensor) -> Tensor:
    """Apply a per-sample module to every step of ``(time, batch, ...)`` in one call.

    A time-constant input (an expanded view with stride 0 along time, e.g. direct encoding) is
    computed once and expanded: the same values at a T-th of the cost.
    """
    T, B = x.shape[:2]
    if T > 1 and x.stride(0) == 0:
        # the one-step tensor itself when x is its expand (no select/expand pair in the backward,
        # whose select would build a (T, B, ...) zero gradient only to sum it again)
        base = _static_base(x)
        y0 = module(base if base is not None else x[0])
        return y0.unsqueeze(0).expand(T, *y0.shape)
    y = module(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


def _cl_seq_apply(module: nn.Module, x: Tensor) -> Tensor:
    """:func:`seq_apply` for 2-D maps ``(time, batch, C, H, W)`` computed in channels-last memory.

    The result has channels-last steps (a view of one ``(time * batch, C, H, W)`` channels-last
    tensor, or a stride-0 expand of one channels-last step for a time-constant input).
    """
    T, B = x.shape[:2]
    if T > 1 and x.stride(0) == 0:
        base = _static_base(x)
        x0 = base if base is not None else x[0]
        y0 = module(x0.contiguous(memory_format=torch.channels_last)).contiguous(memory_format=torch.channels_last)
        return y0.unsqueeze(0).expand(T, *y0.shape)
    y = module(x.reshape(T * B, *x.shape[2:]).contiguous(memory_format=torch.channels_last))
    y = y.contiguous(memory_format=torch.channels_last)
    return y.view(T, B, *y.shape[1:])


class SpikingLinear(nn.Module):
    """``Linear(in_features, out_features)`` per step, then a spiking neuron population."""

    def __init__(self, in_features: int, out_features: int, neuron: str = "lif", bias: bool = True, **neuron_kw) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.fc = nn.Linear(in_features, out_features, bias=bias)
        self.neuron = make_neuron(neuron, out_features, **neuron_kw)

    def forward(self, x: Tensor, state=None):
        check_time_first(x, (self.in_features,), "SpikingLinear")
        return self.neuron(seq_apply(self.fc, x), state)


class SpikingConv2d(nn.Module):
    """``Conv2d`` (+ optional BatchNorm) per step, then a spiking neuron with per-channel parameters.

    Args:
        channels_last: on CPU, run the convolution, BatchNorm and the neuron on maps in
            channels-last memory (oneDNN's and PyTorch's NHWC kernels, and the NHWC fused LIF + pool;
            several times faster for small maps). Same values up to float rounding; the output
            sequence then has channels-last steps. Ignored off CPU.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 neuron: str = "lif", batch_norm: bool = True, channels_last: bool = True, **neuron_kw) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.channels_last = bool(channels_last)
        self.neuron_name, self.neuron_kw = neuron, neuron_kw
        self.neuron = make_neuron(neuron, (out_channels, 1, 1), **neuron_kw)
        self.neuron.wildcard_axes = (1, 2)  # per-channel parameters, any map size

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise TimeAxisError(
                f"SpikingConv2d expects time-first input (time, batch, {self.in_channels}, H, W), got "
                f"shape {tuple(x.shape)}."
            )

    def current(self, x: Tensor) -> Tensor:
        """The input current ``BN(conv(x_t))`` of every step, ``(time, batch, out_channels, H', W')``."""
        self._check_input(x)
        if self.channels_last and x.device.type == "cpu":
            return _cl_seq_apply(self.bn, _cl_seq_apply(self.conv, x))
        return seq_apply(self.bn, seq_apply(self.conv, x))

    def forward(self, x: Tensor, state=None):
        return self.neuron(self.current(x), state)

    def forward_pool(self, x: Tensor, state=None):
        """``forward`` then a 2x2 max pool of the spikes at every step (fused for LIF-family neurons).

        On CPU with ``channels_last``, a LIF neuron and a BatchNorm in training mode, BatchNorm, LIF
        and pool run as one compiled op on the convolution output
        (:meth:`~neurocircuits.layers.spiking.LIF.forward_bn_pool`).
        """
        self._check_input(x)
        fusable = getattr(self.neuron, "bn_pool_fusable", None)
        if (self.channels_last and x.device.type == "cpu" and fusable is not None and fusable(self.bn, x)
                and self.conv.stride == (1, 1) and x.shape[-1] % 2 == 0 and x.shape[-2] % 2 == 0
                and 2 * self.conv.padding[0] == self.conv.kernel_size[0] - 1
                and 2 * self.conv.padding[1] == self.conv.kernel_size[1] - 1):
            T, B = x.shape[:2]
            if T > 1 and x.stride(0) == 0:  # time-constant input: one convolution, BN statistics over it
                base = _static_base(x)
                z = self.conv(base if base is not None else x[0])  # NCHW from a 1-channel input: made NHWC
                return self.neuron.forward_bn_pool(z.contiguous(memory_format=torch.channels_last), T, True, self.bn,
                                                   state)
            z = self.conv(x.reshape(T * B, *x.shape[2:]).contiguous(memory_format=torch.channels_last))
            return self.neuron.forward_bn_pool(z.contiguous(memory_format=torch.channels_last), T, False, self.bn, state)
        cur = self.current(x)
        if hasattr(self.neuron, "forward_pool"):
            return self.neuron.forward_pool(cur, state)
        s, st = self.neuron(cur, state)
        return seq_apply(max_pool2x2, s), st
