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


def _digits_mlp_run(act: torch.nn.Module, bias0: float, seed: int, steps: int = 500) -> tuple[float, float]:
    """Train a 64-64-64-10 MLP on digits (SGD 0.05, momentum 0.9, batch 64) with hidden biases
    initialised to ``bias0``; return (fraction of hidden units never active on the training set,
    held-out accuracy)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32)
    y = torch.tensor(d.target)
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1200], perm[1200:]
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), act, torch.nn.Linear(64, 64), act, torch.nn.Linear(64, 10))
    with torch.no_grad():
        net[0].bias.fill_(bias0)
        net[2].bias.fill_(bias0)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = tr[torch.randint(0, len(tr), (64,), generator=gen)]
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        h1 = net[0](x[tr])
        h2 = net[2](torch.relu(h1))
        dead = float(torch.cat([(h1 > 0).sum(0) == 0, (h2 > 0).sum(0) == 0]).float().mean())
        acc = float((net(x[te]).argmax(1) == y[te]).float().mean())
    return dead, acc


@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.slow)])
def test_helu_revives_dying_relu_units_and_keeps_accuracy(seed):
    """Row 135: hidden biases initialised at -1 leave most ReLU units (nearly) silent; ReLU units
    that never fire get no gradient and stay dead, HeLU's backward gate (x > -1) revives them."""
    dead_relu, acc_relu = _digits_mlp_run(torch.nn.ReLU(), -1.0, seed)
    dead_helu, acc_helu = _digits_mlp_run(HeLU(alpha=1.0), -1.0, seed)
    assert dead_relu > 0.15 and dead_helu < 0.05, (dead_relu, dead_helu)
    assert acc_helu > 0.9 and acc_helu > acc_relu + 0.3, (acc_relu, acc_helu)
    if seed == 0:  # control: with the usual zero-bias init no unit dies and HeLU costs nothing
        dead_c, acc_c = _digits_mlp_run(torch.nn.ReLU(), 0.0, seed)
        dead_hc, acc_hc = _digits_mlp_run(HeLU(alpha=1.0), 0.0, seed)
        assert dead_c == dead_hc == 0.0 and abs(acc_c - acc_hc) < 0.03, (acc_c, acc_hc)


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
