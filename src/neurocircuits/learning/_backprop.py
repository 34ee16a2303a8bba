"""Back-propagation baseline as a rule object (one forward/backward = one iteration)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import register_rule

__all__ = ["Backprop", "make_optimizer"]


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """``"sgd"`` or ``"adam"`` over ``params``."""
    table = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}
    if name not in table:
        raise ValueError(f"unknown optimizer {name!r}; use one of {sorted(table)}.")
    return table[name](params, lr=lr)


@register_rule("backprop")
class Backprop:
    """Gradient descent on the mean squared error to one-hot targets (``loss="mse"``) or cross-entropy."""

    name = "backprop"

    def __init__(self, lr: float = 1e-3, optimizer: str = "adam", loss: str = "mse") -> None:
        if loss not in ("mse", "ce"):
            raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}.")
        self.lr, self.optimizer_name, self.loss = lr, optimizer, loss
        self.opt: torch.optim.Optimizer | None = None

    def setup(self, model: nn.Module) -> None:
        self.opt = make_optimizer(self.optimizer_name, model.parameters(), self.lr)

    def step(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]:
        if self.opt is None:
            raise RuntimeError("Backprop.setup(model) must run before step (Trainer does it).")
        out = model(x)
        if self.loss == "ce":
            loss = nn.functional.cross_entropy(out, y)
        else:
            t = nn.functional.one_hot(y, out.shape[-1]).to(out)
            loss = 0.5 * ((out - t) ** 2).sum(-1).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach()), "iterations": 1}

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        return model(x)
