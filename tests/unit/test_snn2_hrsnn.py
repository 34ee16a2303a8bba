"""HRSNN and the maximal-Lyapunov-exponent estimator behind Lyapunov noise pruning (row 76)."""

from __future__ import annotations

import math

import pytest
import torch

from neurocircuits.analysis.lyapunov_snn import (
    activity_prune,
    hrsnn_lyapunov,
    max_lyapunov_exponent,
    noise_covariance,
    noise_prune,
    spike_divergence,
)
from neurocircuits.models import create_model
from neurocircuits.models.hrsnn import HRSNN, fit_ridge_readout


@pytest.mark.parametrize("scale", [0.7, 1.3])
def test_linear_network_exponent_is_log_spectral_radius(scale):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(30, 30, generator=g, dtype=torch.float64) / math.sqrt(30)
    a = a * scale / torch.linalg.eigvals(a).abs().max()
    v0 = torch.randn(6, 30, generator=g, dtype=torch.float64)
    est = max_lyapunov_exponent(lambda v, x: v @ a.T + x, v0, torch.zeros(400, 6, 30, dtype=torch.float64), transient=200)
    assert est.exponent == pytest.approx(math.log(scale), abs=2e-3)
    # additive input does not change the exponent of a linear map
    noisy = torch.randn(400, 6, 30, generator=g, dtype=torch.float64)
    assert max_lyapunov_exponent(lambda v, x: v @ a.T + x, v0, noisy, transient=200).exponent == pytest.approx(est.exponent, abs=1e-9)


def test_uncoupled_hrsnn_exponent_is_slowest_leak():
    m = HRSNN(n_neurons=40, dtype=torch.float64)
    m.W.zero_()
    m.tau_mem_ms.clamp_(max=10.0)
    m.tau_mem_ms[7] = 50.0  # one slow neuron, well separated: J = diag(a), lambda = log a_7 = -dt / 50
    est = hrsnn_lyapunov(m, n_steps=300)
    assert est.exponent == pytest.approx(-m.cfg.dt_ms / 50.0, rel=1e-6)
    assert est.sem < 1e-6


def test_exponent_sign_follows_recurrent_gain_and_spikes_agree():
    weak = HRSNN(n_neurons=200, gain=1.0, dtype=torch.float64)
    strong = HRSNN(n_neurons=200, gain=8.0, dtype=torch.float64)
    lw, ls = hrsnn_lyapunov(weak), hrsnn_lyapunov(strong)
    assert lw.exponent + 3 * lw.sem < 0 < ls.exponent - 3 * ls.sem
    x = torch.randn(600, 1, 1, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert spike_divergence(weak, x) == 0.0
    assert spike_divergence(strong, x) > 0.01


def test_hrsnn_shapes_errors_and_registry():
    m = create_model("hrsnn", n_neurons=20, n_outputs=3, dtype=torch.float64)
    y, st = m(torch.rand(7, 4, 1, dtype=torch.float64))
    assert y.shape == (7, 4, 3) and st.v.shape == (4, 20)
    assert float(m.tau_mem_ms.max()) <= 50.0 and float(m.tau_mem_ms.min()) >= 2.0  # heterogeneous range (2-50 ms)
    assert float(m.tau_mem_ms.std()) > 1.0
    with pytest.raises(ValueError, match="time-first"):
        m(torch.rand(4, 7))
    with pytest.raises(ValueError, match="shape"):
        m.with_recurrent_weights(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="connectivity"):
        HRSNN(connectivity=0.0)
    # soft reset: an uncoupled neuron with constant drive I > theta fires at rate ~ (1-a) I / theta per step
    m.W.zero_()
    m.b.zero_()
    m.W_in.fill_(1.0)
    spk, _, _ = m.run(torch.full((4000, 1, 1), 3.0, dtype=torch.float64))
    a = m.decay
    # the leak makes the soft-reset IF a rate coder with rate < (1 - a) I / theta
    assert torch.all(spk.mean((0, 1)) <= (1 - a) * 3.0 + 1e-3)
    assert torch.all(spk.mean((0, 1)) > 0)


def test_noise_prune_keeps_fraction_and_prefers_covariance_score():
    m = HRSNN(n_neurons=60, gain=2.0, dtype=torch.float64)
    cov = noise_covariance(m, n_steps=400)
    assert torch.allclose(cov, cov.T) and bool((torch.linalg.eigvalsh(cov) > -1e-9).all())
    wp = noise_prune(m.W, cov, 0.25)
    nz = int((m.W != 0).sum())
    assert int((wp != 0).sum()) == round(0.25 * nz)
    kept = wp != 0
    assert torch.equal(wp[kept], m.W[kept])  # kept synapses unchanged
    d = torch.diagonal(cov)
    score = m.W.abs() * (d[:, None] + d[None, :] - 2 * torch.sign(m.W) * cov).clamp_min(0)
    assert float(score[kept].min()) >= float(score[(m.W != 0) & ~kept].max())
    ws = noise_prune(m.W, cov, 0.25, sample=True)
    assert abs(int((ws != 0).sum()) - 0.25 * nz) < 4 * math.sqrt(nz)
    ap = activity_prune(m, 0.25, n_steps=200)
    assert int((ap.W != 0).sum()) == round(0.25 * nz)


def test_ridge_readout_recovers_linear_map():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 5, generator=g, dtype=torch.float64)
    w_true = torch.randn(5, 2, generator=g, dtype=torch.float64)
    w, c = fit_ridge_readout(x, x @ w_true + 0.5, ridge=1e-10)
    assert torch.allclose(w, w_true, atol=1e-6) and torch.allclose(c, torch.full((2,), 0.5, dtype=torch.float64), atol=1e-6)


def test_lyapunov_noise_prune_reaches_target_exponent_at_requested_sparsity():
    from neurocircuits.analysis.lyapunov_snn import lyapunov_noise_prune

    dense = HRSNN(n_neurons=80, gain=8.0, connectivity=0.3, dtype=torch.float64)
    kw = {"n_steps": 250, "batch": 4}
    pruned, info = lyapunov_noise_prune(dense, 0.5, target_exponent=-0.008, n_bisect=8, lyap_kw=kw)
    assert info["exponent"] <= -0.008
    assert 0 < info["gain"] < 8.0
    nz = int((dense.W != 0).sum())
    assert int((pruned.W != 0).sum()) == round(0.5 * nz)
    # the bisection stops at the edge: a 20% larger gain crosses the target
    louder = dense.with_recurrent_weights(pruned.W * 1.2)
    assert hrsnn_lyapunov(louder, **kw).exponent > -0.008
    assert torch.equal(dense.tau_mem_ms, pruned.tau_mem_ms) and torch.equal(dense.W_in, pruned.W_in)
