"""Kanerva's Sparse Distributed Memory and its softmax-attention approximation.

Kanerva 1988 (*Sparse Distributed Memory*, MIT Press); Bricken & Pehlevan 2021 ("Attention
approximates sparse distributed memory", NeurIPS).

``M`` hard locations with random binary addresses ``a_m`` in {0,1}^n. Writing pattern ``v`` at
address ``p`` adds ``v`` (bipolar) to the counters of every location within Hamming radius ``r`` of
``p``; reading at query ``xi`` sums the counters of the locations within ``r`` of ``xi``. For stored
pairs ``(p_mu, v_mu)`` the read is therefore

    read(xi) = sum_mu |B_r(xi) ∩ B_r(p_mu)| v_mu

and the weight of a pattern depends only on the Hamming distance ``d(xi, p_mu)`` through the
expected ball-intersection fraction ``I(d)`` (computed exactly by :func:`intersection_fraction`).
Over the distances that matter ``I(d) ~ exp(-beta' d)``; since for bipolar vectors
``x . p = n - 2 d``, the normalised read is softmax attention ``softmax(beta x.p) V`` with
``beta = beta' / 2`` (:func:`fit_attention_beta`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["SDMConfig", "SparseDistributedMemory", "intersection_fraction", "fit_attention_beta"]


def intersection_fraction(n: int, r: int, d: int) -> float:
    """Fraction of {0,1}^n within Hamming distance ``r`` of two points that are ``d`` apart.

    A point z differing from the first address in ``a`` of the ``d`` disagreeing coordinates and
    in ``b`` of the ``n - d`` agreeing ones is at distance ``a + b`` and ``d - a + b``.
    """
    if not 0 <= d <= n or not 0 <= r <= n:
        raise ValueError(f"need 0 <= d, r <= n, got d={d}, r={r}, n={n}.")
    total = 0
    for a in range(d + 1):
        for b in range(n - d + 1):
            if a + b <= r and d - a + b <= r:
                total += math.comb(d, a) * math.comb(n - d, b)
    return total / 2**n


def fit_attention_beta(n: int, r: int, d_max: int | None = None) -> tuple[float, float]:
    """Least-squares fit of ``log I(d) = c - beta' d`` over ``d = 0 .. d_max`` (default ``n // 2``,
    the typical distance of an unrelated pattern).

    Returns:
        ``(beta, r2)``: the softmax inverse temperature on bipolar dot products (``beta'/2``) and the
        R^2 of the log-linear fit.
    """
    d_max = d_max if d_max is not None else n // 2
    ds = [d for d in range(d_max + 1) if intersection_fraction(n, r, d) > 0]
    if len(ds) < 2:
        raise ValueError(f"radius {r} is too small for n={n}: fewer than two distances have overlapping balls.")
    y = torch.tensor([math.log(intersection_fraction(n, r, d)) for d in ds], dtype=torch.float64)
    x = torch.tensor(ds, dtype=torch.float64)
    A = torch.stack([torch.ones_like(x), x], 1)
    coef = torch.linalg.lstsq(A, y.unsqueeze(1)).solution.squeeze(1)
    pred = A @ coef
    r2 = 1 - float(((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    return -float(coef[1]) / 2.0, r2


@dataclass(frozen=True)
class SDMConfig:
    """SDM configuration: address/data width ``n``, ``n_locations`` hard locations, read/write ``radius``."""

    n: int = 64
    n_locations: int = 20000
    radius: int = 24
    data_dim: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1 or self.n_locations < 1 or not 0 <= self.radius <= self.n:
            raise ValueError(f"need n >= 1, n_locations >= 1 and 0 <= radius <= n, got {self}.")


class SparseDistributedMemory(nn.Module):
    """Kanerva SDM with counters; addresses and data are bipolar (+-1) tensors."""

    def __init__(self, cfg: SDMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        addr = torch.where(torch.rand(cfg.n_locations, cfg.n, generator=g) < 0.5, -1.0, 1.0)
        self.register_buffer("addresses", addr)
        self.register_buffer("counters", torch.zeros(cfg.n_locations, cfg.data_dim or cfg.n))

    def active(self, x: Tensor) -> Tensor:
        """Boolean ``(batch, n_locations)``: locations within the radius of each address in ``x``."""
        from ._binary import check_binary

        x = check_binary(x, "SDM addresses")
        if x.shape[-1] != self.cfg.n:
            raise ValueError(f"addresses must have {self.cfg.n} bits, got {x.shape[-1]}.")
        dist = (self.cfg.n - x @ self.addresses.T) / 2  # Hamming distance from bipolar dot products
        return dist <= self.cfg.radius

    def write(self, addresses: Tensor, data: Tensor) -> None:
        """Add each data row to the counters of the locations active for its address."""
        act = self.active(addresses).to(self.counters)
        self.counters += act.T @ data.to(self.counters)

    def read(self, query: Tensor) -> tuple[Tensor, Tensor]:
        """Summed counters of the active locations and their count: ``(sums, n_active)``."""
        act = self.active(query).to(self.counters)
        return act @ self.counters, act.sum(-1)

    def read_weights(self, query: Tensor, addresses: Tensor) -> Tensor:
        """Exact SDM weights ``|B(xi) ∩ B(p_mu)|`` (number of shared active locations)."""
        return self.active(query).float() @ self.active(addresses).float().T
