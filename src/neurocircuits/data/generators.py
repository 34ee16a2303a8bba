"""Synthetic data generators with known ground truth (and the digits split the learning rules use).

* :func:`mackey_glass`: the Mackey-Glass delay differential equation (Mackey & Glass 1977)
  ``dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)``, integrated with RK4 on a fine grid
  (delayed values interpolated linearly) and sampled every ``sample_every`` time units.
* :func:`digits_split`: scikit-learn's 8x8 digits scaled to [0, 1] with a seeded train/test split.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["mackey_glass", "digits_split"]


def digits_split(n_train: int = 1400, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x_train, y_train, x_test, y_test)`` from scikit-learn's digits (shipped with sklearn).

    Pixels are scaled to [0, 1]; labels are int64.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    if not 0 < n_train < len(d.target):
        raise ValueError(f"n_train must be in (0, {len(d.target)}), got {n_train}.")
    X = torch.tensor(d.data, dtype=dtype) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    p = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    return X[p[:n_train]], y[p[:n_train]], X[p[n_train:]], y[p[n_train:]]


def mackey_glass(
    n_samples: int,
    *,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    x0: float = 1.2,
    dt: float = 0.1,
    sample_every: float = 1.0,
    washout: int = 500,
) -> np.ndarray:
    """Mackey-Glass time series (``tau = 17``: the standard mildly chaotic benchmark).

    Args:
        n_samples: number of samples returned.
        tau, beta, gamma, n: equation parameters.
        x0: constant history ``x(t) = x0`` for ``t <= 0``.
        dt: integration step (time units).
        sample_every: sampling interval (time units, a multiple of ``dt``).
        washout: samples discarded at the start.

    Returns:
        float64 array of shape ``(n_samples,)``.
    """
    if dt <= 0 or tau <= 0 or sample_every < dt:
        raise ValueError(f"need dt > 0, tau > 0 and sample_every >= dt, got {dt}, {tau}, {sample_every}.")
    stride = int(round(sample_every / dt))
    lag = int(round(tau / dt))
    total = (n_samples + washout) * stride + 1
    x = np.empty(total + lag)
    x[: lag + 1] = x0

    def f(xt: float, xlag: float) -> float:
        return beta * xlag / (1.0 + xlag**n) - gamma * xt

    for i in range(lag, total + lag - 1):
        xl0, xl1 = x[i - lag], x[i - lag + 1]
        xm = 0.5 * (xl0 + xl1)
        xi = x[i]
        k1 = f(xi, xl0)
        k2 = f(xi + 0.5 * dt * k1, xm)
        k3 = f(xi + 0.5 * dt * k2, xm)
        k4 = f(xi + dt * k3, xl1)
        x[i + 1] = xi + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if not np.isfinite(x[i + 1]):
            from ..functional.maps import DivergenceError

            raise DivergenceError(f"mackey_glass diverged at step {i - lag} with tau={tau}, beta={beta}, "
                                  f"gamma={gamma}, n={n}, dt={dt}; reduce dt.")
    series = x[lag:][::stride]
    return series[washout : washout + n_samples].copy()


def shapes_images(
    n_images: int, size: int = 24, n_objects: tuple[int, int] = (2, 4), seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Binary images of 2-4 non-touching shapes (squares, discs, triangles) with their object masks.

    Returns:
        ``(images, masks)``: images ``(n, size, size)`` in {0, 1}; masks ``(n, size, size)`` int64
        with 0 for background and ``1..k`` for the objects (ground truth for binding / segmentation).
    """
    lo, hi = n_objects
    if not 1 <= lo <= hi or size < 12:
        raise ValueError(f"need 1 <= n_objects[0] <= n_objects[1] and size >= 12, got {n_objects}, {size}.")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    images = np.zeros((n_images, size, size), dtype=np.float32)
    masks = np.zeros((n_images, size, size), dtype=np.int64)
    for i in range(n_images):
        k = int(rng.integers(lo, hi + 1))
        placed = 0
        for _ in range(200):
            if placed == k:
                break
            r = int(rng.integers(3, max(4, size // 5) + 1))
            cy, cx = rng.integers(r + 1, size - r - 1, size=2)
            kind = int(rng.integers(0, 3))
            if kind == 0:
                shape = (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r)
            elif kind == 1:
                shape = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            else:
                shape = (yy - cy <= r) & (yy - cy >= -r) & (np.abs(xx - cx) <= (yy - cy + r) / 2)
            grown = shape.copy()  # keep a one-pixel gap so shapes never touch
            grown[1:] |= shape[:-1]
            grown[:-1] |= shape[1:]
            grown[:, 1:] |= grown[:, :-1].copy()
            grown[:, :-1] |= grown[:, 1:].copy()
            if (masks[i][grown] > 0).any():
                continue
            placed += 1
            masks[i][shape] = placed
        images[i] = (masks[i] > 0).astype(np.float32)
    return torch.from_numpy(images), torch.from_numpy(masks)


_PEOPLE = ["mary", "john", "sandra", "daniel"]
_OBJECTS = ["football", "apple", "milk"]
_PLACES = ["kitchen", "garden", "office", "hallway"]


def babi_like_stories(
    n_stories: int, task: int = 2, n_sentences: int = 8, seed: int = 0
) -> tuple[list[list[list[str]]], list[list[str]], list[str], list[list[int]]]:
    """Synthetic bAbI-style stories (Weston et al. 2015 tasks 1 and 2, regenerated, not the dataset).

    Task 1 (single supporting fact): "<person> went to the <place>" sentences; question "where is
    <person>"; answer: that person's last place. Task 2 (two supporting facts): movements plus
    "<person> got the <object>" / "<person> dropped the <object>"; question "where is the <object>";
    answer: the place of the person holding it (or where it was dropped).

    Returns:
        ``(stories, questions, answers, supporting)``: stories as lists of tokenised sentences,
        tokenised questions, answer words and the indices of the supporting sentences.
    """
    if task not in (1, 2):
        raise ValueError(f"task must be 1 or 2, got {task}.")
    rng = np.random.default_rng(seed)
    stories, questions, answers, support = [], [], [], []
    while len(stories) < n_stories:
        place: dict[str, tuple[str, int]] = {}
        holder: dict[str, tuple[str, int]] = {}
        dropped: dict[str, tuple[str, int, int]] = {}
        sents: list[list[str]] = []
        for _ in range(n_sentences):
            p = _PEOPLE[rng.integers(len(_PEOPLE))]
            if task == 1 or rng.random() < 0.5 or p not in place:
                loc = _PLACES[rng.integers(len(_PLACES))]
                place[p] = (loc, len(sents))
                sents.append([p, "went", "to", "the", loc])
            else:
                held = [o for o, (h, _) in holder.items() if h == p]
                if held and rng.random() < 0.3:
                    o = held[0]
                    del holder[o]
                    dropped[o] = (place[p][0], len(sents), place[p][1])
                    sents.append([p, "dropped", "the", o])
                else:
                    free = [o for o in _OBJECTS if o not in holder]
                    if not free:
                        continue
                    o = free[rng.integers(len(free))]
                    holder[o] = (p, len(sents))
                    dropped.pop(o, None)
                    sents.append([p, "got", "the", o])
        if task == 1:
            if not place:
                continue
            who = list(place)[rng.integers(len(place))]
            stories.append(sents)
            questions.append(["where", "is", who])
            answers.append(place[who][0])
            support.append([place[who][1]])
        else:
            known = [o for o in holder if holder[o][0] in place] + list(dropped)
            if not known:
                continue
            o = known[rng.integers(len(known))]
            if o in holder:
                who, i_get = holder[o]
                answers.append(place[who][0])
                support.append([i_get, place[who][1]])
            else:
                loc, i_drop, i_place = dropped[o]
                answers.append(loc)
                support.append([i_drop, i_place])
            stories.append(sents)
            questions.append(["where", "is", "the", o])
    return stories, questions, answers, support
