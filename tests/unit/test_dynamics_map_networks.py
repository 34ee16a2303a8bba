"""Row 112: Chialvo ring-star networks -- synchrony measures change with coupling strength."""

import numpy as np
import pytest
import torch

from neurocircuits.analysis.dynamics import kuramoto_order, phases_from_signal, synchrony_chi
from neurocircuits.functional.maps import ChialvoParams, ChialvoState, chialvo_map
from neurocircuits.layers.oscillators import RingStarCoupling, simulate_map_network

N = 50


def _chi(sigma_ring, sigma_star, sigma_tri=0.0):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(N, generator=g, dtype=torch.float64)
    y0 = torch.rand(N, generator=g, dtype=torch.float64)
    X = simulate_map_network(chialvo_map, ChialvoParams(b=0.5, k=-0.1), x0, ChialvoState(y0),
                             RingStarCoupling(N, sigma_ring, 2, sigma_star, sigma_tri), 1500, 500).numpy()
    return synchrony_chi(X), kuramoto_order(phases_from_signal(X))


def test_synchrony_grows_with_ring_and_star_coupling():
    chi0, r0 = _chi(0.0, 0.0)
    assert chi0 < 2.5 / np.sqrt(N)  # uncoupled chaotic maps: chi ~ 1/sqrt(N)
    chi_ring, r_ring = _chi(0.4, 0.0)
    chi_star, r_star = _chi(0.0, 0.3)
    assert chi_ring > 1.5 * chi0 and r_ring > 2 * r0
    assert chi_star > chi_ring and r_star > r_ring  # the hub synchronises the ring more strongly


def test_coupling_conserves_total_activity_for_ring_and_triadic_terms():
    c = RingStarCoupling(10, sigma_ring=0.3, radius=2, sigma_triadic=0.2)
    x = torch.randn(10, dtype=torch.float64)
    assert float(c(x).sum()) == pytest.approx(0.0, abs=1e-12)  # purely diffusive
    assert torch.allclose(c(torch.full((10,), 0.7, dtype=torch.float64)), torch.zeros(10, dtype=torch.float64))
    with pytest.raises(ValueError, match="radius"):
        RingStarCoupling(4, radius=2)
