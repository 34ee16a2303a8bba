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

How many lateral neurons a task recruits per layer is either fixed (``ks``) or set by an energy
threshold: the fewest that make old plus new neurons capture a share ``theta_l`` of the task's
presynaptic energy ``sum_t ||s_t||^2`` (read off the residual's correlation spectrum), so a task
that shares structure with earlier ones recruits few. They are recruited in small groups, each group
running the expected Oja step ``dW = eta (W C - W C W^T W)`` on the residual correlation ``C`` left
by all earlier neurons (rate ``eta = lr / lambda_max(C)``); the narrower spectrum of each group's
residual makes the slow small-eigenvalue directions converge.
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

    def add_task(self, presyn: list[Tensor], ks: list[int] | None = None, *,
                 threshold: float | list[float] | None = None,
                 epochs: int = 20, lr: float = 0.01, batch_size: int = 64, group: int = 16,
                 seed: int = 0) -> list[int]:
        """Recruit new lateral neurons per layer from presynaptic samples ``presyn[l]`` (N, n_l).

        The new neurons learn Oja's subspace rule on the residual ``a - U^T (U U^T)^+ U a`` left by the
        frozen old ones. Their number is ``ks[l]``, or, with ``threshold``, the fewest that bring the
        captured share of this task's (uncentred) activity energy ``sum ||a||^2`` to ``threshold``:
        the count is read off the residual's correlation spectrum, so a task whose activity the old
        neurons already span recruits few or none.

        Args:
            presyn: one ``(N, n_l)`` sample matrix per layer.
            ks: fixed number of new neurons per layer (exclusive with ``threshold``).
            threshold: energy share in (0, 1) the old plus new neurons must capture.
            epochs: passes over the samples; with ``threshold``, ``epochs * N / batch_size`` full-batch
                (expected) Oja steps with rate ``lr / lambda_max`` of the residual correlation.
            lr: Oja learning rate (relative to ``1 / lambda_max`` with ``threshold``).
            batch_size: mini-batch of the stochastic Oja steps.
            seed: initial lateral weights and sample order.

        Returns:
            the number of neurons added per layer.
        """
        if (ks is None) == (threshold is None):
            raise ValueError("pass exactly one of ks (fixed counts) or threshold (energy share).")
        if threshold is not None:
            thresholds = [float(threshold)] * len(self.U) if isinstance(threshold, (int, float)) else list(threshold)
            if len(thresholds) != len(self.U) or not all(0.0 < t < 1.0 for t in thresholds):
                raise ValueError(f"threshold must be one value in (0, 1) or one per layer ({len(self.U)}), "
                                 f"got {threshold}.")
        if len(presyn) != len(self.U) or (ks is not None and len(ks) != len(self.U)):
            raise ValueError(f"need one sample matrix (and one k) per layer ({len(self.U)}).")
        g = torch.Generator().manual_seed(seed)
        added = []
        for layer, A in enumerate(presyn):
            U = self.U[layer].to(A)
            R = A - (A @ U.T) @ torch.linalg.pinv(U @ U.T) @ U if len(U) else A  # residual
            if threshold is None:
                k = min(ks[layer], A.shape[1] - len(U))
                W = 0.1 * torch.randn(k, A.shape[1], generator=g, dtype=A.dtype)
                for _ in range(epochs):
                    order = torch.randperm(R.shape[0], generator=g)
                    for i in range(0, R.shape[0], batch_size):
                        W = oja_subspace_update(W, R[order[i:i + batch_size]], lr)
            else:
                C = R.T @ R / R.shape[0]
                lam = torch.linalg.eigvalsh(C).flip(0).clamp_min(0.0)
                total = float((A * A).sum()) / A.shape[0]
                missing = float(lam.sum()) - (1.0 - thresholds[layer]) * total  # energy still to capture
                k = 0 if missing <= 0 else int((torch.cumsum(lam, 0) < missing).sum()) + 1
                k = min(k, A.shape[1] - len(U))
                W = self._grow(R, k, group, epochs * R.shape[0] // batch_size, lr, g)
            if not bool(torch.isfinite(W).all()):
                raise FloatingPointError(f"Oja subspace rule diverged in layer {layer}; lower lr (now {lr}).")
            self.U[layer] = torch.cat([U, W])
            added.append(k)
        return added

    @staticmethod
    def _grow(R: Tensor, k: int, group: int, steps: int, lr: float, g: torch.Generator) -> Tensor:
        """``k`` lateral neurons recruited ``group`` at a time, each group running Oja's rule on the
        residual the earlier ones leave (expected update, rate ``lr / lambda_max`` of that residual)."""
        W = R.new_zeros(0, R.shape[1])
        while len(W) < k:
            Q = torch.linalg.qr(W.T)[0] if len(W) else W.T
            Rg = R - (R @ Q) @ Q.T
            C = Rg.T @ Rg / Rg.shape[0]
            eta = lr / max(float(torch.linalg.eigvalsh(C)[-1]), 1e-300)
            m = min(group, k - len(W))
            V = torch.linalg.qr(Rg[torch.randperm(len(Rg), generator=g)[:m]].T)[0].T  # start on seen activity
            for _ in range(steps):
                Y = V @ C
                V = V + eta * (Y - (Y @ V.T) @ V)
            W = torch.cat([W, V])
        return W

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
        epochs, batch_size, lr: per-task training.
        optimizer: ``"adam"`` or ``"sgd"`` (SGD with momentum 0.9).
        later_epochs: extra epochs for each task after the first (task ``i`` trains
            ``epochs + i * later_epochs``).
        ks: fixed Oja components added per task for each layer (hidden layers, then the head input);
            ``None`` picks them by ``variance_threshold``.
        variance_threshold: share of each task's presynaptic energy the lateral neurons must capture
            (used when ``ks`` is ``None``).
        oja_epochs, oja_lr: lateral circuit training per task; ``oja_lr=None`` means 0.01 with fixed
            ``ks`` (stochastic steps) and 0.9 (times ``1 / lambda_max``) with the energy threshold.
        oja_group: with the energy threshold, lateral neurons are recruited this many at a time.
        seed: initialisation and data order seed.
    """

    hidden: tuple[int, ...] = (200,)
    shared_head: bool = False
    time_steps: int = 6
    epochs: int = 15
    batch_size: int = 32
    lr: float = 1e-3
    optimizer: str = "adam"
    later_epochs: int = 0
    ks: tuple[int, ...] | None = (10, 30)
    variance_threshold: float | tuple[float, ...] = 0.99
    oja_epochs: int = 20
    oja_lr: float | None = None
    oja_group: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ks is not None and len(self.ks) != len(self.hidden) + 1:
            raise ValueError(f"ks needs one entry per hidden layer plus one for the head "
                             f"({len(self.hidden) + 1}), got {len(self.ks)}.")
        vt = self.variance_threshold
        vts = (vt,) * (len(self.hidden) + 1) if isinstance(vt, (int, float)) else tuple(vt)
        if len(vts) != len(self.hidden) + 1 or not all(0.0 < v < 1.0 for v in vts):
            raise ValueError(f"variance_threshold must be one value in (0, 1) or one per hidden layer plus "
                             f"one for the head ({len(self.hidden) + 1}), got {vt}.")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {sorted(_OPTIMIZERS)}.")
        if self.epochs < 1 or self.later_epochs < 0 or self.oja_group < 1:
            raise ValueError("need epochs >= 1, later_epochs >= 0 and oja_group >= 1.")


_OPTIMIZERS = {
    "adam": lambda params, lr: torch.optim.Adam(params, lr=lr),
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}


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
                           cfg: HLOPConfig = HLOPConfig(), use_hlop: bool = True,
                           info: dict | None = None) -> Tensor:
    """Train tasks in order; returns ``acc[i, j]``: test accuracy on task ``j`` after training task ``i``.

    With ``use_hlop`` every update of a shared layer is projected off the Hebbian subspaces of the
    earlier tasks' presynaptic activity (see the module docstring); task heads are trained only
    on their own task, so without HLOP all forgetting comes from the shared layers. If ``info`` is
    a dict, it receives ``"added"`` (lateral neurons recruited after each task but the last, per
    layer) and ``"free"`` (for each task after the first, the share of its presynaptic energy per
    layer that lies outside the old subspaces, i.e. the room the projection leaves it).
    """
    n_tasks = len(train)
    n_in, n_out = train[0][0].shape[1], int(max(int(t[1].max()) for t in train)) + 1
    torch.manual_seed(cfg.seed)
    net = SpikingMLP([n_in, *cfg.hidden, n_out], 1 if cfg.shared_head else n_tasks,
                     time_steps=cfg.time_steps, seed=cfg.seed)
    sub = HebbianSubspaces([n_in, *cfg.hidden])
    acc = torch.zeros(n_tasks, len(test))
    added: list[list[int]] = []
    free: list[list[float]] = []
    oja_lr = cfg.oja_lr if cfg.oja_lr is not None else (0.01 if cfg.ks is not None else 0.9)
    g = torch.Generator().manual_seed(cfg.seed)
    for task, (x, y) in enumerate(train):
        head = 0 if cfg.shared_head else task
        layers = [*net.hidden, net.heads[head]]
        params = [p for lin in layers for p in lin.parameters()]
        opt = _OPTIMIZERS[cfg.optimizer](params, cfg.lr)
        P = sub.projections() if use_hlop and task > 0 else None
        if P is not None:  # share of the new task's presynaptic energy the old subspaces leave free
            with torch.no_grad():
                pre = [a.reshape(-1, a.shape[-1]) for a in net(x, head)[1]]
            free.append([float(((a @ Pl) ** 2).sum() / (a ** 2).sum()) for a, Pl in zip(pre, P)])
        protected = [] if P is None else [
            (lin, Pl) for lin, Pl in zip(layers, P)
            if cfg.shared_head or lin is not net.heads[head]]  # a task's own head protects nothing
        for _ in range(cfg.epochs + task * cfg.later_epochs):
            order = torch.randperm(len(y), generator=g)
            for i in range(0, len(y), cfg.batch_size):
                idx = order[i:i + cfg.batch_size]
                loss = nn.functional.cross_entropy(net(x[idx], head)[0], y[idx])
                opt.zero_grad()
                loss.backward()
                w_old = [lin.weight.detach().clone() for lin, _ in protected]
                for lin, Pl in protected:
                    lin.weight.grad = lin.weight.grad @ Pl
                    lin.bias.grad = None  # a bias shifts the response to every old input too
                opt.step()
                with torch.no_grad():  # Adam rescales coordinates: project the update itself as well
                    for (lin, Pl), w0 in zip(protected, w_old):
                        lin.weight.copy_(w0 + (lin.weight - w0) @ Pl)
        if use_hlop and task < n_tasks - 1:
            with torch.no_grad():
                presyn = net(x, head)[1]
            samples = [p.reshape(-1, p.shape[-1]) for p in presyn]
            if cfg.ks is None:  # the spectrum's tail needs double precision
                samples = [a.double() for a in samples]
            added.append(sub.add_task(samples, None if cfg.ks is None else list(cfg.ks),
                                      threshold=(cfg.variance_threshold if isinstance(cfg.variance_threshold, float)
                                                 else list(cfg.variance_threshold)) if cfg.ks is None else None,
                                      epochs=cfg.oja_epochs, lr=oja_lr, group=cfg.oja_group,
                                      seed=cfg.seed + task))
            sub.U = [U.float() for U in sub.U]
        for j, (xt, yt) in enumerate(test):
            acc[task, j] = _accuracy(net, xt, yt, 0 if cfg.shared_head else j)
    if info is not None:
        info["added"] = added
        info["free"] = free
    return acc
