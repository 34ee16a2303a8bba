"""Spiking data sets that need no download: generated or shipped with scikit-learn.

* :func:`digits` -- scikit-learn's 8x8 digits (1797 images, 10 classes), scaled to ``[0, 1]``,
  split train/test with a fixed seed. ``layout="flat"`` (64 features) or ``"image"`` (1x8x8).
* :func:`rate_coded_digits` -- the same, Bernoulli rate-coded to ``(time, n, 64)`` spikes.
* :func:`sequential_digits` -- digits read one row per step: ``(8, n, 8)`` (sequence task).
* :func:`moving_bars` -- event streams of a bar sweeping across a 1-D retina left or right,
  with jitter and background noise; label = direction (ground truth by construction).
* :func:`spiking_motifs` -- Poisson background with a class-specific precise spatio-temporal motif
  (a polychronous pattern) embedded at a random time; label = motif id.

All return :class:`SpikeDataset` (tensors ``x``/``y`` for train and test, plus a description).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from ..registry import Registry

DATASETS: Registry = Registry("dataset")


@dataclass(frozen=True)
class SpikeDataset:
    """Train/test tensors. Static data is ``(n, ...)``; sequences are time-first ``(time, n, ...)``."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    n_classes: int
    time_first: bool
    description: str

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[2:] if self.time_first else self.x_train.shape[1:])


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return perm[n_test:], perm[:n_test]


@DATASETS.register("digits")
def digits(layout: str = "flat", test_fraction: float = 0.25, seed: int = 0, dtype: torch.dtype = torch.float32) -> SpikeDataset:
    """scikit-learn digits scaled to [0, 1]; ``layout`` ``"flat"`` (n, 64) or ``"image"`` (n, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    if layout not in ("flat", "image"):
        raise ValueError(f"layout must be 'flat' or 'image', got {layout!r}.")
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=dtype)
    if layout == "image":
        x = x.reshape(-1, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.long)
    tr, te = _split(len(y), test_fraction, seed)
    return SpikeDataset(x[tr], y[tr], x[te], y[te], 10, False, f"sklearn digits ({layout}), {len(tr)} train / {len(te)} test")


@DATASETS.register("rate_digits")
def rate_coded_digits(time_steps: int = 25, test_fraction: float = 0.25, seed: int = 0) -> SpikeDataset:
    """Digits as Bernoulli spike trains ``(time, n, 64)`` (fixed seed)."""
    from ..functional.encoding import rate_encode

    d = digits("flat", test_fraction, seed)
    g = torch.Generator().manual_seed(seed)
    return SpikeDataset(rate_encode(d.x_train, time_steps, g), d.y_train, rate_encode(d.x_test, time_steps, g),
                        d.y_test, 10, True, f"rate-coded digits, {time_steps} steps")


@DATASETS.register("sequential_digits")
def sequential_digits(test_fraction: float = 0.25, seed: int = 0) -> SpikeDataset:
    """Digits read row by row: ``(8 steps, n, 8 pixels)``."""
    d = digits("flat", test_fraction, seed)
    f = lambda x: x.reshape(-1, 8, 8).transpose(0, 1).contiguous()  # noqa: E731
    return SpikeDataset(f(d.x_train), d.y_train, f(d.x_test), d.y_test, 10, True, "sequential digits (row per step)")


@DATASETS.register("moving_bars")
def moving_bars(n: int = 600, pixels: int = 16, time_steps: int = 24, speed_px_per_step: float = 1.0,
                noise_rate: float = 0.02, drop_prob: float = 0.1, test_fraction: float = 0.25, seed: int = 0) -> SpikeDataset:
    """A bar sweeping across a 1-D retina; label 0 = rightward, 1 = leftward.

    Pixel ``p`` fires when the bar is on it: ``p = p0 + v t`` (rightward) or ``p0 - v t``; each event
    is dropped with ``drop_prob`` and background events appear with ``noise_rate``. The total number
    of events per pixel carries no information about the direction: only the timing does.
    """
    rng = np.random.default_rng(seed)
    x = np.zeros((time_steps, n, pixels), dtype=np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        t0 = rng.integers(0, max(1, time_steps - int(pixels / speed_px_per_step)))
        for t in range(time_steps):
            p = int(round((t - t0) * speed_px_per_step))
            if 0 <= p < pixels and t >= t0:
                q = p if y[i] == 0 else pixels - 1 - p
                if rng.random() >= drop_prob:
                    x[t, i, q] = 1.0
    x = np.maximum(x, (rng.random(x.shape) < noise_rate).astype(np.float32))
    tr, te = _split(n, test_fraction, seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    return SpikeDataset(xt[:, tr], yt[tr], xt[:, te], yt[te], 2, True, f"moving bars ({pixels} px, {time_steps} steps)")


@DATASETS.register("spiking_motifs")
def spiking_motifs(n: int = 600, channels: int = 20, time_steps: int = 40, n_motifs: int = 3, motif_len: int = 10,
                   motif_spikes: int = 12, noise_rate: float = 0.03, test_fraction: float = 0.25, seed: int = 0) -> SpikeDataset:
    """Poisson background plus one of ``n_motifs`` precise spatio-temporal motifs at a random onset."""
    rng = np.random.default_rng(seed)
    motifs = [(rng.integers(0, channels, motif_spikes), rng.integers(0, motif_len, motif_spikes)) for _ in range(n_motifs)]
    x = (rng.random((time_steps, n, channels)) < noise_rate).astype(np.float32)
    y = rng.integers(0, n_motifs, n)
    for i in range(n):
        ch, dt = motifs[y[i]]
        t0 = rng.integers(0, time_steps - motif_len)
        x[t0 + dt, i, ch] = 1.0
    tr, te = _split(n, test_fraction, seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    return SpikeDataset(xt[:, tr], yt[tr], xt[:, te], yt[te], n_motifs, True, f"{n_motifs} spiking motifs in noise")


def load_dataset(name: str, **kw) -> SpikeDataset:
    """Build the registered data set ``name`` (``digits``, ``rate_digits``, ``sequential_digits``,
    ``moving_bars``, ``spiking_motifs``)."""
    return DATASETS.get(name)(**kw)
