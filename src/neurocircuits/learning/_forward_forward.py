"""Forward-Forward training (Hinton 2022, "The Forward-Forward algorithm: some preliminary
investigations") and the sparsity analysis of Tosato et al. 2023 ("Emergent representations in
networks trained with the Forward-Forward algorithm").

Each layer is trained on its own, with no backward pass between layers. Inputs carry the label:
positive data ``[x, onehot(y)]``, negative data ``[x, onehot(y')]`` with a wrong label ``y'``. Layer
``l`` computes ``h_l = relu(W_l n(h_{l-1}) + b_l)`` with ``n(v) = v / |v|`` (only the direction is
passed on) and its goodness is ``G = sum_j h_j^2``. The layer loss is

    softplus(theta - G_pos) + softplus(G_neg - theta)

Prediction: the label whose input maximises the summed goodness of all layers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._backprop import make_optimizer
from ._base import MLP, register_rule

__all__ = ["ForwardForward", "ff_layer_activations", "active_fraction"]


def _embed(x: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    return torch.cat([x, nn.functional.one_hot(labels, n_classes).to(x)], -1)


def _norm(h: Tensor) -> Tensor:
    return h / (h.norm(dim=-1, keepdim=True) + 1e-6)


def ff_layer_activations(model: MLP, x: Tensor) -> list[Tensor]:
    """Hidden activities ``h_1 .. h_L`` of an FF network for (already label-embedded) inputs."""
    hs, h = [], x
    for lin in model.layers:
        h = torch.relu(lin(_norm(h)))
        hs.append(h)
    return hs


def active_fraction(h: Tensor, threshold: float = 0.0) -> float:
    """Mean fraction of units with activity above ``threshold`` (lower = sparser code)."""
    return float((h > threshold).float().mean())


@register_rule("forward_forward", paper="Hinton 2022")
class ForwardForward:
    """Rule object for an :class:`MLP` whose first size is ``n_features + n_classes`` (relu layers)."""

    name = "forward_forward"

    def __init__(self, n_classes: int = 10, lr: float = 3e-3, theta: float = 2.0, seed: int = 0) -> None:
        if n_classes < 2 or lr <= 0:
            raise ValueError(f"need n_classes >= 2 and lr > 0, got {n_classes} and {lr}.")
        self.n_classes, self.lr, self.theta = n_classes, lr, theta
        self.gen = torch.Generator().manual_seed(seed)
        self.opts: list[torch.optim.Optimizer] = []

    def setup(self, model: nn.Module) -> None:
        if not isinstance(model, MLP):
            raise TypeError(f"ForwardForward trains a neurocircuits.learning.MLP, got {type(model).__name__}.")
        self.opts = [make_optimizer("adam", lin.parameters(), self.lr) for lin in model.layers]

    def step(self, model: MLP, x: Tensor, y: Tensor) -> dict[str, float]:
        if not self.opts:
            raise RuntimeError("ForwardForward.setup(model) must run before step (Trainer does it).")
        wrong = (y + torch.randint(1, self.n_classes, y.shape, generator=self.gen)) % self.n_classes
        hp, hn = _embed(x, y, self.n_classes), _embed(x, wrong, self.n_classes)
        total = 0.0
        for lin, opt in zip(model.layers, self.opts):
            ap, an = torch.relu(lin(_norm(hp))), torch.relu(lin(_norm(hn)))
            gp, gn = (ap**2).sum(-1), (an**2).sum(-1)
            loss = (nn.functional.softplus(self.theta - gp) + nn.functional.softplus(gn - self.theta)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
            hp, hn = ap.detach(), an.detach()  # no gradient flows between layers
        return {"loss": total, "iterations": 1}

    def goodness_per_label(self, model: MLP, x: Tensor) -> Tensor:
        """``(batch, n_classes)`` summed goodness for every candidate label."""
        out = []
        for c in range(self.n_classes):
            labels = torch.full((x.shape[0],), c, dtype=torch.long, device=x.device)
            hs = ff_layer_activations(model, _embed(x, labels, self.n_classes))
            out.append(sum((h**2).sum(-1) for h in hs))
        return torch.stack(out, -1)

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.goodness_per_label(model, x)
