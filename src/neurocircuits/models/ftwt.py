"""Fire Together Wire Together (FTWT): self-supervised dynamic filter pruning in a small CNN.

Paper: Elkerdawy et al. 2022, "Fire Together Wire Together: A Dynamic Pruning Approach with
Self-Supervised Mask Prediction" (CVPR). Our own implementation.

For every gated conv layer ``l`` a small predictor reads the previous layer's activation and
predicts which of its filters will fire:

    s_{l-1} = mean_{space} a_{l-1}                       (channel summary of the input)
    p_l     = sigmoid(V_l s_{l-1} + c_l)                 (probability that each filter is kept)
    target  t_l = 1 on the smallest set of filters carrying a fraction ``energy`` of
            sum_f mean_{space} |a_l,f|  (dynamic k per sample: "fire together"), else 0
    loss    BCE(p_l, t_l)                                (self-supervised; the CNN is frozen)
    gate    a_l <- a_l * 1[p_l > 0.5]                    at inference

A skipped filter costs nothing, and its zero output removes its input channel from the next
layer, so the multiply-accumulates are ``H W k^2 C_in,active C_out,active`` per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..layers.hooks import HookPoint
from ._registry import register_model

_PAPER = "Elkerdawy et al. 2022, Fire Together Wire Together: dynamic pruning with self-supervised mask prediction (CVPR)"


@dataclass(frozen=True)
class FTWTConfig:
    in_channels: int = 1
    image_size: int = 8
    channels: tuple[int, int, int] = (16, 32, 32)
    n_classes: int = 10
    energy: float = 0.8

    def __post_init__(self) -> None:
        if not 0 < self.energy <= 1:
            raise ValueError(f"energy must be in (0, 1], got {self.energy}.")
        if len(self.channels) != 3:
            raise ValueError(f"channels must name 3 conv widths, got {self.channels}.")


def topk_energy_mask(activation: torch.Tensor, energy: float) -> torch.Tensor:
    """Per sample, the smallest set of channels holding ``energy`` of the mean |activation| mass.

    Args:
        activation: ``[batch, channels, H, W]``.
    Returns: ``[batch, channels]`` float mask.
    """
    mass = activation.abs().mean(dim=(2, 3))
    order = torch.sort(mass, dim=1, descending=True)
    cum = torch.cumsum(order.values, dim=1) / mass.sum(1, keepdim=True).clamp_min(1e-12)
    keep_sorted = (cum - order.values / mass.sum(1, keepdim=True).clamp_min(1e-12)) < energy
    return torch.zeros_like(mass).scatter(1, order.indices, keep_sorted.to(mass.dtype))


class FTWTCNN(nn.Module):
    """Three 3x3 conv layers (the last two gated; 2x2 average pooling before the third) + a linear
    read-out of the flattened last feature map.

    ``forward(x, state=None) -> (logits, None)``; ``gated=True`` in :meth:`run` applies the
    predicted masks and reports the multiply-accumulates actually needed.
    """

    def __init__(self, cfg: FTWTConfig, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        f = {"device": device, "dtype": dtype}
        c0, (c1, c2, c3) = cfg.in_channels, cfg.channels
        self.convs = nn.ModuleList([nn.Conv2d(c0, c1, 3, padding=1, **f), nn.Conv2d(c1, c2, 3, padding=1, **f),
                                    nn.Conv2d(c2, c3, 3, padding=1, **f)])
        self.predictors = nn.ModuleList([nn.Linear(c1, c2, **f), nn.Linear(c2, c3, **f)])
        pooled = cfg.image_size // 2
        self.readout = nn.Linear(c3 * pooled * pooled, cfg.n_classes, **f)
        self.hook_conv = nn.ModuleList([HookPoint() for _ in range(3)])
        self.gated = False

    def example_input(self, batch: int) -> torch.Tensor:
        w = self.readout.weight
        s = self.cfg.image_size
        return torch.rand(batch, self.cfg.in_channels, s, s, dtype=w.dtype, device=w.device)

    def initial_state(self, batch: int) -> None:
        return None

    def run(self, x: torch.Tensor, gated: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits and diagnostics: ``acts`` (ungated pre-gate activations), ``probs``, ``masks``,
        ``macs`` (per-sample multiply-accumulates of the conv stack)."""
        c, s = self.cfg.in_channels, self.cfg.image_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(f"FTWT CNN expects images [batch, {c}, {s}, {s}], got {tuple(x.shape)}.")
        acts, probs, masks = [], [], []
        active_in = torch.full((x.shape[0],), float(x.shape[1]), device=x.device, dtype=x.dtype)
        macs = torch.zeros(x.shape[0], device=x.device, dtype=x.dtype)
        h = x
        for i, conv in enumerate(self.convs):
            if i == 2:
                h = nn.functional.avg_pool2d(h, 2)
            a = torch.relu(conv(h))
            acts.append(a)
            active_out = torch.full_like(active_in, float(a.shape[1]))
            if i > 0:
                p = torch.sigmoid(self.predictors[i - 1](h.mean(dim=(2, 3))))
                probs.append(p)
                if gated:
                    m = (p > 0.5).to(a.dtype)
                    masks.append(m)
                    a = a * m[:, :, None, None]
                    active_out = m.sum(1)
            macs = macs + a.shape[2] * a.shape[3] * 9 * active_in * active_out
            h = self.hook_conv[i](a)
            active_in = active_out
        logits = self.readout(h.flatten(1))
        return logits, {"acts": acts, "probs": probs, "masks": masks, "macs": macs}

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        return self.run(x, gated=self.gated)[0], None

    def predictor_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Self-supervised BCE of the mask predictors against the energy top-k of the ungated net."""
        _, info = self.run(x, gated=False)
        loss = x.new_zeros(())
        for p, a in zip(info["probs"], info["acts"][1:]):
            target = topk_energy_mask(a.detach(), self.cfg.energy)
            loss = loss + nn.functional.binary_cross_entropy(p, target)
        return loss


def train_ftwt(model: FTWTCNN, x: torch.Tensor, y: torch.Tensor, epochs: int = 15, predictor_epochs: int = 10,
               finetune_epochs: int = 5, lr: float = 3e-3, batch_size: int = 64, seed: int = 0) -> None:
    """Three phases: train the CNN on classification; train the mask predictors self-supervised
    (CNN frozen); fine-tune the CNN with the predicted gates applied (predictors frozen)."""
    gen = torch.Generator().manual_seed(seed)
    cnn_params = [*model.convs.parameters(), *model.readout.parameters()]
    for params, n_epochs, loss_fn in (
        (cnn_params, epochs, lambda xb, yb: nn.functional.cross_entropy(model.run(xb)[0], yb)),
        (list(model.predictors.parameters()), predictor_epochs, lambda xb, yb: model.predictor_loss(xb)),
        (cnn_params, finetune_epochs, lambda xb, yb: nn.functional.cross_entropy(model.run(xb, gated=True)[0], yb)),
    ):
        opt = torch.optim.Adam(params, lr=lr)
        for _ in range(n_epochs):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                loss = loss_fn(x[idx], y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()


@register_model("ftwt_cnn", family="connectome", paper=_PAPER)
def ftwt_cnn(in_channels: int = 1, image_size: int = 8, channels: tuple[int, int, int] = (16, 32, 32),
             n_classes: int = 10, energy: float = 0.8, device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> FTWTCNN:
    """Small CNN with FTWT mask predictors on its second and third conv layers."""
    return FTWTCNN(FTWTConfig(in_channels, image_size, tuple(channels), n_classes, energy), device=device, dtype=dtype)  # type: ignore[arg-type]
