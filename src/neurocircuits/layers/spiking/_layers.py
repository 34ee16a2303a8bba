"""Spiking synaptic layers: a weight layer applied to every time step, followed by a neuron.

The weight layer runs once on the whole sequence (time folded into batch: one matmul / one conv
call), then the neuron's fused time loop runs. ``forward(x, state=None) -> (spikes, state)``.
"""

from __future__ import annotations

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
    """``Conv2d`` (+ optional BatchNorm) per step, then a spiking neuron with per-channel parameters."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 neuron: str = "lif", batch_norm: bool = True, **neuron_kw) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm)
        self.bn = nn.BatchNorm2d(out_channels) if batch_norm else nn.Identity()
        self.neuron_name, self.neuron_kw = neuron, neuron_kw
        self.neuron = make_neuron(neuron, (out_channels, 1, 1), **neuron_kw)
        self.neuron.wildcard_axes = (1, 2)  # per-channel parameters, any map size

    def forward(self, x: Tensor, state=None):
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise TimeAxisError(
                f"SpikingConv2d expects time-first input (time, batch, {self.in_channels}, H, W), got "
                f"shape {tuple(x.shape)}."
            )
        return self.neuron(seq_apply(self.bn, seq_apply(self.conv, x)), state)

    def forward_pool(self, x: Tensor, state=None):
        """``forward`` then a 2x2 max pool of the spikes at every step (fused for LIF-family neurons)."""
        if x.dim() != 5 or x.shape[2] != self.in_channels:
            raise TimeAxisError(
                f"SpikingConv2d expects time-first input (time, batch, {self.in_channels}, H, W), got "
                f"shape {tuple(x.shape)}."
            )
        cur = seq_apply(self.bn, seq_apply(self.conv, x))
        if hasattr(self.neuron, "forward_pool"):
            return self.neuron.forward_pool(cur, state)
        s, st = self.neuron(cur, state)
        return seq_apply(max_pool2x2, s), st
