"""Wilson-Cowan E/I neural-mass nodes and metapopulations as trainable layers.

Each node follows the Wilson & Cowan (1972) equations (see
:func:`neurocircuits.functional.oscillators.wilson_cowan_step`); nodes are coupled through a
(trainable) excitatory connectivity matrix ``G``. Used as a layer, an input ``u`` is projected to the
nodes' external drive ``P = P0 + A u``, the metapopulation is integrated for ``n_steps`` Euler steps
and its final ``(E, I)`` is the layer output (cf. "Wilson-Cowan metapopulation" models used as
recurrent layers with stable attractors).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...functional.maps import check_finite
from ...functional.oscillators import WilsonCowanParams, WilsonCowanState, wilson_cowan_step
from ..hooks import HookPoint

__all__ = ["WilsonCowanConfig", "WilsonCowanNetwork", "simulate_wilson_cowan"]


def simulate_wilson_cowan(params: WilsonCowanParams, state: WilsonCowanState, dt_ms: float, n_steps: int,
                          drive: Tensor | float = 0.0, connectivity: Tensor | None = None) -> Tensor:
    """Integrate Wilson-Cowan nodes; returns ``E`` over time ``(n_steps, ...)``.

    Raises:
        DivergenceError: naming the step and the parameter set if E or I become NaN/inf.
    """
    out = []
    for t in range(n_steps):
        E, state = wilson_cowan_step(drive, state, params, dt_ms, connectivity)
        if t % 50 == 0 or t == n_steps - 1:
            check_finite(torch.stack([state.E, state.I]), t, "wilson_cowan_step", params)
        out.append(E)
    return torch.stack(out)


@dataclass(frozen=True)
class WilsonCowanConfig:
    """Metapopulation layer configuration.

    Attributes:
        n_inputs: input features projected onto the nodes' drive.
        n_nodes: number of E/I nodes.
        n_steps: Euler steps per forward pass.
        dt_ms: Euler step (ms).
        coupling_scale: initial scale of the random node-to-node coupling.
    """

    n_inputs: int
    n_nodes: int = 64
    n_steps: int = 20
    dt_ms: float = 1.0
    coupling_scale: float = 0.1

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or self.n_nodes < 1 or self.n_steps < 1:
            raise ValueError("n_inputs, n_nodes and n_steps must be >= 1.")
        if not 0 < self.dt_ms <= 2.0:
            raise ValueError(f"dt_ms must lie in (0, 2] ms for a stable Euler step (tau = 8 ms), got {self.dt_ms}.")


class WilsonCowanNetwork(nn.Module):
    """Trainable Wilson-Cowan metapopulation: ``forward(u, state=None) -> (E_T, state)``."""

    def __init__(self, cfg: WilsonCowanConfig, params: WilsonCowanParams = WilsonCowanParams(P=0.0),
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg, self.params = cfg, params
        kw = {"device": device, "dtype": dtype}
        self.drive = nn.Linear(cfg.n_inputs, cfg.n_nodes, **kw)
        self.G = nn.Parameter(cfg.coupling_scale * torch.randn(cfg.n_nodes, cfg.n_nodes, **kw) / cfg.n_nodes**0.5)
        self.hook_E = HookPoint()

    def initial_state(self, batch: int) -> WilsonCowanState:
        z = torch.zeros(batch, self.cfg.n_nodes, dtype=self.G.dtype, device=self.G.device)
        return WilsonCowanState(z, z.clone())

    def example_input(self, batch: int) -> Tensor:
        return torch.rand(batch, self.cfg.n_inputs, dtype=self.G.dtype, device=self.G.device)

    def forward(self, u: Tensor, state: WilsonCowanState | None = None) -> tuple[Tensor, WilsonCowanState]:
        if u.dim() != 2 or u.shape[1] != self.cfg.n_inputs:
            raise ValueError(f"input must be (batch, {self.cfg.n_inputs}), got {tuple(u.shape)}.")
        st = state or self.initial_state(u.shape[0])
        x = self.drive(u)
        for _ in range(self.cfg.n_steps):
            _, st = wilson_cowan_step(x, st, self.params, self.cfg.dt_ms, self.G)
        check_finite(st.E, self.cfg.n_steps, "WilsonCowanNetwork", self.params)
        return self.hook_E(st.E), st
