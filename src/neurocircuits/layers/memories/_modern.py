"""Modern continuous Hopfield network (Ramsauer et al. 2021, "Hopfield Networks is All You Need", ICLR).

Stored patterns ``X = (x_1, ..., x_M)`` (``M x d``), state ``xi`` in R^d. Energy and update::

    E(xi) = -lse(beta, X xi) + 1/2 xi^T xi + (1/beta) log M + 1/2 max_i |x_i|^2
    xi_new = X^T softmax(beta X xi)

``lse(beta, z) = (1/beta) log sum_i exp(beta z_i)``. The update is the CCCP step on ``E`` and so never
increases it; one update retrieves a pattern with exponentially small error when patterns are
well separated. With projections ``Q = R W_Q``, ``K = Y W_K``, ``V = K W_V`` the update is attention.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ModernHopfield", "HopfieldLayer", "lse"]


def lse(beta: float, z: Tensor, dim: int = -1) -> Tensor:
    """Log-sum-exp at inverse temperature ``beta``: ``(1/beta) log sum exp(beta z)``."""
    return torch.logsumexp(beta * z, dim) / beta


class ModernHopfield(nn.Module):
    """Softmax retrieval over stored continuous patterns (no parameters)."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ValueError(f"beta (inverse temperature) must be > 0, got {beta}.")
        self.beta = float(beta)

    @staticmethod
    def _check(query: Tensor, memories: Tensor) -> None:
        if memories.dim() != 2 or query.shape[-1] != memories.shape[-1]:
            raise ValueError(
                f"memories must be (M, d) and queries (..., d) with the same d; got "
                f"{tuple(memories.shape)} and {tuple(query.shape)}."
            )

    def energy(self, query: Tensor, memories: Tensor) -> Tensor:
        """``E(xi)`` for queries ``(..., d)``."""
        self._check(query, memories)
        M = memories.shape[0]
        return (
            -lse(self.beta, query @ memories.T)
            + 0.5 * (query * query).sum(-1)
            + math.log(M) / self.beta
            + 0.5 * float((memories * memories).sum(-1).max())
        )

    def forward(self, query: Tensor, memories: Tensor, n_steps: int = 1) -> tuple[Tensor, Tensor]:
        """Apply ``n_steps`` updates; returns ``(retrieved, attention weights of the last step)``."""
        self._check(query, memories)
        xi = query
        p = query.new_zeros(0)
        for _ in range(n_steps):
            p = torch.softmax(self.beta * xi @ memories.T, dim=-1)
            xi = p @ memories
        return xi, p


class HopfieldLayer(nn.Module):
    """Trainable Hopfield layer: state patterns ``R`` retrieve from stored patterns ``Y`` through
    learned projections (``Z = softmax(beta R W_Q (Y W_K)^T) Y W_K W_V``)."""

    def __init__(self, d_in: int, d_stored: int, d_hidden: int, d_out: int, beta: float | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.W_q = nn.Linear(d_in, d_hidden, bias=False, **kw)
        self.W_k = nn.Linear(d_stored, d_hidden, bias=False, **kw)
        self.W_v = nn.Linear(d_hidden, d_out, bias=False, **kw)
        self.beta = beta if beta is not None else 1.0 / math.sqrt(d_hidden)

    def example_input(self, batch: int) -> tuple[Tensor, Tensor]:
        w = self.W_q.weight
        return (torch.randn(batch, 3, self.W_q.in_features, dtype=w.dtype, device=w.device),
                torch.randn(batch, 5, self.W_k.in_features, dtype=w.dtype, device=w.device))

    def forward(self, R: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
        """``R``: (batch, n_query, d_in); ``Y``: (batch, n_stored, d_stored). Returns ``(Z, weights)``."""
        if R.dim() != 3 or Y.dim() != 3 or R.shape[-1] != self.W_q.in_features or Y.shape[-1] != self.W_k.in_features:
            raise ValueError(
                f"HopfieldLayer expects R (batch, n_query, {self.W_q.in_features}) and Y (batch, n_stored, "
                f"{self.W_k.in_features}), got {tuple(R.shape)} and {tuple(Y.shape)}."
            )
        q, k = self.W_q(R), self.W_k(Y)
        p = torch.softmax(self.beta * q @ k.transpose(-1, -2), dim=-1)
        return self.W_v(p @ k), p
