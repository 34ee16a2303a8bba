"""Outer-product associative memories with random embeddings and their scaling laws.

Cabannes, Dohmatob & Bietti 2024 ("Scaling laws for associative memories", ICLR). Tokens
``x in [N]`` with Zipf frequencies ``p(x) ~ x^{-alpha}`` map to labels ``f(x) in [M]``; random
embeddings ``e_x, u_y ~ N(0, I_d / d)``; the memory stores

    W = sum_x q(x) u_{f(x)} e_x^T,      prediction  f_W(x) = argmax_y u_y^T W e_x

with ``q`` an estimator built from ``n`` samples (registry :data:`ESTIMATORS`):

* ``seen``: ``q(x) = 1[x appeared]`` -- with ample memory (large ``d``) the error is the mass of
  unseen tokens, ``E ~ n^{-1 + 1/alpha}``;
* ``counts``: ``q(x) = n_x / n`` (empirical frequency) -- with ample data, token ``x`` is recalled
  when its signal ``p(x)`` beats the interference ``|p|_2 / sqrt(d)`` of the other stored tokens,
  so the cut-off rank is ``x* ~ d^{1/(2 alpha)}`` and ``E ~ x*^{1 - alpha} = d^{-(alpha - 1)/(2 alpha)}``.

:func:`associative_memory_error` returns the exact population error ``sum_x p(x) 1[f_W(x) != f(x)]``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...registry import Registry

__all__ = ["ESTIMATORS", "zipf_probabilities", "associative_memory_error"]

ESTIMATORS: Registry[Callable[[Tensor, int], Tensor]] = Registry("associative-memory estimator")
ESTIMATORS.add("seen", lambda counts, n: (counts > 0).to(torch.float64))
ESTIMATORS.add("counts", lambda counts, n: counts.to(torch.float64) / max(n, 1))


def zipf_probabilities(n_tokens: int, alpha: float) -> Tensor:
    """``p(x) = x^{-alpha} / Z`` for ``x = 1..n_tokens``."""
    if alpha <= 1 or n_tokens < 1:
        raise ValueError(f"need alpha > 1 and n_tokens >= 1, got {alpha} and {n_tokens}.")
    p = torch.arange(1, n_tokens + 1, dtype=torch.float64) ** (-alpha)
    return p / p.sum()


def associative_memory_error(
    p: Tensor, n_labels: int, d: int, n_samples: int | None, estimator: str = "seen", seed: int = 0
) -> float:
    """Population error of ``W = sum_x q(x) u_{f(x)} e_x^T``.

    Args:
        p: token probabilities ``(N,)``.
        n_labels: number of labels ``M`` (``f`` is drawn uniformly at random).
        d: embedding dimension.
        n_samples: data size ``n``; ``None`` means infinite data (``q`` uses the true ``p``).
        estimator: name in :data:`ESTIMATORS`.
        seed: seed for ``f``, the embeddings and the samples.
    """
    g = torch.Generator().manual_seed(seed)
    N = p.shape[0]
    f = torch.randint(0, n_labels, (N,), generator=g)
    E = torch.randn(N, d, generator=g, dtype=torch.float64) / d**0.5
    U = torch.randn(n_labels, d, generator=g, dtype=torch.float64) / d**0.5
    if n_samples is None:
        counts, n = p, 1
    else:
        counts = torch.bincount(torch.multinomial(p, n_samples, replacement=True, generator=g), minlength=N)
        n = n_samples
    q = ESTIMATORS.get(estimator)(counts, n)
    W = (U[f] * q.unsqueeze(1)).T @ E  # (d, d) = sum_x q(x) u_{f(x)} e_x^T
    scores = (E @ W.T) @ U.T  # (N, M): u_y^T W e_x
    wrong = scores.argmax(1) != f
    return float((p * wrong.to(p)).sum())
