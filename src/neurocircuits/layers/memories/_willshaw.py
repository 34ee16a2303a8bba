"""Willshaw (clipped Hebbian) binary associative memory, learned by consolidation under noise.

Willshaw, Buneman & Longuet-Higgins 1969 ("Non-holographic associative memory", Nature 222:960):
sparse binary patterns (k of N units active) are stored in a binary matrix ``W_ij = 1`` iff units i
and j were ever co-active; a partial cue ``c`` retrieves ``{i : (W c)_i >= |c|}``.

Consolidated Hebbian learning under noise (cf. "noisy Hebbian" consolidation models with an
energy-usage limit): a pattern is learned in an *episode* of ``n_repeats`` presentations, each
corrupted by insertion (spurious active units, rate ``p_insert``) and erasure (dropped units, rate
``p_erase``). Each synapse keeps a transient trace that counts co-activations within the episode; a
synapse is *consolidated* to 1 when its trace reaches ``consolidation_threshold``; transient traces
are cleared at the end of the episode. Every trace increment costs one unit of
energy and every consolidation ``consolidation_cost`` units; learning stops when the budget
``energy_budget`` is spent. True pairs recur across presentations while noise pairs rarely do, so
the consolidated matrix approaches the ideal Willshaw matrix of the clean patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["WillshawMemory", "ConsolidationConfig", "ConsolidatedHebbianMemory", "sparse_patterns", "retrieval_errors"]


def sparse_patterns(n_patterns: int, n_units: int, k: int, generator: torch.Generator | None = None) -> Tensor:
    """Random 0/1 patterns with exactly ``k`` active units each: ``(n_patterns, n_units)``."""
    if not 0 < k <= n_units:
        raise ValueError(f"need 0 < k <= n_units, got k={k}, n_units={n_units}.")
    idx = torch.argsort(torch.rand(n_patterns, n_units, generator=generator), dim=1)[:, :k]
    P = torch.zeros(n_patterns, n_units)
    P.scatter_(1, idx, 1.0)
    return P


def _check01(x: Tensor, what: str) -> Tensor:
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError(f"{what} must be 0/1 vectors (active units = 1) for a Willshaw memory.")
    return x.float()


class WillshawMemory:
    """Ideal clipped-Hebbian memory with a binary matrix ``W``."""

    def __init__(self, n_units: int) -> None:
        self.W = torch.zeros(n_units, n_units)

    def store(self, patterns: Tensor) -> None:
        P = _check01(patterns, "patterns")
        self.W = torch.maximum(self.W, (P.T @ P > 0).float())

    def retrieve(self, cue: Tensor) -> Tensor:
        """Units whose input equals the number of active cue units (threshold = cue size)."""
        c = _check01(cue, "cue")
        h = c @ self.W.T
        return (h >= c.sum(-1, keepdim=True)).float()


def retrieval_errors(memory: WillshawMemory, patterns: Tensor, cue_fraction: float = 0.5,
                     generator: torch.Generator | None = None) -> Tensor:
    """Wrong units (false positives + misses) per pattern when cueing with ``cue_fraction`` of it."""
    cues = patterns * (torch.rand(patterns.shape, generator=generator) < cue_fraction)
    cues = torch.where(cues.sum(1, keepdim=True) > 0, cues, patterns)
    out = memory.retrieve(cues)
    return (out != patterns).float().sum(1)


@dataclass(frozen=True)
class ConsolidationConfig:
    """Noise, consolidation and energy parameters."""

    p_insert: float = 0.02
    p_erase: float = 0.1
    consolidation_threshold: int = 3
    consolidation_cost: float = 10.0
    energy_budget: float = float("inf")

    def __post_init__(self) -> None:
        if not (0 <= self.p_insert < 1 and 0 <= self.p_erase < 1):
            raise ValueError("noise rates must lie in [0, 1).")
        if self.consolidation_threshold < 1:
            raise ValueError("consolidation_threshold must be >= 1.")


class ConsolidatedHebbianMemory(WillshawMemory):
    """Binary memory learned from noisy presentations by trace consolidation within an energy budget."""

    def __init__(self, n_units: int, cfg: ConsolidationConfig = ConsolidationConfig()) -> None:
        super().__init__(n_units)
        self.cfg = cfg
        self.trace = torch.zeros(n_units, n_units)
        self.energy = 0.0

    def present(self, pattern: Tensor, generator: torch.Generator | None = None) -> bool:
        """One noisy presentation; returns False (and learns nothing) once the budget is spent."""
        p = _check01(pattern, "pattern")
        c = self.cfg
        noisy = p * (torch.rand(p.shape, generator=generator) >= c.p_erase)
        noisy = torch.maximum(noisy, (torch.rand(p.shape, generator=generator) < c.p_insert).float())
        co = torch.outer(noisy, noisy) * (self.W == 0)  # consolidated synapses need no more updates
        cost = float(co.sum())
        if self.energy + cost > c.energy_budget:
            return False
        self.trace += co
        self.energy += cost
        ready = self.trace >= c.consolidation_threshold
        n_new = int(ready.sum())
        if n_new:
            self.W[ready] = 1.0
            self.trace[ready] = 0.0
            self.energy += n_new * c.consolidation_cost
        return True

    def learn_episode(self, pattern: Tensor, n_repeats: int, generator: torch.Generator | None = None) -> bool:
        """Present ``pattern`` ``n_repeats`` times (noisily), then clear the transient traces."""
        ok = all(self.present(pattern, generator) for _ in range(n_repeats))
        self.trace.zero_()
        return ok
