"""HLOP: Hebbian learning based orthogonal projection for continual learning of spiking networks.

Xiao, Meng, Zhang, Wang & Lin 2024 ("Hebbian learning based orthogonal projection for continual
learning of spiking neural networks", ICLR). A spiking MLP of leaky integrate-and-fire neurons
(direct current input, ``T`` time steps, surrogate-gradient BPTT)::

    v^l_t = lambda v^l_{t-1} (1 - s^l_{t-1}) + W_l s^{l-1}_t + b_l,    s^l_t = H(v^l_t - 1)
    s^0_t = x (the pixel vector, every step);  logits = (1/T) sum_t W_out s^L_t + b_out

learns tasks one after another. For every layer a lateral circuit of Hebbian/anti-Hebbian neurons
(Oja's subspace rule, :func:`~neurocircuits.learning.oja_subspace_update`) extracts the principal
subspace ``U_l`` (rows) of that layer's *presynaptic* activity ``s^{l-1}_t`` on each finished task;
the components of a new task are learned on the residual ``a - U_l^T U_l a`` with the old lateral
neurons frozen, so the subspace grows task by task. Training a later task then projects the
presynaptic traces off the old subspaces, i.e. every weight update becomes::

    dW_l <- dW_l (I - U_l^T U_l)

so the input currents an old task's spike patterns produce (``W_l s``, ``s`` in span ``U_l``) stay
as they were, and so does the old task's behaviour: forgetting goes to (nearly) zero. Only the
projection is Hebbian; the task itself is learned by surrogate-gradient backprop, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..functional.surrogate import spike
from ._hebbian import oja_subspace_update

__all__ = ["SpikingMLP", "HebbianSubspaces", "HLOPConfig", "split_tasks", "continual_learning_run"]


class SpikingMLP(nn.Module):
    """LIF MLP with one linear readout head per task (or one shared head).

    ``forward(x (B, n_in), head) -> (logits (B, n_out), presyn)`` where ``presyn[l]`` is the
    presynaptic activity of layer ``l`` (hidden layers, then the head) with shape ``(T, B, n)``.
    """

    def __init__(self, sizes: list[int], n_heads: int, *, time_steps: int = 6, decay: float = 0.5,
                 surrogate: str = "atan", seed: int = 0) -> None:
        super().__init__()
        if len(sizes) < 3:
            raise ValueError(f"sizes must be [n_in, hidden..., n_out] with at least one hidden layer, got {sizes}.")
        if n_heads < 1 or time_steps < 1 or not 0 <= decay < 1:
            raise ValueError("need n_heads >= 1, time_steps >= 1 and 0 <= decay < 1.")
        g = torch.Generator().manual_seed(seed)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-2], sizes[1:-1]))
        self.heads = nn.ModuleList(nn.Linear(sizes[-2], sizes[-1]) for _ in range(n_heads))
        with torch.no_grad():
            for lin in [*self.hidden, *self.heads]:
                bound = (3.0 / lin.in_features) ** 0.5
                lin.weight.copy_((torch.rand(lin.weight.shape, generator=g) * 2 - 1) * bound)
                lin.bias.zero_()
        self.time_steps, self.decay, self.surrogate = time_steps, decay, surrogate

    def forward(self, x: Tensor, head: int = 0) -> tuple[Tensor, list[Tensor]]:
        if x.ndim != 2 or x.shape[1] != self.hidden[0].in_features:
            raise ValueError(f"x must have shape (batch, {self.hidden[0].in_features}), got {tuple(x.shape)}.")
        if not 0 <= head < len(self.heads):
            raise ValueError(f"head must lie in [0, {len(self.heads)}), got {head}.")
        T = self.time_steps
        v = [x.new_zeros(x.shape[0], lin.out_features) for lin in self.hidden]
        s = [x.new_zeros(x.shape[0], lin.out_features) for lin in self.hidden]
        presyn: list[list[Tensor]] = [[] for _ in range(len(self.hidden) + 1)]
        out = 0.0
        for _ in range(T):
            inp = x
            for i, lin in enumerate(self.hidden):
                presyn[i].append(inp)
                v[i] = self.decay * v[i] * (1.0 - s[i].detach()) + lin(inp)
                s[i] = spike(v[i] - 1.0, self.surrogate)
                inp = s[i]
            presyn[-1].append(inp)
            out = out + self.heads[head](inp)
        return out / T, [torch.stack(p) for p in presyn]


class HebbianSubspaces:
    """Per-layer lateral Hebbian circuits: Oja subspace neurons added task by task.

    Attributes:
        U: one ``(k_l, n_l)`` tensor of lateral weights per layer (rows span the old tasks' inputs).
    """

    def __init__(self, n_inputs: list[int]) -> None:
        self.U = [torch.zeros(0, n) for n in n_inputs]

    def add_task(self, presyn: list[Tensor], ks: list[int], *, epochs: int = 20, lr: float = 0.01,
                 batch_size: int = 64, seed: int = 0) -> None:
        """Learn ``ks[l]`` new components per layer from presynaptic samples ``presyn[l]`` (N, n_l)."""
        if len(presyn) != len(self.U) or len(ks) != len(self.U):
            raise ValueError(f"need one sample matrix and one k per layer ({len(self.U)}).")
        g = torch.Generator().manual_seed(seed)
        for layer, (A, k) in enumerate(zip(presyn, ks)):
            U = self.U[layer].to(A)
            R = A - (A @ U.T) @ U  # residual after the frozen old lateral neurons
            W = 0.1 * torch.randn(k, A.shape[1], generator=g, dtype=A.dtype)
            for _ in range(epochs):
                order = torch.randperm(R.shape[0], generator=g)
                for i in range(0, R.shape[0], batch_size):
                    W = oja_subspace_update(W, R[order[i:i + batch_size]], lr)
            if not bool(torch.isfinite(W).all()):
                raise FloatingPointError(f"Oja subspace rule diverged in layer {layer}; lower lr (now {lr}).")
            self.U[layer] = torch.cat([U, W])

    def projections(self) -> list[Tensor]:
        """``P_l = I - U_l^T (U_l U_l^T)^+ U_l`` per layer (identity before the first task)."""
        return [torch.eye(U.shape[1], dtype=U.dtype) - U.T @ torch.linalg.pinv(U @ U.T) @ U if len(U)
                else torch.eye(U.shape[1], dtype=U.dtype) for U in self.U]


@dataclass(frozen=True)
class HLOPConfig:
    """Continual-learning run on split tasks.

    Attributes:
        hidden: hidden layer sizes.
        shared_head: one readout shared by all tasks (domain-incremental) instead of one per task.
        time_steps: SNN simulation steps per sample.
        epochs, batch_size, lr: per-task training (Adam).
        ks: Oja components added per task for each layer (hidden layers, then the head input).
        oja_epochs, oja_lr: lateral circuit training per task.
        seed: initialisation and data order seed.
    """

    hidden: tuple[int, ...] = (200,)
    shared_head: bool = False
    time_steps: int = 6
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    ks: tuple[int, ...] = (10, 30)
    oja_epochs: int = 20
    oja_lr: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.ks) != len(self.hidden) + 1:
            raise ValueError(f"ks needs one entry per hidden layer plus one for the head "
                             f"({len(self.hidden) + 1}), got {len(self.ks)}.")


def split_tasks(x: Tensor, y: Tensor, classes_per_task: int = 2) -> list[tuple[Tensor, Tensor]]:
    """Split a labelled set into tasks of consecutive classes; labels become 0..classes_per_task-1."""
    n_classes = int(y.max()) + 1
    if n_classes % classes_per_task:
        raise ValueError(f"{n_classes} classes do not split into tasks of {classes_per_task}.")
    out = []
    for c0 in range(0, n_classes, classes_per_task):
        m = (y >= c0) & (y < c0 + classes_per_task)
        out.append((x[m], y[m] - c0))
    return out


def _accuracy(net: SpikingMLP, x: Tensor, y: Tensor, head: int) -> float:
    with torch.no_grad():
        return float((net(x, head)[0].argmax(-1) == y).float().mean())


def continual_learning_run(train: list[tuple[Tensor, Tensor]], test: list[tuple[Tensor, Tensor]],
                           cfg: HLOPConfig = HLOPConfig(), use_hlop: bool = True) -> Tensor:
    """Train tasks in order; returns ``acc[i, j]``: test accuracy on task ``j`` after training task ``i``.

    With ``use_hlop`` every update of a shared layer is projected off the Hebbian subspaces of the
    earlier tasks' presynaptic activity (see the module docstring); task heads are trained only
    on their own task, so without HLOP all forgetting comes from the shared layers.
    """
    n_tasks = len(train)
    n_in, n_out = train[0][0].shape[1], int(max(int(t[1].max()) for t in train)) + 1
    torch.manual_seed(cfg.seed)
    net = SpikingMLP([n_in, *cfg.hidden, n_out], 1 if cfg.shared_head else n_tasks,
                     time_steps=cfg.time_steps, seed=cfg.seed)
    sub = HebbianSubspaces([n_in, *cfg.hidden])
    acc = torch.zeros(n_tasks, n_tasks)
    g = torch.Generator().manual_seed(cfg.seed)
    for task, (x, y) in enumerate(train):
        head = 0 if cfg.shared_head else task
        layers = [*net.hidden, net.heads[head]]
        params = [p for lin in layers for p in lin.parameters()]
        opt = torch.optim.Adam(params, lr=cfg.lr)
        P = sub.projections() if use_hlop and task > 0 else None
        for _ in range(cfg.epochs):
            order = torch.randperm(len(y), generator=g)
            for i in range(0, len(y), cfg.batch_size):
                idx = order[i:i + cfg.batch_size]
                loss = nn.functional.cross_entropy(net(x[idx], head)[0], y[idx])
                opt.zero_grad()
                loss.backward()
                protected = [] if P is None else [
                    (lin, Pl, lin.weight.detach().clone()) for lin, Pl in zip(layers, P)
                    if cfg.shared_head or lin is not net.heads[head]]  # a task's own head protects nothing
                for lin, Pl, _ in protected:
                    lin.weight.grad = lin.weight.grad @ Pl
                    lin.bias.grad = None  # a bias shifts the response to every old input too
                opt.step()
                with torch.no_grad():  # Adam rescales coordinates: project the update itself as well
                    for lin, Pl, w_old in protected:
                        lin.weight.copy_(w_old + (lin.weight - w_old) @ Pl)
        if use_hlop:
            with torch.no_grad():
                presyn = net(x, head)[1]
            sub.add_task([p.reshape(-1, p.shape[-1]) for p in presyn], list(cfg.ks),
                         epochs=cfg.oja_epochs, lr=cfg.oja_lr, seed=cfg.seed + task)
        for j, (xt, yt) in enumerate(test):
            acc[task, j] = _accuracy(net, xt, yt, 0 if cfg.shared_head else j)
    return acc
