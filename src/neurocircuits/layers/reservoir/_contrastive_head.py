"""Contrastive projection heads on a fixed liquid (catalog row 142, its trainable part).

The liquid state machine stays untrained; only a small projection head ``g`` on its features is
learned, without labels, by the NT-Xent loss of SimCLR (Chen et al. 2020, "A Simple Framework for
Contrastive Learning of Visual Representations") on two augmented views of every input stream
(spikes deleted with probability ``p_drop``, every spike moved by up to ``max_shift`` steps)::

    z = g(log(1 + features(x))) / |g(...)|
    L = -1/(2N) sum_i log( exp(z_i . z_j(i) / T) / sum_{k != i} exp(z_i . z_k / T) )

where ``j(i)`` is the other view of stream ``i`` among the 2N views of a batch. The head learns to
ignore what the augmentations change (exact spike times and counts) and keep what the views share
(the stream's temporal template). The resistive-memory hardware of the row is out of scope.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._lsm import LiquidStateMachine

__all__ = ["ContrastiveHeadConfig", "ProjectionHead", "augment_spikes", "liquid_inputs", "nt_xent", "train_contrastive_head"]


@dataclass(frozen=True)
class ContrastiveHeadConfig:
    """Head size and training schedule (``max_shift_steps`` in simulation steps)."""

    hidden: int = 128
    out_features: int = 32
    temperature: float = 0.2
    p_drop: float = 0.2
    max_shift_steps: int = 3
    views_per_stream: int = 6
    epochs: int = 60
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.out_features < 1 or self.views_per_stream < 2 or self.batch_size < 2:
            raise ValueError("need hidden >= 1, out_features >= 1, views_per_stream >= 2 and batch_size >= 2.")
        if not (0.0 <= self.p_drop < 1.0) or self.max_shift_steps < 0 or self.temperature <= 0:
            raise ValueError("need 0 <= p_drop < 1, max_shift_steps >= 0 and temperature > 0.")


class ProjectionHead(nn.Module):
    """Two-layer MLP to a unit-norm embedding: ``normalize(W2 relu(W1 x + b1) + b2)``."""

    def __init__(self, in_features: int, hidden: int = 128, out_features: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, out_features))

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.net(x), dim=-1)


def augment_spikes(spikes: Tensor, p_drop: float, max_shift: int, generator: torch.Generator) -> Tensor:
    """A view of ``spikes`` (batch, time, channels): each spike deleted with probability ``p_drop``,
    then moved by a uniform integer shift in ``[-max_shift, max_shift]`` (clipped to the window)."""
    keep = torch.rand(spikes.shape, generator=generator) >= p_drop
    b, t, c = torch.nonzero((spikes > 0) & keep, as_tuple=True)
    shift = torch.randint(-max_shift, max_shift + 1, t.shape, generator=generator)
    out = torch.zeros_like(spikes)
    out[b, (t + shift).clamp(0, spikes.shape[1] - 1), c] = 1.0
    return out


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """SimCLR's normalised temperature-scaled cross entropy of two views (N, d) of N items."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"nt_xent needs two (N, d) views of the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}.")
    n = z1.shape[0]
    z = torch.cat([z1, z2])
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def liquid_inputs(lsm: LiquidStateMachine, spikes: Tensor) -> Tensor:
    """The head's input: ``log(1 + binned liquid spike counts)``."""
    return torch.log1p(lsm.features(spikes))


def train_contrastive_head(lsm: LiquidStateMachine, spikes: Tensor, cfg: ContrastiveHeadConfig = ContrastiveHeadConfig()
                           ) -> tuple[ProjectionHead, list[float]]:
    """Train a :class:`ProjectionHead` on the fixed liquid's features of ``spikes`` (no labels).

    ``views_per_stream`` augmented views of every stream are run through the liquid once; every
    step draws two different views of each stream of a batch. Returns the head and the loss per
    epoch.
    """
    g = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        views = torch.stack([liquid_inputs(lsm, augment_spikes(spikes, cfg.p_drop, cfg.max_shift_steps, g))
                             for _ in range(cfg.views_per_stream)])  # (V, N, F)
    n = spikes.shape[0]
    head = ProjectionHead(views.shape[-1], cfg.hidden, cfg.out_features)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr)
    losses = []
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=g)
        total = 0.0
        for start in range(0, n - 1, cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            if idx.numel() < 2:
                continue
            a = torch.randint(0, cfg.views_per_stream, (idx.numel(),), generator=g)
            b = (a + torch.randint(1, cfg.views_per_stream, (idx.numel(),), generator=g)) % cfg.views_per_stream
            loss = nt_xent(head(views[a, idx]), head(views[b, idx]), cfg.temperature)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
        losses.append(total / n)
        if not torch.isfinite(torch.tensor(losses[-1])):
            raise FloatingPointError("contrastive head training diverged (loss is not finite); lower lr.")
    return head, losses
