"""Chaos and complexity statistics of scalar time series.

* 0-1 test for chaos (Gottwald & Melbourne 2004, 2009 "On the implementation of the 0-1 test for
  chaos", SIAM J. Appl. Dyn. Syst. 8:129): translation variables
  ``p_c(n) = sum_{j<=n} phi(j) cos(j c)``, ``q_c(n) = sum phi(j) sin(j c)``, modified mean-square
  displacement ``D_c(n)``; ``K_c = corr(n, D_c(n))`` and ``K = median_c K_c``. ``K ~ 0`` for regular
  dynamics, ``K ~ 1`` for chaos.
* Sample entropy (Richman & Moorman 2000): ``SampEn(m, r) = -ln(A / B)`` where ``B`` counts pairs of
  length-``m`` templates within Chebyshev distance ``r`` and ``A`` the same for length ``m + 1``
  (self-matches excluded). Low for periodic series, high for random ones.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["zero_one_test", "sample_entropy"]


def _as_series(x: ArrayLike, name: str, min_len: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"{name} needs a 1-D time series, got shape {a.shape}; pass one channel.")
    if a.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} samples, got {a.size}.")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: the series contains NaN/inf; drop or interpolate them first.")
    return a


def zero_one_test(x: ArrayLike, n_c: int = 100, seed: int = 0) -> float:
    """Gottwald-Melbourne 0-1 test for chaos (correlation method, modified MSD).

    Args:
        x: 1-D time series (a few thousand samples; oversampled flows should be subsampled).
        n_c: number of random frequencies ``c`` in ``(pi/5, 4 pi/5)``.
        seed: RNG seed for the frequencies.

    Returns:
        ``K`` in about ``[0, 1]``: near 0 for periodic/quasi-periodic, near 1 for chaotic series.
    """
    phi = _as_series(x, "zero_one_test", 100)
    phi = phi - phi.mean()
    N = phi.size
    n_cut = N // 10
    rng = np.random.default_rng(seed)
    cs = rng.uniform(np.pi / 5, 4 * np.pi / 5, n_c)
    j = np.arange(1, N + 1)
    ns = np.arange(1, n_cut + 1)
    Ks = []
    mean_sq = phi.mean() ** 2  # zero after centring, kept for the formula
    for c in cs:
        p = np.cumsum(phi * np.cos(j * c))
        q = np.cumsum(phi * np.sin(j * c))
        M = np.array([np.mean((p[n:] - p[:-n]) ** 2 + (q[n:] - q[:-n]) ** 2) for n in ns])
        D = M - mean_sq * (1 - np.cos(ns * c)) / (1 - np.cos(c))
        if np.std(D) == 0:
            Ks.append(0.0)
            continue
        Ks.append(float(np.corrcoef(ns, D)[0, 1]))
    return float(np.median(Ks))


def sample_entropy(x: ArrayLike, m: int = 2, r: float | None = None) -> float:
    """Sample entropy ``SampEn(m, r)`` of a 1-D series.

    Args:
        x: the series.
        m: template length.
        r: tolerance (absolute); default ``0.2 * std(x)``.

    Returns:
        ``-ln(A / B)``; ``inf`` when no ``m + 1`` matches exist (maximally irregular at this length).
    """
    a = _as_series(x, "sample_entropy", m + 2)
    if m < 1:
        raise ValueError(f"template length m must be >= 1, got {m}.")
    tol = 0.2 * a.std() if r is None else float(r)
    n = a.size - m  # same number of templates for m and m + 1

    def count(length: int) -> int:
        T = np.lib.stride_tricks.sliding_window_view(a, length)[:n]
        total = 0
        for i in range(n - 1):
            d = np.max(np.abs(T[i + 1 :] - T[i]), axis=1)
            total += int(np.count_nonzero(d <= tol))
        return total

    B, A = count(m), count(m + 1)
    if B == 0:
        raise ValueError("sample_entropy: no template matches at length m; increase r or the series length.")
    if A == 0:
        return float("inf")
    return float(-np.log(A / B))
