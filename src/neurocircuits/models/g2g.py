"""G2G: sparse modular ensemble-to-ensemble connectivity with dynamic sparse training.

After the G2GNet idea (ensemble-to-ensemble modular wiring as in sensory cortex; "G2GNet", 2024):
the units of each layer are split into ``G`` ensembles, and output ensemble ``i`` is wired densely
to its own input ensemble and to ``k - 1`` others (chosen at random), so the mask is a block
matrix with density ``k / G``. Our own implementation.

Dynamic sparse training (prune and regrow at a constant density): every ``rewire_every`` steps,
in each masked layer,

    prune   the ``f * n_active`` active weights with the smallest ``|w|``
    regrow  as many inactive positions, chosen at random ("random") or by the Hebbian score
            ``H_ij = |corr_batch(y_i, x_j)|`` (correlation of post- and pre-synaptic activity, "hebbian"),

with regrown weights starting at 0 and ``f`` decaying with a cosine schedule.

Layer: ``y = x (W * M)^T + b`` with the fixed-density binary mask ``M``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ._registry import register_model

_PAPER = "G2GNet: sparse modular ensemble-to-ensemble networks (2024), with dynamic sparse training (RigL/SET style)"


def g2g_mask(in_features: int, out_features: int, n_groups: int = 8, groups_per_output: int = 2,
             seed: int = 0) -> torch.Tensor:
    """Binary ``[out, in]`` ensemble-to-ensemble mask with density ``groups_per_output / n_groups``."""
    if not 1 <= groups_per_output <= n_groups:
        raise ValueError(f"groups_per_output must be in [1, n_groups={n_groups}], got {groups_per_output}.")
    if n_groups > min(in_features, out_features):
        raise ValueError(f"n_groups={n_groups} exceeds the layer size ({in_features} -> {out_features}).")
    gen = torch.Generator().manual_seed(seed)
    in_group = torch.arange(in_features) * n_groups // in_features
    out_group = torch.arange(out_features) * n_groups // out_features
    wiring = torch.zeros(n_groups, n_groups, dtype=torch.bool)
    for g in range(n_groups):
        others = [h for h in torch.randperm(n_groups, generator=gen).tolist() if h != g][: groups_per_output - 1]
        wiring[g, [g, *others]] = True
    return wiring[out_group][:, in_group].float()


class MaskedLinear(nn.Module):
    """Linear layer whose weight is multiplied by a binary mask buffer; exposes the last input and
    output for Hebbian rewiring."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        lin = nn.Linear(in_features, out_features, device=device, dtype=dtype)
        self.weight = lin.weight
        self.bias = lin.bias
        m = torch.ones(out_features, in_features) if mask is None else mask
        if tuple(m.shape) != (out_features, in_features):
            raise ValueError(f"mask must be [{out_features}, {in_features}], got {tuple(m.shape)}.")
        self.register_buffer("mask", m.to(device=self.weight.device, dtype=self.weight.dtype))
        with torch.no_grad():
            self.weight.mul_(self.mask)

    @property
    def density(self) -> float:
        return float(self.mask.mean())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


@dataclass(frozen=True)
class G2GConfig:
    in_features: int = 64
    hidden: tuple[int, ...] = (256, 256)
    out_features: int = 10
    n_groups: int = 8
    groups_per_output: int = 2
    dense: bool = False

    def __post_init__(self) -> None:
        if not self.hidden:
            raise ValueError("hidden must name at least one hidden layer width.")


class G2GMLP(nn.Module):
    """MLP whose input and hidden layers carry G2G masks (the small readout stays dense).

    ``forward(x, state=None) -> (logits, None)``.
    """

    def __init__(self, cfg: G2GConfig, seed: int = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        widths = [cfg.in_features, *cfg.hidden]
        self.masked = nn.ModuleList()
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            mask = None if cfg.dense else g2g_mask(a, b, cfg.n_groups, cfg.groups_per_output, seed=seed + i)
            self.masked.append(MaskedLinear(a, b, mask, device=device, dtype=dtype))
        self.readout = nn.Linear(widths[-1], cfg.out_features, device=device, dtype=dtype)
        self._trace: list[tuple[torch.Tensor, torch.Tensor]] = []

    def initial_state(self, batch: int) -> None:
        return None

    def example_input(self, batch: int) -> torch.Tensor:
        w = self.readout.weight
        return torch.rand(batch, self.cfg.in_features, dtype=w.dtype, device=w.device)

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        if x.shape[-1] != self.cfg.in_features:
            raise ValueError(f"G2G MLP expects [batch, {self.cfg.in_features}] inputs, got {tuple(x.shape)}.")
        trace = []
        for layer in self.masked:
            y = torch.relu(layer(x))
            trace.append((x.detach(), y.detach()))
            x = y
        self._trace = trace
        return self.readout(x), None

    def sparsity(self) -> float:
        total = sum(layer.mask.numel() for layer in self.masked)
        return 1.0 - sum(float(layer.mask.sum()) for layer in self.masked) / total

    @torch.no_grad()
    def rewire(self, fraction: float, mode: str = "hebbian", generator: torch.Generator | None = None) -> int:
        """Prune ``fraction`` of each masked layer's active weights (smallest |w|) and regrow as many
        (Hebbian score from the last forward pass, or random). Returns the number of weights moved."""
        if mode not in ("hebbian", "random"):
            raise ValueError(f"mode must be 'hebbian' or 'random', not {mode!r}.")
        if mode == "hebbian" and len(self._trace) != len(self.masked):
            raise RuntimeError("Hebbian regrowth needs a forward pass first (it uses that batch's activity).")
        moved = 0
        for i, layer in enumerate(self.masked):
            active = layer.mask.bool()
            n = int(fraction * int(active.sum()))
            if n == 0 or bool(active.all()):
                continue
            w = layer.weight
            score = torch.where(active, w.abs(), torch.full_like(w, math.inf))
            drop = torch.topk(score.flatten(), n, largest=False).indices
            if mode == "hebbian":
                x, y = self._trace[i]
                xc, yc = x - x.mean(0), y - y.mean(0)
                cov = yc.T @ xc / x.shape[0]
                grow_score = cov.abs() / (yc.std(0, unbiased=False)[:, None] * xc.std(0, unbiased=False)[None, :] + 1e-6)
            else:
                grow_score = torch.rand(w.shape, generator=generator, dtype=w.dtype)
            grow_score = torch.where(active, torch.full_like(w, -math.inf), grow_score)
            grow = torch.topk(grow_score.flatten(), n).indices
            flat_mask = layer.mask.view(-1)
            flat_mask[drop] = 0.0
            flat_mask[grow] = 1.0
            w.view(-1)[drop] = 0.0
            w.view(-1)[grow] = 0.0
            moved += n
        return moved


def train_g2g(model: G2GMLP, x: torch.Tensor, y: torch.Tensor, epochs: int = 30, batch_size: int = 64,
              lr: float = 3e-3, rewire_every: int = 50, rewire_fraction: float = 0.3, mode: str | None = "hebbian",
              seed: int = 0) -> list[float]:
    """Adam training with periodic prune/regrow (``mode=None``: static mask). Returns epoch losses."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_total = epochs * math.ceil(len(x) / batch_size)
    step, losses = 0, []
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch_size):
            idx = perm[i:i + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx])[0], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            step += 1
            if mode is not None and step % rewire_every == 0 and step < 0.8 * steps_total:
                frac = rewire_fraction * 0.5 * (1 + math.cos(math.pi * step / (0.8 * steps_total)))
                model.rewire(frac, mode, generator=gen)
        losses.append(total / len(x))
    return losses


@register_model("g2g_mlp", family="connectome", paper=_PAPER)
def g2g_mlp(in_features: int = 64, hidden: Sequence[int] = (256, 256), out_features: int = 10, n_groups: int = 8,
            groups_per_output: int = 2, dense: bool = False, seed: int = 0, device: torch.device | str | None = None,
            dtype: torch.dtype | None = None) -> G2GMLP:
    """MLP with G2G ensemble-to-ensemble masks (density ``groups_per_output / n_groups``)."""
    cfg = G2GConfig(in_features, tuple(hidden), out_features, n_groups, groups_per_output, dense)
    return G2GMLP(cfg, seed=seed, device=device, dtype=dtype)
