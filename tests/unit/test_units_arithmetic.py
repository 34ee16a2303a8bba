"""NAU / NMU (catalog row 157): NAU learns exact addition and extrapolates; NMU learns a product of
an input subset."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers.cells import InputShapeError
from neurocircuits.layers.units import NAU, NMU


def _fit(unit, x, y, steps=3000, lamb=0.1, lr=0.02):
    opt = torch.optim.Adam(unit.parameters(), lr)
    for i in range(steps):
        reg = unit.regularization() * (lamb if i > steps // 3 else 0.0)  # sparsity after a warm-up
        loss = ((unit(x) - y) ** 2).mean() + reg
        opt.zero_grad()
        loss.backward()
        opt.step()
        unit.clamp_()


def test_nau_learns_exact_addition_and_extrapolates():
    torch.manual_seed(0)
    x = torch.rand(256, 6, dtype=torch.float64) * 2 - 1
    target = torch.tensor([[1.0, 1.0, 0.0, -1.0, 0.0, 0.0]], dtype=torch.float64)  # x0 + x1 - x3
    unit = NAU(6, 1, dtype=torch.float64)
    _fit(unit, x, x @ target.T)
    torch.testing.assert_close(unit.weight.detach().round(), target)
    assert (unit.weight.detach() - target).abs().max() < 5e-3
    big = torch.rand(100, 6, dtype=torch.float64) * 200 - 100  # 100x the training range
    with torch.no_grad():
        err = (unit(big) - big @ target.T).abs().mean() / (big @ target.T).abs().mean()
    assert err < 1e-2


def test_nmu_learns_product_of_a_subset_and_extrapolates():
    torch.manual_seed(0)
    x = torch.rand(256, 4, dtype=torch.float64) + 0.5
    y = (x[:, 0] * x[:, 2]).unsqueeze(-1)
    unit = NMU(4, 1, dtype=torch.float64)
    _fit(unit, x, y)
    torch.testing.assert_close(unit.weight.detach().round(), torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=torch.float64))
    big = torch.rand(100, 4, dtype=torch.float64) * 10 + 2
    rel = ((unit(big) - (big[:, 0] * big[:, 2]).unsqueeze(-1)).abs() / (big[:, 0] * big[:, 2]).unsqueeze(-1)).max()
    assert rel < 5e-2


def test_shape_errors():
    with pytest.raises(InputShapeError):
        NAU(3, 1)(torch.randn(2, 4))
    with pytest.raises(InputShapeError):
        NMU(3, 1)(torch.randn(2, 4))
