"""Error-modulated Hebbian learning through dis-inhibition (after Rossbroich & Zenke 2023,
"Dis-inhibitory neuronal circuits can control the sign of synaptic plasticity", NeurIPS).

Written from the paper's idea, not its code, as a rate-based two-layer microcircuit:

* each hidden excitatory cell i receives feed-forward drive ``a_i = (W1 x + b1)_i``; recurrent
  inhibition sets a plasticity threshold ``theta_i`` equal to the cell's activity *without*
  top-down input, ``theta_i = phi(a_i)``;
* the output error ``e = t - softmax(y)`` reaches the hidden layer only as top-down
  *dis-inhibition* through fixed random afferents ``B``: the cell's activity becomes
  ``h_i = phi(a_i + (B e)_i)`` (more activity where inhibition is released, less where it is added);
* the synaptic rule is Hebbian in the presynaptic rate with a postsynaptic factor whose *sign is set
  by inhibition*: ``dW1_ij = eta (h_i - theta_i) x_j``. Potentiation where the cell is above its
  inhibitory threshold, depression below -- there is no separate error compartment.
* The output layer uses the same rule with the nudged output ``y + e``: ``dW2 = eta e h^T``.

Without inhibition (``inhibition=False``) the threshold is zero and the hidden rule reduces to
postsynaptic-activity-dependent Hebbian plasticity ``dW1 = eta h x^T``, which cannot learn.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import ACTIVATIONS, MLP, register_rule

__all__ = ["DisinhibitoryHebbian"]


@register_rule("disinhibitory_hebbian", paper="after Rossbroich & Zenke 2023")
class DisinhibitoryHebbian:
    """Rule object for a two-layer :class:`MLP` ``[n_in, n_hidden, n_out]``."""

    name = "disinhibitory_hebbian"

    def __init__(self, lr: float = 0.05, feedback_scale: float = 1.0, inhibition: bool = True, seed: int = 0) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}.")
        self.lr, self.scale, self.inhibition = lr, feedback_scale, inhibition
        self.gen = torch.Generator().manual_seed(seed)
        self.B: Tensor | None = None

    def setup(self, model: nn.Module) -> None:
        if not isinstance(model, MLP) or len(model.layers) != 2:
            raise TypeError("DisinhibitoryHebbian trains a two-layer neurocircuits.learning.MLP [n_in, n_hidden, n_out].")
        n_hidden, n_out = model.sizes[1], model.sizes[2]
        w = model.layers[0].weight
        self.B = (torch.randn(n_hidden, n_out, generator=self.gen) / n_out**0.5 * self.scale).to(w)

    def step(self, model: MLP, x: Tensor, y: Tensor) -> dict[str, float]:
        if self.B is None:
            raise RuntimeError("DisinhibitoryHebbian.setup(model) must run before step (Trainer does it).")
        phi = ACTIVATIONS.get(model.activation)[0]
        l1, l2 = model.layers
        with torch.no_grad():
            a = l1(x)
            theta = phi(a)  # activity under recurrent inhibition alone = plasticity threshold
            out = l2(theta)
            e = nn.functional.one_hot(y, out.shape[-1]).to(out) - torch.softmax(out, -1)
            h = phi(a + e @ self.B.T)  # top-down dis-inhibition releases (or adds) inhibition
            post = h - theta if self.inhibition else h
            n = x.shape[0]
            l1.weight += self.lr * post.T @ x / n
            l1.bias += self.lr * post.mean(0)
            l2.weight += self.lr * e.T @ theta / n
            l2.bias += self.lr * e.mean(0)
        return {"error": float(e.abs().mean()), "iterations": 1}

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        return model(x)
