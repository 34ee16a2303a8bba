"""Row 37: functional layers (basis-expanded weight functions, functional convolution)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.units import FunctionalCNN, FunctionalConv1d, FunctionalLinear
from neurocircuits.models import create_model

D = torch.float64


@pytest.mark.parametrize("basis", ["bspline", "fourier"])
def test_functional_linear_integrates_against_its_weight_function(basis: str) -> None:
    lay = FunctionalLinear(1, 1, n_points=201, n_basis=8, basis=basis, dtype=D)
    with torch.no_grad():
        lay.coef.zero_()
        if basis == "fourier":
            lay.coef[0, 0, 0] = 1.0                                                 # beta(t) = 1
        else:
            lay.coef[0, 0] = 1.0                                                    # partition of unity
    assert torch.allclose(lay.weight_functions(), torch.ones(1, 1, 201, dtype=D), atol=1e-12)
    t = torch.linspace(0, 1, 201, dtype=D)
    out = lay((t**2)[None, None])                                                   # int_0^1 t^2 dt = 1/3
    assert out.item() == pytest.approx(1 / 3, abs=1e-4)
    if basis == "fourier":
        with torch.no_grad():
            lay.coef.zero_()
            lay.coef[0, 0, 1] = 1.0                                                 # beta = sin(2 pi t)
        assert lay(torch.sin(2 * math.pi * t)[None, None]).item() == pytest.approx(0.5, abs=1e-6)


def test_functional_convolution_is_a_conv_with_a_smooth_kernel_and_max_pooling_is_shift_invariant() -> None:
    torch.manual_seed(0)
    conv = FunctionalConv1d(1, 4, kernel_points=21, n_basis=6, dt=0.01, dtype=D)
    kernel = conv.coef @ conv.quad_basis                                        # [4, 1, 21]
    assert torch.allclose(conv(torch.eye(21, dtype=D)[:, None])[:, :, 0].T, kernel[:, 0], atol=1e-12)
    net = FunctionalCNN(n_points=100, dtype=D)
    t = torch.arange(100, dtype=D)
    x = torch.exp(-((t - 40) ** 2) / 8.0)[None, None]
    shifted = torch.exp(-((t - 55) ** 2) / 8.0)[None, None]
    assert torch.allclose(net(x), net(shifted), atol=1e-10)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"\[batch, 1, 100\]"):
        FunctionalCNN()(torch.randn(2, 100))
    with pytest.raises(ValueError, match="n_basis >= 4"):
        FunctionalLinear(1, 1, 50, n_basis=3)
    with pytest.raises(KeyError, match="bspline"):
        FunctionalLinear(1, 1, 50, basis="wavelet")


def shifted_bumps(n: int, gen: torch.Generator, points: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Three bump shapes (narrow, wide, odd wiggle) at random positions, amplitudes and linear baselines."""
    t = torch.linspace(0, 1, points)
    y = torch.randint(0, 3, (n,), generator=gen)
    z = t - (torch.rand(n, 1, generator=gen) * 0.7 + 0.15)
    amp = torch.rand(n, 1, generator=gen) * 0.4 + 0.8
    shapes = torch.stack([torch.exp(-z**2 / (2 * 0.03**2)), torch.exp(-z**2 / (2 * 0.08**2)),
                          -z / 0.04 * torch.exp(-z**2 / (2 * 0.04**2) + 0.5)], 1)[torch.arange(n), y]
    base = (torch.rand(n, 1, generator=gen) - 0.5) * 0.5 * t + (torch.rand(n, 1, generator=gen) - 0.5) * 0.5
    return (amp * shapes + base + 0.1 * torch.randn(n, points, generator=gen))[:, None], y


def _train(net: torch.nn.Module, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    x, y = shifted_bumps(150, gen)
    xt, yt = shifted_bumps(1000, gen)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(300):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (net(xt).argmax(-1) == yt).float().mean().item()


@pytest.mark.parametrize("seed", [0, 1])
def test_functional_cnn_classifies_shifted_bumps_better_than_an_mlp_on_raw_samples(seed: int) -> None:
    torch.manual_seed(seed)
    fnn = create_model("functional_cnn", n_points=100, classes=3)                  # 99 parameters
    torch.manual_seed(seed)
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(100, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    acc_fnn, acc_mlp = _train(fnn, seed), _train(mlp, seed)
    assert acc_fnn > 0.88, acc_fnn
    assert acc_fnn > acc_mlp + 0.05, (acc_fnn, acc_mlp)
