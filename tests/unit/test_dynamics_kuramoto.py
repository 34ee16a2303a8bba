"""Row 12: Kuramoto order parameter vs theory; AKOrN layer mechanics."""

import math

import pytest
import torch

from neurocircuits.functional.oscillators import KuramotoParams, kuramoto_step
from neurocircuits.layers.oscillators import (
    AKOrNConfig,
    AKOrNLayer,
    KuramotoPopulation,
    critical_coupling_lorentzian,
    lorentzian_frequencies,
)


def test_order_parameter_rises_past_critical_coupling_as_theory_predicts():
    N, gamma = 2000, 0.5
    Kc = critical_coupling_lorentzian(gamma)  # 2 / (pi g(0)) = 2 gamma = 1
    Ks = torch.tensor([0.5, 0.8, 1.5, 2.0, 3.0], dtype=torch.float64).unsqueeze(-1)
    theta0 = torch.rand(len(Ks), N, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 * math.pi
    pop = KuramotoPopulation(lorentzian_frequencies(N, gamma), Ks, dt=0.05, n_steps=1500)
    traj, _ = pop(theta0, record_every=10)
    R = pop.order_parameter(traj[-50:])[0].mean(0)
    for k, r in zip(Ks.flatten().tolist(), R.tolist()):
        if k < Kc:
            assert r < 0.08  # incoherent: finite-size R ~ 1/sqrt(N)
        else:
            assert r == pytest.approx(math.sqrt(1 - Kc / k), abs=0.03)  # Kuramoto's exact result


def test_kuramoto_matrix_coupling_equals_mean_field():
    g = torch.Generator().manual_seed(1)
    th = torch.rand(3, 7, generator=g, dtype=torch.float64) * 6
    om = torch.randn(7, generator=g, dtype=torch.float64)
    a, _ = kuramoto_step(th, None, KuramotoParams(om, 1.3), 0.1)
    b, _ = kuramoto_step(th, None, KuramotoParams(om, torch.full((7, 7), 1.3 / 7, dtype=torch.float64)), 0.1)
    assert torch.allclose(a, b)


def test_akorn_fc_energy_descends_with_symmetric_coupling_and_stays_on_sphere():
    torch.manual_seed(0)
    layer = AKOrNLayer(AKOrNConfig(channels=16, osc_dim=4, coupling="fc", n_steps=30, gamma=0.05, learn_omega=False))
    with torch.no_grad():
        layer.omega_raw.zero_()
        W = torch.randn(16, 16)
        layer.J.weight.copy_((W + W.T) / 8)
    c = torch.randn(5, 16)
    x, state, E = layer(c)
    assert bool((E[1:] <= E[:-1] + 1e-5).all())
    norms = x.reshape(5, 4, 4).norm(dim=-1)
    assert torch.allclose(norms, torch.ones_like(norms), atol=1e-5)


def test_akorn_conv_is_trainable_and_checks_shapes():
    layer = AKOrNLayer(AKOrNConfig(channels=8, osc_dim=2, coupling="conv", n_steps=4))
    c = torch.randn(2, 8, 6, 6, requires_grad=True)
    x, _, E = layer(c)
    assert x.shape == c.shape and E.shape == (4, 2)
    x.pow(2).sum().backward()  # gradients reach the coupling and the stimulus
    assert layer.J.weight.grad is not None and c.grad is not None
    with pytest.raises(ValueError, match="expects input"):
        layer(torch.randn(2, 8, 6))
    with pytest.raises(ValueError, match="multiple of osc_dim"):
        AKOrNConfig(channels=9, osc_dim=2)
