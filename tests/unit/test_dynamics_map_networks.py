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


def test_single_chialvo_map_fixed_point_to_quasiperiodic_route():
    # b = 0.6: the fixed point loses stability near k = 0.03 to an invariant circle (Lyapunov ~ 0,
    # no period, 0-1 test K well below the chaotic value 1).
    from neurocircuits.analysis.dynamics import detect_period, largest_lyapunov, zero_one_test
    from neurocircuits.functional.maps import iterate_map

    def analyse(k):
        p = ChialvoParams(b=0.6, k=k)
        z = torch.tensor(0.5, dtype=torch.float64)
        x = iterate_map(chialvo_map, z, ChialvoState(z.clone()), p, 2000, transient=4000)

        def step(v):
            a, s = chialvo_map(v[0], ChialvoState(v[1]), p)
            return torch.stack([a, s.y])

        lam = largest_lyapunov(step, torch.tensor([0.5, 0.5], dtype=torch.float64), 2000, transient=2000)
        return detect_period(x.numpy(), 64, 1e-6), lam, zero_one_test(x.numpy())

    period, lam, _ = analyse(0.025)
    assert period == 1 and lam < -0.05  # stable fixed point
    period, lam, K = analyse(0.035)
    assert period == 0 and abs(lam) < 0.01 and K < 0.4  # quasi-periodic
