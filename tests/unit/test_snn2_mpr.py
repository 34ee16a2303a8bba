"""Row 119: membrane-potential rectifier (MPR) as defined by Guo et al. (ECCV 2022)."""

from __future__ import annotations

import math

import torch

from neurocircuits.layers.spiking import MPRLIF


def test_rectifier_matches_paper_definition_and_gradient():
    n = MPRLIF(2, threshold=2.0, k=3.0)
    u = torch.linspace(-1.0, 3.0, 81, dtype=torch.float64, requires_grad=True)
    phi = n.rectify(u)
    m = u.detach() / 2.0
    want = torch.where((m >= 0) & (m <= 1), torch.tanh(3 * (m - 0.5)) / (2 * math.tanh(1.5)) + 0.5, m)
    assert torch.allclose(phi, want, atol=1e-12)
    phi.sum().backward()
    inside = (m > 0) & (m < 1)
    # identity slope (in units of theta) outside [0, theta]: gradients reach inhibited/saturated neurons
    assert torch.allclose(u.grad[~inside & (m.abs() > 1e-9) & ((m - 1).abs() > 1e-9)], torch.full((1,), 0.5, dtype=torch.float64))
    # inside, phi' = K sech^2(K (m - 1/2)) / (2 tanh(K/2)) / theta: steepest at the firing point
    sech2 = 1 / torch.cosh(3 * (m[inside] - 0.5)) ** 2
    assert torch.allclose(u.grad[inside], 3 * sech2 / (2 * math.tanh(1.5)) / 2.0, atol=1e-12)


def test_mpr_spikes_equal_half_threshold_soft_reset_lif_and_rectified_hook():
    torch.manual_seed(0)
    n = MPRLIF(5, threshold=1.0)
    x = torch.rand(30, 4, 5, dtype=torch.float64) * 0.8
    s, st = n(x)
    v = torch.zeros(4, 5, dtype=torch.float64)
    ref = []
    for t in range(30):  # plain soft-reset LIF firing at theta / 2, subtracting theta / 2
        u = n.a * v + x[t]
        o = (u >= 0.5).double()
        v = u - 0.5 * o
        ref.append(o)
    assert torch.equal(s, torch.stack(ref)) and torch.allclose(st.v, v)
    assert 0 < s.mean() < 1
    from neurocircuits.layers import cache_activations

    with cache_activations(n, ["hook_rectified", "hook_membrane"]) as c:
        n(x)
    assert torch.allclose(c["hook_rectified"], n.rectify(c["hook_membrane"]))
