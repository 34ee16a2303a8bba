"""Connectome-constrained recurrent network (BPU-style): fixed signed wiring, trainable I/O.

After the "brain-like processing unit" (BPU) idea of turning a whole connectome (there the
Drosophila larva brain of Winding et al. 2023, Science 379:eadd9330) into a network with fixed
wiring and trainable input/output projections; here any CircuitGraph, e.g. the C. elegans
connectome from ``data.connectome``. Our own implementation; no code from the authors.

Equations (``N`` neurons, ``h`` their rates, ``x`` the input, ``S`` the input (sensory) group,
``M`` the output group):

    W      = rho * (C_signed + g * L_gap) / r(C_signed + g * L_gap)        (fixed unless trainable="all")
    C_signed[i, j] = s_i * f(count_ij)                  (s_i: the presynaptic neuron's sign, Dale)
    L_gap  = G - diag(G 1),  G = f(gap counts)          (diffusive gap-junction coupling, G symmetric)
    u_t    = x_t W_in P_S + b                           (P_S scatters onto the sensory neurons only)
    h_t    = (1 - a) h_{t-1} + a * phi(h_{t-1} W + u_t)        (update="leaky")
    h_t    = phi(h_{t-1} W + u_t + h_{t-1})                     (update="residual", the BPU's form)
    y_t    = h_t[M] W_out + c

with ``r(.)`` the spectral radius, ``a = dt / tau`` and ``f`` the synapse-count transform
(``weight_transform``: the raw count, its square root, ``log1p`` or 1 per edge). ``trainable="io"`` trains only ``W_in``,
``b``, ``W_out``, ``c``; ``"all"`` also trains the recurrent magnitudes under a sign constraint
(:mod:`neurocircuits.layers.constraints`). Modality ablation silences an input group's neurons'
input; structured expansion replaces every neuron by ``k`` units with block-copied wiring
(``W -> W kron 1_k 1_k^T / k``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ..data.connectomes._matrix import COUNT_TRANSFORMS, connectome_mask, signed_adjacency
from ..graph import CircuitGraph
from ..layers.constraints import inverse_magnitude, signed_weight
from ..layers.hooks import HookPoint
from ._registry import register_model

_PAPER = "BPU: connectome-constrained network with fixed wiring and trained I/O (larva connectome: Winding et al. 2023)"
_SPARSE_MIN_UNITS = 512
_SPARSE_MAX_DENSITY = 0.05
_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}


@dataclass(frozen=True)
class ConnectomeRNNConfig:
    """Configuration of :class:`ConnectomeRNN` (``dt_over_tau`` is the leak ``a``)."""

    in_features: int = 64
    out_features: int = 10
    steps: int = 4
    dt_over_tau: float = 0.5
    update: str = "leaky"
    spectral_radius: float = 0.9
    gap_scale: float = 1.0
    weight_transform: str = "count"
    unknown_sign: int = 1
    expansion: int = 1
    trainable: str = "io"
    activation: str = "tanh"
    input_classes: tuple[str, ...] = ("sensory",)
    output_classes: tuple[str, ...] = ("motor",)

    def __post_init__(self) -> None:
        for name in ("in_features", "out_features", "steps", "expansion"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.update not in ("leaky", "residual"):
            raise ValueError(f"update must be 'leaky' (h <- (1-a) h + a phi(hW + u)) or 'residual' "
                             f"(h <- phi(hW + u + h)), not {self.update!r}.")
        if not 0 < self.dt_over_tau <= 1:
            raise ValueError(f"dt_over_tau must be in (0, 1], got {self.dt_over_tau}.")
        if self.spectral_radius <= 0:
            raise ValueError(f"spectral_radius must be > 0, got {self.spectral_radius}.")
        if self.weight_transform not in COUNT_TRANSFORMS:
            raise ValueError(f"weight_transform must be one of {sorted(COUNT_TRANSFORMS)} (how a synapse count "
                             f"becomes a weight), not {self.weight_transform!r}.")
        if self.unknown_sign not in (-1, 0, 1):
            raise ValueError(f"unknown_sign must be -1, 0 or 1, got {self.unknown_sign}.")
        if self.trainable not in ("io", "all"):
            raise ValueError(f"trainable must be 'io' (input/output projections only) or 'all', not {self.trainable!r}.")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, not {self.activation!r}.")


class ConnectomeRNNState(NamedTuple):
    h: torch.Tensor  # [batch, N * expansion]


class ConnectomeRNN(nn.Module):
    """A rate RNN whose recurrent wiring is a connectome (see the module docstring).

    ``forward(x, state=None) -> (y, state)``: ``x`` is ``[batch, in]`` (held for ``cfg.steps``
    steps) or ``[batch, time, in]``; ``y`` is ``[batch, time, out]``. Hook points: ``hook_input``
    (input current onto every unit), ``hook_rates`` (``h_t``), ``hook_output``.
    """

    def __init__(
        self, graph: CircuitGraph, cfg: ConnectomeRNNConfig, input_nodes: Sequence[str] | None = None,
        output_nodes: Sequence[str] | None = None, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None, seed: int = 0,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.graph_name = graph.name
        adj, names = signed_adjacency(graph, cfg.unknown_sign, cfg.gap_scale, cfg.weight_transform)
        if not len(names):
            raise ValueError("the graph has no nodes; a connectome RNN needs at least one neuron.")
        k = cfg.expansion
        if k > 1:
            adj = np.kron(adj, np.ones((k, k))) / k
        radius = _spectral_radius(adj) if adj.any() else 1.0
        adj = adj * (cfg.spectral_radius / radius)
        self.names = names
        self.unit_names = [f"{n}#{c}" for n in names for c in range(k)] if k > 1 else list(names)
        self.groups = _groups(graph, k)
        in_units = self._units(input_nodes, cfg.input_classes, "input")
        out_units = self._units(output_nodes, cfg.output_classes, "output")
        factory = {"device": device, "dtype": dtype or torch.float32}
        gen = torch.Generator().manual_seed(seed)
        w = torch.as_tensor(adj, dtype=factory["dtype"])
        if cfg.trainable == "all":
            self.register_buffer("rec_sign", torch.sign(w).to(device))
            self.rec_raw = nn.Parameter(inverse_magnitude(w.abs(), "softplus").to(device))
        else:
            self.register_buffer("rec_weight", w.to(device))
            if w.shape[0] >= _SPARSE_MIN_UNITS and float((w != 0).float().mean()) < _SPARSE_MAX_DENSITY:
                # large sparse wiring (e.g. a 3k-neuron connectome): a CSR copy of W^T makes h @ W ~5x cheaper
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                    self.register_buffer("rec_weight_t_csr", w.t().contiguous().to_sparse_csr().to(device),
                                         persistent=False)
        self.register_buffer("in_index", torch.as_tensor(in_units, dtype=torch.long, device=device))
        self.register_buffer("out_index", torch.as_tensor(out_units, dtype=torch.long, device=device))
        self.register_buffer("input_gate", torch.ones(len(in_units), **factory))
        scale = 1.0 / np.sqrt(cfg.in_features)
        self.w_in = nn.Parameter((torch.randn(cfg.in_features, len(in_units), generator=gen) * scale).to(**factory))
        self.b_in = nn.Parameter(torch.zeros(len(in_units), **factory))
        self.readout = nn.Linear(len(out_units), cfg.out_features, **factory)
        self.hook_input = HookPoint()
        self.hook_rates = HookPoint()
        self.hook_output = HookPoint()

    # -- structure ------------------------------------------------------------------------------
    def _units(self, nodes: Sequence[str] | None, classes: tuple[str, ...], role: str) -> list[int]:
        if nodes is not None:
            index = {n: i for i, n in enumerate(self.names)}
            unknown = [n for n in nodes if n not in index]
            if unknown:
                raise ValueError(f"{role} nodes {unknown[:5]} are not in the graph {self.graph_name!r}.")
            k = self.cfg.expansion
            units = [index[n] * k + c for n in nodes for c in range(k)]
        else:
            units = sorted({u for c in classes for u in self.groups.get(c, [])})
        if not units:
            raise ValueError(
                f"no {role} neurons: no node has cell_class in {classes}; pass {role}_nodes=[...] or "
                f"{role}_classes=(...) naming the groups (available: {sorted(self.groups)})."
            )
        return units

    @property
    def recurrent_weight(self) -> torch.Tensor:
        """The effective ``W[pre, post]`` (signed, fixed unless ``trainable='all'``)."""
        if self.cfg.trainable == "all":
            return signed_weight(self.rec_raw, self.rec_sign, "softplus")
        return self.rec_weight

    @contextlib.contextmanager
    def ablated(self, *groups: str) -> Iterator[ConnectomeRNN]:
        """Silence the input to the input neurons of ``groups`` (e.g. ``"SN1"``, a neuron name) inside the block."""
        units: set[int] = set()
        for g in groups:
            if g not in self.groups:
                raise ValueError(f"unknown group {g!r}; valid groups: {sorted(self.groups)} or a neuron name.")
            units |= set(self.groups[g])
        mask = torch.as_tensor([u in units for u in self.in_index.tolist()], device=self.input_gate.device)
        if not bool(mask.any()):
            raise ValueError(f"groups {groups} contain no input neuron, so ablating them changes nothing.")
        saved = self.input_gate.clone()
        try:
            self.input_gate.masked_fill_(mask, 0.0)
            yield self
        finally:
            self.input_gate.copy_(saved)

    # -- dynamics -------------------------------------------------------------------------------
    def example_input(self, batch: int) -> torch.Tensor:
        """A valid static input ``[batch, in_features]``."""
        return torch.randn(batch, self.cfg.in_features, dtype=self.w_in.dtype, device=self.w_in.device)

    def initial_state(self, batch: int) -> ConnectomeRNNState:
        w = self.w_in
        return ConnectomeRNNState(torch.zeros(batch, len(self.unit_names), device=w.device, dtype=w.dtype))

    def forward(self, x: torch.Tensor, state: ConnectomeRNNState | None = None) -> tuple[torch.Tensor, ConnectomeRNNState]:
        if x.dim() == 2:
            x = x.unsqueeze(1).expand(-1, self.cfg.steps, -1)
        if x.dim() != 3 or x.shape[-1] != self.cfg.in_features:
            raise ValueError(
                f"expected input [batch, {self.cfg.in_features}] or [batch, time, {self.cfg.in_features}], "
                f"got {tuple(x.shape)}."
            )
        batch, steps, _ = x.shape
        h = self.initial_state(batch).h if state is None else state.h
        w = self.recurrent_weight
        csr = getattr(self, "rec_weight_t_csr", None)

        def recur(h: torch.Tensor) -> torch.Tensor:
            return (csr @ h.t()).t() if csr is not None else h @ w

        phi = _ACTIVATIONS[self.cfg.activation]
        a = self.cfg.dt_over_tau
        residual = self.cfg.update == "residual"
        drive = (x @ self.w_in + self.b_in) * self.input_gate  # [batch, time, n_in]
        current = torch.zeros(batch, steps, h.shape[-1], device=h.device, dtype=h.dtype)
        current = current.index_copy(2, self.in_index, drive)
        current = self.hook_input(current)
        outs = []
        for t in range(steps):
            if residual:
                h = phi(recur(h) + current[:, t] + h)
            else:
                h = (1 - a) * h + a * phi(recur(h) + current[:, t])
            h = self.hook_rates(h)
            outs.append(self.readout(h[:, self.out_index]))
        y = self.hook_output(torch.stack(outs, dim=1))
        if not torch.isfinite(y).all():
            raise FloatingPointError("connectome RNN diverged (NaN/inf); lower spectral_radius or the input scale.")
        return y, ConnectomeRNNState(h)


def _spectral_radius(adj: np.ndarray) -> float:
    """Largest eigenvalue modulus; ARPACK on a sparse copy for large sparse matrices (seconds instead of a
    minute for a 3k-neuron connectome), dense LAPACK otherwise or if ARPACK does not converge."""
    n = adj.shape[0]
    if n >= _SPARSE_MIN_UNITS and np.count_nonzero(adj) < _SPARSE_MAX_DENSITY * n * n:
        import scipy.sparse as sp
        from scipy.sparse.linalg import ArpackNoConvergence, eigs

        try:
            vals = eigs(sp.csr_matrix(adj), k=1, which="LM", v0=np.ones(n), return_eigenvectors=False,
                        maxiter=20 * n, tol=1e-8)
            return float(np.abs(vals).max())
        except ArpackNoConvergence:
            pass
    return float(np.max(np.abs(np.linalg.eigvals(adj))))


def _groups(graph: CircuitGraph, k: int) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        units = [i * k + c for c in range(k)]
        keys = {node.name, str(node.attrs.get("cell_class", "")), str(node.attrs.get("modality", ""))}
        for key in keys - {""}:
            groups.setdefault(key, []).extend(units)
    return groups


@register_model("connectome_rnn", family="connectome", paper=_PAPER)
def connectome_rnn(
    graph: CircuitGraph, in_features: int = 64, out_features: int = 10, trainable: str = "io", steps: int = 4,
    input_nodes: Sequence[str] | None = None, output_nodes: Sequence[str] | None = None,
    device: torch.device | str | None = None, dtype: torch.dtype | None = None, seed: int = 0, **cfg: object,
) -> ConnectomeRNN:
    """Fixed-connectome RNN over ``graph`` (e.g. ``data.connectome("celegans/cook2019_herm")``)."""
    config = ConnectomeRNNConfig(in_features=in_features, out_features=out_features, trainable=trainable,
                                 steps=steps, **cfg)  # type: ignore[arg-type]
    return ConnectomeRNN(graph, config, input_nodes=input_nodes, output_nodes=output_nodes, device=device,
                         dtype=dtype, seed=seed)


# -- next-step activity model ---------------------------------------------------------------------
class ConnectomeAR(nn.Module):
    """Connectome-masked autoregressive rate model for next-step prediction of recorded activity.

        x_hat_{t+1} = (1 - a) x_t + a * tanh(x_t (W * M) + b)

    ``M[pre, post]`` is 1 on the graph's edges (any kind), so neuron ``j`` is predicted only from
    its presynaptic partners; ``W`` and ``b`` are trained. ``forward(x, state=None)`` maps
    ``[batch, time, N]`` to the predictions ``[batch, time, N]`` of the following steps.
    """

    def __init__(self, graph: CircuitGraph, leak: float = 0.5, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None, mask: np.ndarray | None = None) -> None:
        super().__init__()
        if not 0 < leak <= 1:
            raise ValueError(f"leak must be in (0, 1], got {leak}.")
        factory = {"device": device, "dtype": dtype or torch.float32}
        self.names = graph.node_names()
        m = connectome_mask(graph) if mask is None else np.asarray(mask, dtype=np.float64)
        if m.shape != (len(self.names), len(self.names)):
            raise ValueError(f"mask must be [{len(self.names)}, {len(self.names)}], got {m.shape}.")
        self.leak = leak
        self.register_buffer("mask", torch.as_tensor(m, **factory))
        self.weight = nn.Parameter(torch.zeros(len(self.names), len(self.names), **factory))
        self.bias = nn.Parameter(torch.zeros(len(self.names), **factory))
        self.hook_prediction = HookPoint()

    def initial_state(self, batch: int) -> None:
        return None

    def example_input(self, batch: int) -> torch.Tensor:
        """Activity ``[batch, time, neurons]``."""
        return 0.3 * torch.randn(batch, 5, len(self.names), dtype=self.weight.dtype, device=self.weight.device)

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        if x.shape[-1] != len(self.names):
            raise ValueError(f"activity has {x.shape[-1]} channels but the graph has {len(self.names)} neurons; "
                             f"align the recording first: recording.align(graph.node_names()).")
        pred = (1 - self.leak) * x + self.leak * torch.tanh(x @ (self.weight * self.mask) + self.bias)
        return self.hook_prediction(pred), None


@register_model("connectome_ar", family="connectome", paper=_PAPER)
def connectome_ar(graph: CircuitGraph, leak: float = 0.5, device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> ConnectomeAR:
    """Connectome-masked next-step activity model (see :class:`ConnectomeAR`)."""
    return ConnectomeAR(graph, leak=leak, device=device, dtype=dtype)


def fit_next_step(model: nn.Module, activity: torch.Tensor, epochs: int = 200, lr: float = 1e-2) -> list[float]:
    """Fit ``model`` to predict ``activity[t + 1]`` from ``activity[t]`` (``[time, N]``) by full-batch
    Adam on the mean squared error; returns the loss per epoch."""
    if activity.dim() != 2 or activity.shape[0] < 2:
        raise ValueError(f"activity must be [time >= 2, neurons], got {tuple(activity.shape)}.")
    x, y = activity[:-1].unsqueeze(0), activity[1:].unsqueeze(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        loss = torch.mean((model(x)[0] - y) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
