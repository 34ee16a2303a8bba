"""Multitasking Hebbian network: Hopfield couplings from diluted (ternary) patterns.

Agliari, Barra, Galluzzi, Guerra & Moauro 2012 ("Multitasking associative networks", PRL 109:268101).
Patterns ``xi^mu_i`` in {-1, 0, +1} with ``P(0) = d`` (dilution), Hebbian couplings
``J = (1/N) sum_mu xi^mu xi^mu^T`` and binary spins. Because a pattern leaves the spins where it is
blank free, the zero-temperature dynamics retrieve several patterns at once. For mild dilution the
ground state reached from pattern 1 is hierarchical: spin i follows the first pattern (in order of
amplitude) that is not blank at i, so the Mattis overlaps are

    m_k = (1 - d) d^{k-1}        (k = 1, 2, ...; self-consistent while d is small)

For strong dilution the hierarchy breaks and the retrieved amplitudes become (nearly) equal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._hopfield import HopfieldConfig, HopfieldNetwork

__all__ = ["MultitaskHopfield", "diluted_patterns", "hierarchical_overlaps"]


def diluted_patterns(n_patterns: int, n_units: int, dilution: float, generator: torch.Generator | None = None) -> Tensor:
    """Random ternary patterns: 0 with probability ``dilution``, else +-1 with equal probability."""
    if not 0.0 <= dilution < 1.0:
        raise ValueError(f"dilution must lie in [0, 1), got {dilution}.")
    sign = torch.where(torch.rand(n_patterns, n_units, generator=generator) < 0.5, -1.0, 1.0)
    return sign * (torch.rand(n_patterns, n_units, generator=generator) >= dilution)


def hierarchical_overlaps(n_patterns: int, dilution: float) -> Tensor:
    """``m_k = (1 - d) d^{k-1}`` for ``k = 1..n_patterns``."""
    k = torch.arange(n_patterns, dtype=torch.float64)
    return (1 - dilution) * dilution**k


class MultitaskHopfield(HopfieldNetwork):
    """Hopfield network whose stored patterns may be blank (0) at some units; states stay +-1."""

    def __init__(self, n_units: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(HopfieldConfig(n_units, "hebbian"), device=device, dtype=dtype)

    def store(self, patterns: Tensor) -> None:
        """Hebbian couplings from ternary patterns ``(P, N)`` with entries in {-1, 0, +1}."""
        if patterns.dim() != 2 or patterns.shape[1] != self.cfg.n_units:
            raise ValueError(f"patterns must have shape (P, {self.cfg.n_units}), got {tuple(patterns.shape)}.")
        if not bool(((patterns == 0) | (patterns == 1) | (patterns == -1)).all()):
            raise ValueError("diluted patterns must contain only -1, 0 and +1.")
        X = patterns.to(self.weight)
        W = X.T @ X / self.cfg.n_units
        W.fill_diagonal_(0.0)
        self.weight.copy_(W)
