"""Object binding by oscillator synchrony with the generalised Kuramoto (AKOrN) update.

One unit-vector oscillator per pixel (``osc_dim`` >= 2) evolves with
:func:`neurocircuits.functional.oscillators.akorn_step` under a *hand-set* coupling:

    (J x)_i = sum_{j in N(i)} m_i m_j x_j  -  (lambda / |F|) sum_{j in F} x_j

where ``m`` is the image (foreground mask), ``N(i)`` the 3x3 neighbourhood and ``F`` the
foreground. Local attraction synchronises the pixels of each connected shape; the weak global
repulsion pushes different shapes to different phases. Clustering the final oscillator states
(k-means) gives object masks. This reproduces the *mechanism* of AKOrN's binding (the paper's
claim that synchrony of Kuramoto oscillators binds features into objects) without training: the
paper *learns* the coupling from data, which this function does not attempt.

``osc_dim`` >= 3 matters: phase oscillators (``osc_dim = 2``) on a 2-D lattice get stuck in
vortex defects inside a shape (winding states), while vectors on S^2 or S^3 can always unwind --
with ``osc_dim = 4`` every shape synchronises.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...functional.oscillators import akorn_step

__all__ = ["bind_objects", "cluster_oscillators"]


def bind_objects(image: Tensor, n_steps: int = 300, gamma: float = 0.1, repulsion: float = 2.0,
                 osc_dim: int = 4, seed: int = 0) -> Tensor:
    """Run binding dynamics on one binary image ``(H, W)``; returns oscillators ``(osc_dim, H, W)``."""
    if image.dim() != 2:
        raise ValueError(f"bind_objects takes one (H, W) image, got shape {tuple(image.shape)}.")
    m = (image > 0).to(torch.float64)
    if m.sum() == 0:
        raise ValueError("the image has no foreground pixel to bind.")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1, osc_dim, *image.shape, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=2, keepdim=True)
    kernel = torch.ones(osc_dim, 1, 3, 3, dtype=torch.float64)
    kernel[:, :, 1, 1] = 0.0
    n_fg = m.sum()
    for _ in range(n_steps):
        xm = x[0, 0] * m  # (osc_dim, H, W)
        local = torch.nn.functional.conv2d(xm.unsqueeze(0), kernel, padding=1, groups=osc_dim)[0] * m
        glob = xm.sum((1, 2), keepdim=True) / n_fg * m
        J = (local - repulsion * glob).unsqueeze(0).unsqueeze(0)
        x, _ = akorn_step(x, J, torch.zeros_like(x), None, gamma, dim=2)
    return x[0, 0]


def cluster_oscillators(osc: Tensor, image: Tensor, n_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means on the foreground oscillators; returns labels ``(H, W)`` (0 background, 1..k objects)."""
    from sklearn.cluster import KMeans

    fg = (image > 0).numpy()
    feats = osc.permute(1, 2, 0).numpy()[fg]
    labels = np.zeros(image.shape, dtype=np.int64)
    km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(feats)
    labels[fg] = km.labels_ + 1
    return labels
