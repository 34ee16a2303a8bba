"""Spike encodings (analogue -> time-first spike trains) and decoders (spike trains -> scores).

Encoders take ``x`` of shape ``(batch, ...)`` with values in ``[0, 1]`` (direct coding accepts any
real value) and return ``(time, batch, ...)``:

* ``direct``  -- the analogue value at every step (the first layer's neurons do the coding).
* ``rate``    -- Bernoulli/Poisson: ``s_t ~ Bernoulli(x)`` independently per step.
* ``latency`` -- one spike at ``t = round((1 - x) (T - 1))``; values below ``min_value`` never fire.
* ``phase``   -- phase (weighted-spike) coding (Kim et al. 2018): ``x`` quantised to ``K`` bits;
  step ``t`` carries bit ``t mod K`` (most significant first), repeated every ``K`` steps.

Decoders take ``(time, batch, classes)`` and return ``(batch, classes)`` scores:
``count`` (sum of spikes), ``mean`` (mean over time), ``max_membrane`` (max over time, for a
non-spiking read-out) and ``first_spike`` (``T - t_first``: earlier spikes score higher; neurons that
never fire score 0).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..registry import Registry

ENCODINGS: Registry[Callable[..., Tensor]] = Registry("encoding")
DECODERS: Registry[Callable[[Tensor], Tensor]] = Registry("decoder")


def _check_unit(x: Tensor, name: str) -> None:
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name} encoding needs values in [0, 1], got range [{float(x.min()):.3g}, {float(x.max()):.3g}]; "
            f"rescale the input (e.g. x / x.max())."
        )


@ENCODINGS.register("direct")
def direct_encode(x: Tensor, time_steps: int, generator: torch.Generator | None = None) -> Tensor:
    """Repeat the analogue input at every step: ``(T, batch, ...)``."""
    return x.unsqueeze(0).expand(time_steps, *x.shape)


@ENCODINGS.register("rate")
def rate_encode(x: Tensor, time_steps: int, generator: torch.Generator | None = None) -> Tensor:
    """Bernoulli rate code: each step spikes with probability ``x``."""
    _check_unit(x, "rate")
    u = torch.rand((time_steps, *x.shape), generator=generator, dtype=x.dtype, device=x.device)
    return (u < x.unsqueeze(0)).to(x.dtype)


@ENCODINGS.register("latency")
def latency_encode(x: Tensor, time_steps: int, generator: torch.Generator | None = None,
                   min_value: float = 0.0) -> Tensor:
    """Time-to-first-spike code: one spike at ``round((1 - x)(T - 1))``, none where ``x <= min_value``."""
    _check_unit(x, "latency")
    t_spike = torch.round((1.0 - x) * (time_steps - 1)).long()
    steps = torch.arange(time_steps, device=x.device).view(time_steps, *([1] * x.dim()))
    out = (steps == t_spike.unsqueeze(0)) & (x > min_value).unsqueeze(0)
    return out.to(x.dtype)


@ENCODINGS.register("phase")
def phase_encode(x: Tensor, time_steps: int, generator: torch.Generator | None = None, bits: int = 8) -> Tensor:
    """Phase code: bit ``t mod bits`` (MSB first) of ``x`` quantised to ``bits`` bits.

    Weighting step ``t`` by ``2^-(1 + t mod bits)`` and summing one period recovers ``x`` to
    ``2^-bits`` (see :func:`phase_weights`).
    """
    _check_unit(x, "phase")
    q = torch.clamp(torch.round(x * (2**bits - 1)), 0, 2**bits - 1).long()
    out = []
    for t in range(time_steps):
        k = bits - 1 - (t % bits)
        out.append(((q >> k) & 1).to(x.dtype))
    return torch.stack(out)


def phase_weights(time_steps: int, bits: int = 8) -> Tensor:
    """Per-step weights that decode a phase code: ``2^(bits-1-(t mod bits)) / (2^bits - 1)``."""
    t = torch.arange(time_steps)
    return (2.0 ** (bits - 1 - (t % bits))) / (2**bits - 1)


def encode(x: Tensor, encoding: str, time_steps: int, generator: torch.Generator | None = None, **kw) -> Tensor:
    """Encode ``x (batch, ...)`` into ``(time_steps, batch, ...)`` with the named encoding."""
    if time_steps < 1:
        raise ValueError(f"time_steps must be >= 1, got {time_steps}.")
    return ENCODINGS.get(encoding)(x, time_steps, generator, **kw)


@DECODERS.register("count")
def count_decode(seq: Tensor) -> Tensor:
    """Spike count per output neuron."""
    return seq.sum(0)


@DECODERS.register("mean")
def mean_decode(seq: Tensor) -> Tensor:
    """Mean over time (rate, or mean membrane)."""
    return seq.mean(0)


@DECODERS.register("max_membrane")
def max_membrane_decode(seq: Tensor) -> Tensor:
    """Maximum over time (of a membrane-potential read-out)."""
    return seq.max(0).values


@DECODERS.register("first_spike")
def first_spike_decode(seq: Tensor) -> Tensor:
    """``T - t_first`` per neuron (0 if it never fires): the earliest spiking class wins."""
    T = seq.shape[0]
    steps = torch.arange(T, 0, -1, device=seq.device, dtype=seq.dtype).view(T, *([1] * (seq.dim() - 1)))
    return (seq * steps).max(0).values


def decode(seq: Tensor, decoder: str) -> Tensor:
    """Decode a time-first output sequence into ``(batch, ...)`` scores with the named decoder."""
    return DECODERS.get(decoder)(seq)
