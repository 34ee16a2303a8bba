"""Heterogeneous chain of map-based neurons (Chialvo and Rulkov maps on one bidirectional chain).

After Ghosh, Nair, Fatoyinbo & Muni 2024 ("Dynamical properties of a small heterogeneous chain
network of neurons in discrete time", arXiv:2405.05675): nodes of *different* map models are
coupled in a chain through diffusive terms on their fast variables. Node ``i`` of kind ``m_i`` with
slow variable ``y_i`` and parameters ``p_i``::

    x_i' = f_{m_i}(x_i, y_i; p_i) + g_i * sum_{j in nb(i)} (x_j - x_i)
    y_i' = h_{m_i}(x_i, y_i; p_i)

    Chialvo:  f = x^2 exp(y - x) + k,          h = a y - b x + c
    Rulkov:   f = alpha / (1 + x^2) + y,       h = y - mu (x - sigma)

``nb(i)`` are the chain neighbours ``i - 1`` and ``i + 1`` (open chain; ``periodic=True`` closes it
into a ring) and ``g_i`` is the coupling gain of node ``i`` (one number, or one per node: each
neuron may weigh its input differently, which makes the coupling asymmetric but still purely
diffusive, i.e. zero on the synchronous manifold).

The preset :data:`COEXISTENCE_CHAIN` (a Chialvo-Rulkov pair found by a parameter scan of our own,
not the paper's exact numbers) is multistable: depending on the initial condition the chain settles
on a period-4 cycle (largest Lyapunov exponent about -0.03) or on a chaotic attractor (about +0.3);
``tests/unit/test_dynamics_map_chain.py`` shows both from the public API.

Map kinds are looked up in :data:`MAP_NEURONS` (a :class:`~neurocircuits.registry.Registry`);
register another ``(x, state, params, coupling) -> (x', state')`` map there to use it in a chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ...functional.maps import (
    ChialvoParams,
    ChialvoState,
    RulkovParams,
    RulkovState,
    chialvo_map,
    check_finite,
    rulkov_map,
)
from ...registry import Registry

__all__ = [
    "MAP_NEURONS",
    "MapNeuronKind",
    "MapChainConfig",
    "MapChainState",
    "HeterogeneousMapChain",
    "COEXISTENCE_CHAIN",
]


class MapNeuronKind(NamedTuple):
    """A map neuron model: its step function, its slow-state type and its default parameters."""

    step: Callable[..., tuple[Tensor, Any]]
    state_type: Callable[[Tensor], Any]
    default_params: Any


MAP_NEURONS: Registry[MapNeuronKind] = Registry("map neuron")
MAP_NEURONS.add("chialvo", MapNeuronKind(chialvo_map, ChialvoState, ChialvoParams()))
MAP_NEURONS.add("rulkov", MapNeuronKind(rulkov_map, RulkovState, RulkovParams()))


class MapChainState(NamedTuple):
    """Fast and slow variables of every node, each of shape ``(..., n_nodes)``."""

    x: Tensor
    y: Tensor


@dataclass(frozen=True)
class MapChainConfig:
    """A chain of map neurons.

    Attributes:
        kinds: map model of each node, in chain order (names in :data:`MAP_NEURONS`).
        params: one parameter NamedTuple per node (``None`` entries use the kind's defaults).
        coupling_gain: diffusive coupling gain ``g_i``: one float for all nodes or one per node.
        periodic: close the chain into a ring.
    """

    kinds: tuple[str, ...]
    params: tuple[Any, ...] | None = None
    coupling_gain: float | tuple[float, ...] = 0.0
    periodic: bool = False

    def __post_init__(self) -> None:
        n = len(self.kinds)
        if n < 2:
            raise ValueError(f"a chain needs at least 2 nodes, got kinds={self.kinds!r}.")
        for k in self.kinds:
            MAP_NEURONS.get(k)  # raises UnknownNameError listing the valid kinds
        if self.params is not None and len(self.params) != n:
            raise ValueError(f"params must hold one entry per node ({n}), got {len(self.params)}.")
        if not isinstance(self.coupling_gain, (int, float)) and len(self.coupling_gain) != n:
            raise ValueError(f"coupling_gain must be a float or one value per node ({n}), "
                             f"got {len(self.coupling_gain)} values.")
        if self.periodic and n < 3:
            raise ValueError("a periodic chain (ring) needs at least 3 nodes; use periodic=False for a pair.")


class HeterogeneousMapChain:
    """Bidirectionally coupled chain of heterogeneous map neurons (see the module docstring).

    Every method broadcasts over leading batch dimensions, so many initial conditions can be
    iterated at once (state tensors of shape ``(batch, n_nodes)``).
    """

    def __init__(self, cfg: MapChainConfig, dtype: torch.dtype = torch.float64) -> None:
        self.cfg = cfg
        n = len(cfg.kinds)
        gains = cfg.coupling_gain
        per_node_gain = [float(gains)] * n if isinstance(gains, (int, float)) else [float(v) for v in gains]
        self.gains = torch.as_tensor(per_node_gain, dtype=dtype)
        self._groups: list[tuple[MapNeuronKind, Tensor, Any]] = []
        for name in dict.fromkeys(cfg.kinds):  # one vectorised map call per kind
            kind = MAP_NEURONS.get(name)
            idx = [i for i, k in enumerate(cfg.kinds) if k == name]
            per_node = [kind.default_params if cfg.params is None or cfg.params[i] is None else cfg.params[i]
                        for i in idx]
            fields = {f: torch.as_tensor([float(getattr(p, f)) for p in per_node], dtype=dtype)
                      for f in kind.default_params._fields}
            self._groups.append((kind, torch.as_tensor(idx), type(kind.default_params)(**fields)))
        self.n_nodes = n

    def coupling(self, x: Tensor) -> Tensor:
        """Diffusive chain input ``g_i sum_{j in nb(i)} (x_j - x_i)`` for ``x`` of shape ``(..., N)``."""
        if x.shape[-1] != self.n_nodes:
            raise ValueError(f"expected the last dimension to be n_nodes={self.n_nodes}, got shape {tuple(x.shape)}.")
        diff = torch.zeros_like(x)
        if self.cfg.periodic:
            diff = torch.roll(x, 1, -1) + torch.roll(x, -1, -1) - 2 * x
        else:
            diff[..., 1:] += x[..., :-1] - x[..., 1:]
            diff[..., :-1] += x[..., 1:] - x[..., :-1]
        return self.gains.to(x) * diff

    def step(self, state: MapChainState) -> MapChainState:
        """One iteration of the whole chain (pure: returns a new state)."""
        c = self.coupling(state.x)
        x_new = torch.empty_like(state.x)
        y_new = torch.empty_like(state.y)
        for kind, idx, p in self._groups:
            xi, yi, ci = state.x[..., idx], state.y[..., idx], c[..., idx]
            xo, so = kind.step(xi, kind.state_type(yi), p, coupling=ci)
            x_new[..., idx] = xo
            y_new[..., idx] = so[0]
        return MapChainState(x_new, y_new)

    def vector_step(self, v: Tensor) -> Tensor:
        """The chain as a map on the flat state ``[x_1..x_N, y_1..y_N]`` (for Lyapunov exponents)."""
        s = self.step(MapChainState(v[..., : self.n_nodes], v[..., self.n_nodes:]))
        return torch.cat([s.x, s.y], -1)

    def run(self, state0: MapChainState, n_steps: int, transient: int = 0) -> tuple[Tensor, MapChainState]:
        """Iterate; returns the fast-variable trajectory ``(n_steps, ..., N)`` and the final state.

        Raises:
            DivergenceError: when a state becomes NaN/inf (names the step and the configuration).
        """
        if n_steps < 1 or transient < 0:
            raise ValueError(f"need n_steps >= 1 and transient >= 0, got {n_steps} and {transient}.")
        if state0.x.shape != state0.y.shape or state0.x.shape[-1] != self.n_nodes:
            raise ValueError(f"state x and y must both have shape (..., {self.n_nodes}), "
                             f"got {tuple(state0.x.shape)} and {tuple(state0.y.shape)}.")
        s = state0
        out = torch.empty((n_steps, *s.x.shape), dtype=s.x.dtype)
        for t in range(transient + n_steps):
            s = self.step(s)
            if t % 256 == 0:
                check_finite(torch.stack([s.x, s.y]), t, "heterogeneous map chain", self.cfg)
            if t >= transient:
                out[t - transient] = s.x
        check_finite(torch.stack([s.x, s.y]), transient + n_steps - 1, "heterogeneous map chain", self.cfg)
        return out, s


COEXISTENCE_CHAIN = MapChainConfig(
    kinds=("chialvo", "rulkov"),
    params=(ChialvoParams(a=0.6, b=0.8, c=0.17, k=-0.13), RulkovParams(alpha=5.5, mu=0.08, sigma=0.6)),
    coupling_gain=(0.35, 0.45),
)
"""A Chialvo-Rulkov pair with coexisting period-4 and chaotic attractors (basins interleaved)."""
