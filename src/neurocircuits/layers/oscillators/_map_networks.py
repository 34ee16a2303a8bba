"""Networks of map-based neurons (Chialvo, Rulkov) with ring, star, ring-star and higher-order coupling.

Diffusive coupling added to the fast variable of node i (cf. Muni et al. 2024 and related
"Chialvo ring-star network" studies)::

    ring (radius R):   (sigma_ring / 2R) sum_{0 < |j - i| <= R} (x_j - x_i)       (ring nodes)
    star (hub = 0):    (sigma_star / N) sum_j (x_j - x_0) for the hub,  sigma_star (x_0 - x_i) for the others
    higher order:      (sigma_2 / 2R) sum_{0 < |j - i| <= R} (x_j^2 ... ) is replaced here by the
                       triadic diffusive form (sigma_2 / R) sum_{j, j+1 in ring} (x_j + x_{j+1} - 2 x_i)

Nodes may be heterogeneous (parameter tensors of shape ``(N,)``). The result of a simulation is the
trajectory ``(time, N)`` of fast variables; synchrony is then measured with
:mod:`neurocircuits.analysis.dynamics` (Golomb's chi, Kuramoto order of Hilbert phases,
cross-correlation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...functional.maps import iterate_map

__all__ = ["RingStarCoupling", "simulate_map_network"]


@dataclass(frozen=True)
class RingStarCoupling:
    """Coupling of ``n_nodes`` maps: node 0 is the hub (when ``sigma_star`` > 0), nodes 1..N-1 the ring.

    Attributes:
        n_nodes: total number of nodes.
        sigma_ring: ring (nearest ``radius`` neighbours) diffusive strength.
        radius: ring coupling radius ``R``.
        sigma_star: hub <-> ring diffusive strength (0: plain ring over all nodes).
        sigma_triadic: higher-order (triadic) ring coupling strength.
    """

    n_nodes: int
    sigma_ring: float = 0.0
    radius: int = 1
    sigma_star: float = 0.0
    sigma_triadic: float = 0.0

    def __post_init__(self) -> None:
        if self.n_nodes < 3 or self.radius < 1 or 2 * self.radius >= self.n_nodes:
            raise ValueError(f"need n_nodes >= 3 and 1 <= radius < n_nodes / 2, got {self.n_nodes}, {self.radius}.")

    def __call__(self, x: Tensor) -> Tensor:
        hub = self.sigma_star > 0
        ring = x[1:] if hub else x
        out_ring = torch.zeros_like(ring)
        R = self.radius
        if self.sigma_ring:
            for s in range(1, R + 1):
                out_ring += torch.roll(ring, s) + torch.roll(ring, -s) - 2 * ring
            out_ring *= self.sigma_ring / (2 * R)
        if self.sigma_triadic:
            tri = torch.zeros_like(ring)
            for s in range(1, R + 1):
                tri += torch.roll(ring, s) + torch.roll(ring, s + 1) - 2 * ring
                tri += torch.roll(ring, -s) + torch.roll(ring, -s - 1) - 2 * ring
            out_ring += self.sigma_triadic / (2 * R) * tri
        if not hub:
            return out_ring
        out_ring += self.sigma_star * (x[0] - ring)
        out_hub = self.sigma_star / self.n_nodes * (ring - x[0]).sum().reshape(1)
        return torch.cat([out_hub, out_ring])


def simulate_map_network(step: Callable[..., tuple[Tensor, Any]], params: Any, x0: Tensor, state0: Any,
                         coupling: Callable[[Tensor], Tensor], n_steps: int, transient: int = 0) -> Tensor:
    """Iterate coupled maps; returns fast variables ``(n_steps, N)`` (raises ``DivergenceError``)."""
    return iterate_map(step, x0, state0, params, n_steps, transient=transient, coupling_fn=coupling,
                       name=f"{getattr(step, '__name__', 'map')} network")
