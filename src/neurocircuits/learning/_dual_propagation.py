"""Dual propagation: dyadic neurons whose mean encodes activity and whose difference encodes error.

Written from the description in Hoier, Staudt & Zach 2023 ("Dual propagation: accelerating
contrastive Hebbian learning with dyadic neurons", ICML); no code was consulted.

Every neuron k holds two states ``s_k^+`` and ``s_k^-``. Their mean ``s_bar_k = (s_k^+ + s_k^-)/2``
is the activity that drives the next layer, their difference carries the error::

    z_k      = W_{k-1} s_bar_{k-1} + b_{k-1}
    e_k      = W_k^T (s_{k+1}^+ - s_{k+1}^-)              (top-down difference signal)
    s_k^+-   = phi(z_k +- e_k / 2)                        (hidden layers, closed form per layer)
    s_L^+-   = z_L -+ (beta / 2) dl/dz_L                  (output layer nudged by the loss)

Inference is one bottom-up pass (``s^+ = s^- = phi(z)``) followed by one top-down sweep of these
closed-form layer updates (a single phase: both states are updated in the same sweep). The weight
update is local and Hebbian in the dyadic states::

    dW_k = -(eta / beta) (s_{k+1}^+ - s_{k+1}^-) s_bar_k^T    (descends the loss)

To first order in ``beta``, ``(s^+ - s^-)/beta`` equals minus the back-propagated error, so DP
matches BP; the difference of a nonlinearity evaluated at ``z +- e/2`` replaces ``phi'(z) e``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._backprop import make_optimizer
from ._base import ACTIVATIONS, MLP, register_rule

__all__ = ["DualPropagation", "dual_propagation_gradients"]


def dual_propagation_gradients(model: MLP, x: Tensor, y: Tensor, beta: float = 0.1) -> list[Tensor]:
    """DP estimates of ``dL/dtheta`` (mean cross-entropy over the batch), ordered like ``model.parameters()``."""
    phi = ACTIVATIONS.get(model.activation)[0]
    L = len(model.layers)
    with torch.no_grad():
        s_bar = [x]
        zs = []
        for k, lin in enumerate(model.layers):
            z = lin(s_bar[-1])
            zs.append(z)
            s_bar.append(z if k == L - 1 else phi(z))
        # output layer nudged by the loss gradient (cross-entropy on softmax)
        dl = torch.softmax(zs[-1], -1) - nn.functional.one_hot(y, zs[-1].shape[-1]).to(x)
        s_plus = zs[-1] - beta / 2 * dl
        s_minus = zs[-1] + beta / 2 * dl
        diffs: list[Tensor] = [s_plus - s_minus]
        s_bar[-1] = (s_plus + s_minus) / 2
        for k in range(L - 1, 0, -1):  # hidden layers, top-down
            e = diffs[0] @ model.layers[k].weight
            sp, sm = phi(zs[k - 1] + e / 2), phi(zs[k - 1] - e / 2)
            diffs.insert(0, sp - sm)
            s_bar[k] = (sp + sm) / 2
        grads: list[Tensor] = []
        n = x.shape[0]
        for k, lin in enumerate(model.layers):
            d = diffs[k]
            grads.append(-(d.T @ s_bar[k]) / (beta * n))
            grads.append(-d.sum(0) / (beta * n))
    return grads


@register_rule("dual_propagation", paper="Hoier et al. 2023")
class DualPropagation:
    """Rule object: one DP inference sweep and one local weight update per batch."""

    name = "dual_propagation"

    def __init__(self, lr: float = 1e-3, beta: float = 0.1, optimizer: str = "adam") -> None:
        if lr <= 0 or beta <= 0:
            raise ValueError(f"need lr > 0 and beta > 0, got {lr} and {beta}.")
        self.lr, self.beta, self.optimizer_name = lr, beta, optimizer
        self.opt: torch.optim.Optimizer | None = None

    def setup(self, model: nn.Module) -> None:
        if not isinstance(model, MLP):
            raise TypeError(f"DualPropagation trains a neurocircuits.learning.MLP, got {type(model).__name__}.")
        self.opt = make_optimizer(self.optimizer_name, model.parameters(), self.lr)

    def step(self, model: MLP, x: Tensor, y: Tensor) -> dict[str, float]:
        if self.opt is None:
            raise RuntimeError("DualPropagation.setup(model) must run before step (Trainer does it).")
        grads = dual_propagation_gradients(model, x, y, self.beta)
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return {"iterations": 1}

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        return model(x)
