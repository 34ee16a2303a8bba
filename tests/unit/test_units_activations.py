"""Rational (Pade) activations (row 137) and the hysteresis ReLU's gradient gate (row 135, layer only)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neurocircuits.layers.units import HeLU, RationalActivation


def test_rational_init_approximates_leaky_relu_and_has_no_poles():
    r = RationalActivation(dtype=torch.float64)
    x = torch.linspace(-3, 3, 101, dtype=torch.float64)
    target = torch.where(x > 0, x, 0.01 * x)
    err = (r(x) - target).abs()
    assert err.max() < 0.2 and err.mean() < 0.06
    with torch.no_grad():
        r.b.fill_(-5.0)  # a denominator that would vanish without the safe |.| form
    assert torch.isfinite(r(torch.linspace(-10, 10, 1001, dtype=torch.float64))).all()
    per_channel = RationalActivation(channels=4)
    assert per_channel(torch.randn(3, 4)).shape == (3, 4)
    with pytest.raises(ValueError, match="channels"):
        per_channel(torch.randn(3, 5))


def test_helu_forward_is_relu_and_gradient_passes_above_minus_alpha():
    x = torch.tensor([-2.0, -0.7, -0.2, 0.0, 0.5], requires_grad=True)
    y = HeLU(alpha=1.0)(x)
    torch.testing.assert_close(y, torch.relu(x))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="alpha"):
        HeLU(-1.0)


@pytest.mark.slow
def test_rational_mlp_fits_high_frequency_target_with_ten_times_fewer_parameters_than_relu():
    x = torch.linspace(-1, 1, 400).unsqueeze(-1)
    xt = torch.rand(400, 1, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.sin(3 * math.pi * z) * torch.exp(-z**2)

    def fit(model: nn.Module) -> float:
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(2000):
            loss = ((model(x) - f(x)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return float(((model(xt) - f(xt)) ** 2).mean())

    torch.manual_seed(0)
    rational = nn.Sequential(nn.Linear(1, 8), RationalActivation(), nn.Linear(8, 8), RationalActivation(), nn.Linear(8, 1))
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
    n_rat, n_relu = (sum(p.numel() for p in m.parameters()) for m in (rational, relu))
    assert 9 * n_rat < n_relu
    assert fit(rational) < fit(relu)  # measured: 1.0e-5 vs 2.2e-4 test MSE


def test_pade_linear_starts_as_polynomial_and_reduces_to_linear():
    from neurocircuits.layers.units import PadeLinear

    layer = PadeLinear(3, 2, m=1, n=1, dtype=torch.float64)
    with torch.no_grad():
        layer.B.zero_()
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.A[0].T + layer.c)  # B = 0: a linear layer
    with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
        layer(torch.randn(5, 4, dtype=torch.float64))


@pytest.mark.slow
def test_pade_neuron_net_fits_runge_function_better_than_same_size_relu_net():
    """Row 15: Pade neurons fit a rational target (Runge's 1 / (1 + 25 x^2)) far better than a
    ReLU net with the same number of hidden neurons."""
    from neurocircuits.layers.units import PadeLinear

    x = torch.linspace(-1, 1, 300, dtype=torch.float64).unsqueeze(-1)
    xt = torch.rand(300, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 2 - 1

    def f(z: torch.Tensor) -> torch.Tensor:
        return 1 / (1 + 25 * z**2)

    def fit(model: nn.Module) -> float:
        opt = torch.optim.Adam(model.parameters(), 1e-2)
        for _ in range(1500):
            loss = ((model(x) - f(x)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return float(((model(xt) - f(xt)) ** 2).mean())

    torch.manual_seed(0)
    pade = nn.Sequential(PadeLinear(1, 4, m=3, n=2, dtype=torch.float64), nn.Linear(4, 1, dtype=torch.float64))
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Linear(1, 4, dtype=torch.float64), nn.ReLU(), nn.Linear(4, 1, dtype=torch.float64))
    mse_pade, mse_relu = fit(pade), fit(relu)
    assert mse_pade < 0.1 * mse_relu, (mse_pade, mse_relu)
