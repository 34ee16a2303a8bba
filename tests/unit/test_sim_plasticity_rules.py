"""Rate rules (Hebb, Oja) and the pair-STDP window function."""

import torch

from neurocircuits.functional.plasticity import STDPParams, hebb_step, oja_step, stdp_window


def test_oja_rule_finds_the_first_principal_component_with_unit_norm():
    g = torch.Generator().manual_seed(0)
    cov_root = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.7, 0.0], [0.0, 0.0, 0.3]], dtype=torch.float64)
    rot = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))[0]
    x = torch.randn(4000, 3, generator=g, dtype=torch.float64) @ cov_root @ rot.T
    w = torch.randn(1, 3, generator=g, dtype=torch.float64) * 0.1
    for _ in range(20):
        for batch in x.split(50):
            w = oja_step(w, batch, batch @ w.T, lr=0.01)
    pc1 = torch.linalg.eigh(x.T @ x)[1][:, -1]
    assert abs(float(w.norm()) - 1.0) < 0.02 and abs(float((w[0] / w.norm()) @ pc1)) > 0.999


def test_hebb_grows_weights_along_correlations():
    pre = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    w = hebb_step(torch.zeros(1, 2), pre, torch.ones(2, 1), lr=0.5)
    assert torch.equal(w, torch.tensor([[0.5, 0.0]]))


def test_stdp_window_signs_and_time_constants():
    p = STDPParams(tau_plus_ms=17.0, tau_minus_ms=34.0, a_plus=1.0, a_minus=0.5)
    dt = torch.tensor([17.0, -34.0], dtype=torch.float64)
    w = stdp_window(dt, p)
    assert torch.allclose(w, torch.tensor([torch.e ** -1, -0.5 * torch.e ** -1], dtype=torch.float64))
