"""Event-time gradients of a noisy LIF and MMD fitting of its spike-time distribution (catalog row 101)."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers.spiking import mmd_rbf, noisy_lif_event_times


def test_event_time_gradient_matches_finite_difference_and_theory():
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(16, 200, generator=g, dtype=torch.float64)
    mu = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    th = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    t = noisy_lif_event_times(mu, th, noise, n_spikes=2)
    gmu, gth = torch.autograd.grad(t[:, 0].sum(), [mu, th])
    eps = 1e-6
    with torch.no_grad():
        fd_mu = (noisy_lif_event_times(1.5 + eps, 1.0, noise, n_spikes=2)[:, 0].sum()
                 - noisy_lif_event_times(1.5 - eps, 1.0, noise, n_spikes=2)[:, 0].sum()) / (2 * eps)
        fd_th = (noisy_lif_event_times(1.5, 1.0 + eps, noise, n_spikes=2)[:, 0].sum()
                 - noisy_lif_event_times(1.5, 1.0 - eps, noise, n_spikes=2)[:, 0].sum()) / (2 * eps)
    assert gmu.item() == pytest.approx(fd_mu.item(), rel=1e-5)
    assert gth.item() == pytest.approx(fd_th.item(), rel=1e-5)
    # noiseless limit: t* = -tau ln(1 - theta/mu), so dt*/dtheta = tau / (mu - theta) (up to the Euler grid)
    t0 = noisy_lif_event_times(mu, th, torch.zeros(1, 400, dtype=torch.float64), sigma=0.0, dt_ms=0.05, n_spikes=1)
    (d_th,) = torch.autograd.grad(t0.sum(), th)
    assert t0.item() == pytest.approx(10.0 * torch.log(torch.tensor(3.0)).item(), rel=1e-2)
    assert d_th.item() == pytest.approx(10.0 / 0.5, rel=2e-2)


def test_mmd_fit_recovers_drive_and_threshold():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    feat = lambda t: torch.cat([t[:, :1], t.diff(dim=1)], 1)  # noqa: E731  first spike time + ISIs
    target = feat(noisy_lif_event_times(1.5, 1.0, torch.randn(192, 200, generator=g)))
    mu = torch.tensor(1.2, requires_grad=True)
    th = torch.tensor(1.3, requires_grad=True)
    opt = torch.optim.Adam([mu, th], lr=0.03)
    losses, trace = [], []
    for it in range(70):
        loss = mmd_rbf(feat(noisy_lif_event_times(mu, th, torch.randn(192, 200, generator=g))), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        trace.append((mu.item(), th.item()))
    assert sum(losses[-10:]) / 10 < 0.2 * losses[0]
    mu_hat = sum(m for m, _ in trace[-20:]) / 20
    th_hat = sum(t for _, t in trace[-20:]) / 20
    assert mu_hat == pytest.approx(1.5, rel=0.1)
    assert th_hat == pytest.approx(1.0, rel=0.1)


def test_mmd_is_zero_in_expectation_for_equal_distributions():
    g = torch.Generator().manual_seed(0)
    a, b, c = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g) + 1.0
    assert abs(mmd_rbf(a, b).item()) < 0.02 < mmd_rbf(a, c).item()
