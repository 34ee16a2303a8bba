"""Unsupervised Hebbian rules as rule objects: Oja's subspace rule (principal subspace extraction).

Oja 1989 ("Neural networks, principal components, and subspaces", Int. J. Neural Syst. 1:61)::

    y = W x,   dW = eta (y x^T - y y^T W)

For zero-mean inputs with distinct top-k covariance eigenvalues, the rows of ``W`` converge to an
orthonormal basis of the principal k-dimensional subspace. This is the lateral Hebbian/anti-Hebbian
circuit HLOP (Xiao et al. 2024, "Hebbian learning based orthogonal projection for continual
learning of spiking neural networks") uses to project presynaptic traces off old tasks' subspaces;
:func:`orthogonal_projection` gives that projection.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import register_rule

__all__ = ["OjaSubspace", "oja_subspace_update", "principal_angles", "orthogonal_projection", "hlop_projections"]


def oja_subspace_update(W: Tensor, x: Tensor, lr: float) -> Tensor:
    """One batch-averaged Oja subspace step; ``W`` is ``(k, n)``, ``x`` is ``(batch, n)``."""
    y = x @ W.T
    dW = (y.T @ x - y.T @ y @ W) / x.shape[0]
    return W + lr * dW


def principal_angles(A: Tensor, B: Tensor) -> Tensor:
    """Principal angles (radians) between the row spaces of ``A`` (k, n) and ``B`` (k', n)."""
    Qa, _ = torch.linalg.qr(A.T)
    Qb, _ = torch.linalg.qr(B.T)
    s = torch.linalg.svdvals(Qa.T @ Qb).clamp(-1.0, 1.0)
    return torch.arccos(s)


def orthogonal_projection(W: Tensor) -> Tensor:
    """``P = I - W^T (W W^T)^+ W``: removes the component in the subspace spanned by ``W``'s rows."""
    n = W.shape[1]
    return torch.eye(n, dtype=W.dtype, device=W.device) - W.T @ torch.linalg.pinv(W @ W.T) @ W


@register_rule("oja_subspace", paper="Oja 1989")
class OjaSubspace:
    """Rule object for a bias-free ``nn.Linear(n, k)``: Oja's subspace rule on each batch (labels ignored)."""

    name = "oja_subspace"

    def __init__(self, lr: float = 0.01) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}.")
        self.lr = lr

    def setup(self, model: nn.Module) -> None:
        if not isinstance(model, nn.Linear) or model.bias is not None:
            raise TypeError("OjaSubspace trains a bias-free nn.Linear(n_inputs, k).")

    def step(self, model: nn.Module, x: Tensor, y: Tensor | None = None) -> dict[str, float]:
        with torch.no_grad():
            model.weight.copy_(oja_subspace_update(model.weight, x, self.lr))
            W = model.weight
            ortho = float((W @ W.T - torch.eye(W.shape[0], dtype=W.dtype)).abs().max())
        return {"orthogonality_error": ortho, "iterations": 1}

    def predict(self, model: nn.Module, x: Tensor) -> Tensor:
        return model(x)


def hlop_projections(model: nn.Module, x: Tensor, ks: list[int], *, epochs: int = 40, lr: float = 0.005,
                     batch_size: int = 32, seed: int = 0) -> list[Tensor]:
    """Per-layer projections ``P_l = I - U_l^T U_l`` off the principal subspaces of each layer's input.

    ``model`` is an :class:`~neurocircuits.learning.MLP`; the subspace of layer ``l``'s input (the
    data for the first layer, ``phi(h_{l})`` after it) is extracted by Oja's subspace rule (``ks[l]``
    components), as the lateral Hebbian circuits of HLOP do. Multiplying a later task's weight
    gradient by ``P_l`` on the right leaves the responses to the old task's inputs (nearly) unchanged.
    """
    if len(ks) != len(model.layers):
        raise ValueError(f"need one subspace size per layer ({len(model.layers)}), got {len(ks)}.")
    with torch.no_grad():
        nodes = model.forward_all(x)
        inputs = [model.phi(nodes[i], i) for i in range(len(model.layers))]
    g = torch.Generator().manual_seed(seed)
    projections = []
    for k, A in zip(ks, inputs):
        W = 0.1 * torch.randn(k, A.shape[1], generator=g, dtype=A.dtype)
        for _ in range(epochs):
            for i in range(0, A.shape[0], batch_size):
                W = oja_subspace_update(W, A[i:i + batch_size], lr)
        projections.append(orthogonal_projection(W))
    return projections
