"""Active dendrites over sparse distributed representations (Ahmad & Hawkins 2016, "How do neurons
operate on sparse distributed representations? A mathematical theory of sparsity, neurons and
active dendrites"; Hawkins & Ahmad 2016, "Why neurons have thousands of synapses").

A neuron has dendritic segments; a segment is a set of ``s`` synapses onto an ``n``-bit input. For a
binary input with ``a`` active bits, the segment's *overlap* is the number of its synapses on active
bits; the segment fires (an NMDA spike) when the overlap reaches the threshold ``theta``, and the
neuron is depolarised (predictive) when any segment fires.

For a uniformly random SDR the overlap is hypergeometric, so the false-match probability is

    P(overlap >= theta) = sum_{b = theta}^{min(s, a)} C(s, b) C(n - s, a - b) / C(n, a).

A segment can store a *union* of ``M`` patterns by sampling ``s`` synapses from each; it then
recognises each stored pattern (overlap ``s >= theta``) while its false-match rate is the formula
with ``s`` replaced by the size of the union of synapses (about ``M s``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sdr_false_match_prob(n: int, a: int, s: int, theta: int) -> float:
    """Exact probability that a random ``a``-of-``n`` SDR overlaps ``s`` fixed synapses in >= ``theta`` bits."""
    if not (0 <= a <= n and 0 <= s <= n and theta >= 0):
        raise ValueError(f"need 0 <= a, s <= n and theta >= 0; got n={n}, a={a}, s={s}, theta={theta}.")
    total = math.comb(n, a)
    hits = sum(math.comb(s, b) * math.comb(n - s, a - b) for b in range(theta, min(s, a) + 1))
    return hits / total


def random_sdrs(batch: int, n: int, a: int, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    """``batch`` random binary SDRs ``[batch, n]`` with exactly ``a`` active bits each (float 0/1)."""
    if not 0 < a <= n:
        raise ValueError(f"need 0 < a <= n, got a={a}, n={n}.")
    idx = torch.rand(batch, n, generator=generator, device=device).topk(a, dim=1).indices
    out = torch.zeros(batch, n, device=device)
    return out.scatter_(1, idx, 1.0)


class ActiveDendriteNeuron(nn.Module):
    """Neurons with binary dendritic segments and NMDA-like thresholds.

    Args:
        n_inputs: SDR width ``n``.
        n_neurons: number of neurons.
        n_segments: segments per neuron.
        theta: segment threshold (synapses on active bits needed for a dendritic spike).

    ``forward(x [batch, n]) -> (predictive [batch, neurons], overlaps [batch, neurons, segments])``.
    Synapses live in the buffer ``synapses [neurons, segments, n]`` (0/1); grow them with
    :meth:`learn_pattern`.
    """

    def __init__(self, n_inputs: int, n_neurons: int = 1, n_segments: int = 1, theta: int = 10,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        if min(n_inputs, n_neurons, n_segments) < 1 or theta < 1:
            raise ValueError("n_inputs, n_neurons, n_segments and theta must all be >= 1.")
        self.n_inputs, self.theta = n_inputs, theta
        self.register_buffer("synapses", torch.zeros(n_neurons, n_segments, n_inputs, device=device))

    def overlaps(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"ActiveDendriteNeuron expects [batch, {self.n_inputs}] binary SDRs, got {tuple(x.shape)}.")
        return torch.einsum("bn,ksn->bks", x.to(self.synapses.dtype), self.synapses)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ov = self.overlaps(x)
        return (ov >= self.theta).any(dim=-1).to(x.dtype), ov

    @torch.no_grad()
    def learn_pattern(self, pattern: Tensor, neuron: int = 0, segment: int = 0, synapses: int | None = None,
                      generator: torch.Generator | None = None) -> None:
        """Grow synapses on ``synapses`` randomly chosen active bits of ``pattern`` (all if None),
        adding to the segment's existing synapses (a union)."""
        active = torch.nonzero(pattern.flatten() > 0).flatten()
        if synapses is not None:
            if synapses > active.numel():
                raise ValueError(f"pattern has only {active.numel()} active bits, cannot sample {synapses}.")
            active = active[torch.randperm(active.numel(), generator=generator)[:synapses]]
        self.synapses[neuron, segment, active] = 1.0

    def segment_size(self, neuron: int = 0, segment: int = 0) -> int:
        return int(self.synapses[neuron, segment].sum())
