"""Fly-CL: the fly olfactory motif for streaming, class-incremental learning on frozen features.

After Fly-CL (2025, fly-inspired decorrelation and fast training for continual representation learning)
and the fly olfactory circuit (Dasgupta, Stevens & Navlakha 2017). Our own implementation.

    normalise   z = (x - mean_i x_i) / std_i x_i       (per-sample divisive normalisation across inputs,
                                                    as projection neurons; or running stats: normalise="running")
    expand      a = P z,  P in {0,1}^{m x d} sparse:  each of the m Kenyon cells samples ``fan_in`` inputs
    k-WTA       h = topk_k(a)                          (APL feedback inhibition: k of m cells stay active)
    classify    streaming similarity matching: prototype_c <- prototype_c + h for every sample of
                class c; y_hat = argmax_c cos(h, prototype_c); or a streaming ridge read-out
                W = (H^T H + lambda I)^-1 H^T Y from accumulated statistics.

Both read-outs are exact under any order of the stream (class-incremental learning does not
forget), and the sparse, near-orthogonal codes ``h`` are far less collinear than the features.
A frozen random CNN (:func:`random_conv_features`) stands in for a pre-trained backbone.
"""

from __future__ import annotations

import torch
from torch import nn

from ._registry import register_model

_PAPER = "Fly-CL (2025), fly-inspired decorrelation for continual learning; Dasgupta, Stevens & Navlakha 2017, Science"


@torch.no_grad()
def random_conv_features(images: torch.Tensor, channels: int = 32, seed: int = 0) -> torch.Tensor:
    """Frozen random CNN features: conv3x3 -> ReLU -> conv3x3 -> ReLU -> 2x2 average pool -> flatten.

    Args:
        images: ``[batch, H, W]`` or ``[batch, 1, H, W]``.
    """
    if images.dim() == 3:
        images = images[:, None]
    gen = torch.Generator().manual_seed(seed)
    c1 = torch.randn(channels, images.shape[1], 3, 3, generator=gen) / 3.0
    c2 = torch.randn(channels, channels, 3, 3, generator=gen) / (3.0 * channels ** 0.5)
    h = torch.relu(nn.functional.conv2d(images.float(), c1, padding=1))
    h = torch.relu(nn.functional.conv2d(h, c2, padding=1))
    return nn.functional.avg_pool2d(h, 2).flatten(1)


def multicollinearity(features: torch.Tensor) -> float:
    """Mean absolute off-diagonal Pearson correlation between feature columns (constant columns skipped)."""
    x = features.double()
    x = x[:, x.std(0) > 1e-12]
    c = torch.corrcoef(x.T)
    n = c.shape[0]
    return float((c.abs().sum() - n) / (n * (n - 1)))


class FlyCL(nn.Module):
    """Sparse expansion + k-WTA + streaming classifier (see the module docstring).

    Use ``partial_fit(x, y)`` on a stream of batches (any class order), then ``predict(x)``;
    ``forward(x, state=None) -> (scores, None)``. The read-out ``readout_weight`` is refitted in
    closed form on the first forward after new data (and can then be fine-tuned by gradient).
    """

    def __init__(self, in_features: int, n_classes: int, expansion: int = 2000, fan_in: int = 8, k: int = 200,
                 readout: str = "ridge", ridge: float = 10.0, normalise: str = "sample", seed: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not 1 <= k <= expansion:
            raise ValueError(f"k must be in [1, expansion={expansion}], got {k}.")
        if not 1 <= fan_in <= in_features:
            raise ValueError(f"fan_in must be in [1, in_features={in_features}], got {fan_in}.")
        if readout not in ("similarity", "ridge"):
            raise ValueError(f"readout must be 'similarity' or 'ridge', not {readout!r}.")
        if normalise not in ("sample", "running"):
            raise ValueError(f"normalise must be 'sample' or 'running', not {normalise!r}.")
        self.normalise = normalise
        factory = {"device": device, "dtype": dtype or torch.float32}
        gen = torch.Generator().manual_seed(seed)
        cols = torch.stack([torch.randperm(in_features, generator=gen)[:fan_in] for _ in range(expansion)])
        proj = torch.zeros(expansion, in_features)
        proj.scatter_(1, cols, 1.0)
        self.k, self.readout, self.ridge = k, readout, ridge
        self.register_buffer("projection", proj.to_sparse().to(**factory))
        self.register_buffer("count", torch.zeros((), **factory))
        self.register_buffer("mean", torch.zeros(in_features, **factory))
        self.register_buffer("sq_mean", torch.ones(in_features, **factory))
        self.register_buffer("prototypes", torch.zeros(n_classes, expansion, **factory))
        self.register_buffer("gram", torch.zeros(expansion, expansion, **factory))
        self.register_buffer("cross", torch.zeros(expansion, n_classes, **factory))
        # the read-out is a parameter: fitted in closed form from the stream statistics (and open to
        # gradient fine-tuning afterwards); refitted lazily after new data arrived
        self.readout_weight = nn.Parameter(torch.zeros(expansion, n_classes, **factory))
        self._stale = False

    @torch.no_grad()
    def _update_stats(self, x: torch.Tensor) -> None:
        n = self.count + x.shape[0]
        self.mean.mul_(self.count / n).add_(x.sum(0) / n)
        self.sq_mean.mul_(self.count / n).add_((x ** 2).sum(0) / n)
        self.count.copy_(n)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse k-WTA code ``[batch, expansion]`` of features ``x``."""
        if self.normalise == "running":
            std = (self.sq_mean - self.mean ** 2).clamp_min(1e-8).sqrt()
            z = (x - self.mean) / std
        else:  # per-sample divisive normalisation across inputs (no state: stream-order invariant)
            z = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-8)
        a = torch.sparse.mm(self.projection, z.T).T
        top = torch.topk(a, self.k, dim=1)
        return torch.zeros_like(a).scatter_(1, top.indices, top.values.clamp_min(0.0))

    @torch.no_grad()
    def partial_fit(self, x: torch.Tensor, y: torch.Tensor, update_stats: bool = True) -> FlyCL:
        """Absorb one batch of the stream."""
        if update_stats:
            self._update_stats(x)
        h = self.encode(x)
        onehot = nn.functional.one_hot(y, self.prototypes.shape[0]).to(h)
        self.prototypes.add_(onehot.T @ h)
        if self.readout == "ridge":
            self.gram.add_(h.T @ h)
            self.cross.add_(h.T @ onehot)
        self._stale = True
        return self

    @torch.no_grad()
    def fit_readout(self) -> None:
        """Closed-form read-out from the accumulated statistics (ridge solve or normalised prototypes)."""
        if self.readout == "ridge":
            eye = torch.eye(self.gram.shape[0], dtype=self.gram.dtype, device=self.gram.device)
            self.readout_weight.copy_(torch.linalg.solve(self.gram + self.ridge * eye, self.cross))
        else:
            self.readout_weight.copy_(nn.functional.normalize(self.prototypes, dim=1).T)
        self._stale = False

    def example_input(self, batch: int) -> torch.Tensor:
        w = self.readout_weight
        return torch.rand(batch, self.mean.shape[0], dtype=w.dtype, device=w.device)

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        if x.dim() != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"Fly-CL expects features [batch, {self.mean.shape[0]}], got {tuple(x.shape)}.")
        if self._stale:
            self.fit_readout()
        h = self.encode(x)
        if self.readout == "similarity":
            h = nn.functional.normalize(h, dim=1)
        return h @ self.readout_weight, None

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0].argmax(1)


@register_model("fly_cl", family="connectome", paper=_PAPER)
def fly_cl(in_features: int = 512, n_classes: int = 10, expansion: int = 2000, fan_in: int = 8, k: int = 200,
           readout: str = "ridge", ridge: float = 10.0, normalise: str = "sample", seed: int = 0,
           device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FlyCL:
    """Fly olfactory expansion + k-WTA + streaming classifier over frozen features."""
    return FlyCL(in_features, n_classes, expansion, fan_in, k, readout=readout, ridge=ridge, normalise=normalise,
                 seed=seed, device=device, dtype=dtype)
