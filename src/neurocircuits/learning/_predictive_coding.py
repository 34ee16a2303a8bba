"""Predictive coding (PC) and incremental predictive coding (iPC).

Whittington & Bogacz 2017 ("An approximation of the error backpropagation algorithm in a predictive
coding network with local Hebbian synaptic plasticity"); Salvatori et al. 2024 ("A stable, fast,
and fully automatic learning algorithm for predictive coding networks", ICLR) for iPC.

Value nodes ``h_0 = x`` (clamped), ``h_1 .. h_L`` with ``h_L`` clamped to the one-hot target during
learning; predictions ``mu_l = W_l phi(h_{l-1}) + b_l``; energy

    F = sum_l 1/2 |h_l - mu_l|^2 = sum_l 1/2 |eps_l|^2

Inference: ``h_l <- h_l - gamma dF/dh_l = h_l - gamma (eps_l - phi'(h_l) W_{l+1}^T eps_{l+1})``.
Learning: ``W_l <- W_l - alpha dF/dW_l = W_l + alpha eps_l phi(h_{l-1})^T`` (local and Hebbian).

* Standard PC runs ``T`` inference steps with fixed weights, then updates the weights once.
* iPC updates the weights at *every* inference step (inference and learning run simultaneously),
  so a batch costs the same ``T`` iterations but makes ``T`` weight updates.

Nodes are initialised with a feed-forward pass, so with the output free the network's prediction is
the forward pass of the same :class:`~neurocircuits.learning.MLP`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._backprop import make_optimizer
from ._base import MLP, register_rule

__all__ = ["PredictiveCoding", "IncrementalPredictiveCoding", "pc_energy", "pc_weight_gradients"]


def pc_energy(model: MLP, nodes: list[Tensor]) -> Tensor:
    """``F = sum_l 1/2 |h_l - W_l phi(h_{l-1}) - b_l|^2`` summed over the batch."""
    F = nodes[0].new_zeros(())
    for i, lin in enumerate(model.layers):
        eps = nodes[i + 1] - lin(model.phi(nodes[i], i))
        F = F + 0.5 * (eps * eps).sum()
    return F


def pc_weight_gradients(model: MLP, x: Tensor, target: Tensor, lr_x: float = 0.1, n_steps: int = 100) -> list[Tensor]:
    """Relax the hidden nodes with input and output clamped, then return ``dF/dtheta`` (mean over batch).

    With ``target`` close to the network's output these equal the back-propagation gradients of
    ``1/2 |out - target|^2`` (Whittington & Bogacz 2017), which the tests check.
    """
    with torch.no_grad():
        nodes = model.forward_all(x)
    hidden = [h.clone().requires_grad_(True) for h in nodes[1:-1]]
    for _ in range(n_steps):
        F = pc_energy(model, [x, *hidden, target])
        gx = torch.autograd.grad(F, hidden)
        with torch.no_grad():
            for h, g in zip(hidden, gx):
                h -= lr_x * g
    F = pc_energy(model, [x, *[h.detach() for h in hidden], target])
    return [g / x.shape[0] for g in torch.autograd.grad(F, list(model.parameters()))]


class _PCBase:
    name = "pc"
    incremental = False

    def __init__(self, lr_x: float = 0.1, lr_w: float = 1e-3, n_inference: int = 20,
                 optimizer: str = "adam") -> None:
        if lr_x <= 0 or lr_w <= 0 or n_inference < 1:
            raise ValueError(
                f"need lr_x > 0, lr_w > 0 and n_inference >= 1, got {lr_x}, {lr_w}, {n_inference}."
            )
        self.lr_x, self.lr_w, self.T, self.optimizer_name = lr_x, lr_w, n_inference, optimizer
        self.opt: torch.optim.Optimizer | None = None

    def setup(self, model: nn.Module) -> None:
        if not isinstance(model, MLP):
            raise TypeError(f"{type(self).__name__} trains a neurocircuits.learning.MLP, got {type(model).__name__}.")
        self.opt = make_optimizer(self.optimizer_name, model.parameters(), self.lr_w)

    def step(self, model: MLP, x: Tensor, y: Tensor) -> dict[str, float]:
        if self.opt is None:
            raise RuntimeError(f"{type(self).__name__}.setup(model) must run before step (Trainer does it).")
        with torch.no_grad():
            nodes = model.forward_all(x)
        nodes[-1] = nn.functional.one_hot(y, model.sizes[-1]).to(x)
        hidden = [h.clone().requires_grad_(True) for h in nodes[1:-1]]
        params = list(model.parameters())
        batch = x.shape[0]
        F = torch.zeros(())
        for _ in range(self.T):
            F = pc_energy(model, [nodes[0], *hidden, nodes[-1]])
            grads = torch.autograd.grad(F, hidden + params)
            gx, gw = grads[: len(hidden)], grads[len(hidden) :]
            with torch.no_grad():
                for h, g in zip(hidden, gx):
                    h -= self.lr_x * g
            if self.incremental:
                self._apply(params, gw, batch)
        if not self.incremental:
            F = pc_energy(model, [nodes[0], *hidden, nodes[-1]])
            gw = torch.autograd.grad(F, params)
            self._apply(params, gw, batch)
        return {"energy": float(F.detach()) / batch, "iterations": self.T}

    def _apply(self, params: list[Tensor], grads: tuple[Tensor, ...], batch: int) -> None:
        if self.opt is None:
            raise RuntimeError("setup(model) must run before the first update.")
        for p, g in zip(params, grads):
            p.grad = g / batch
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        return model(x)


@register_rule("pc", paper="Whittington & Bogacz 2017")
class PredictiveCoding(_PCBase):
    """Standard PC: ``n_inference`` inference steps, then one weight update per batch."""

    name = "pc"
    incremental = False


@register_rule("ipc", paper="Salvatori et al. 2024")
class IncrementalPredictiveCoding(_PCBase):
    """iPC: a weight update at every inference step (simultaneous inference and learning)."""

    name = "ipc"
    incremental = True
