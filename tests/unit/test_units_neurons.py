"""APTx neurons (row 158) and quadratic neurons (row 127)."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits, make_circles
from torch import nn

from neurocircuits.layers.cells import InputShapeError
from neurocircuits.layers.units import APTxLinear, QuadraticLinear, relinear_param_groups


def _digits():
    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target)
    return x[:1400], y[:1400], x[1400:], y[1400:]


def _train(model: nn.Module, x, y, epochs: int, lr: float = 3e-3, groups=None) -> None:
    opt = torch.optim.Adam(groups or model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def test_aptx_formula():
    layer = APTxLinear(3, 2, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)
    manual = torch.stack([((layer.alpha[j] + torch.tanh(layer.beta[j] * x)) * layer.gamma[j] * x).sum(-1) + layer.delta[j]
                          for j in range(2)], -1)
    torch.testing.assert_close(layer(x), manual)
    with pytest.raises(InputShapeError):
        layer(torch.randn(5, 4, dtype=torch.float64))


def test_aptx_network_reaches_mlp_accuracy_on_digits_in_a_few_epochs():
    xtr, ytr, xte, yte = _digits()
    accs = {}
    for name, make in (("aptx", lambda: nn.Sequential(APTxLinear(64, 32), APTxLinear(32, 10))),
                       ("mlp", lambda: nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)))):
        torch.manual_seed(0)
        model = make()
        _train(model, xtr, ytr, epochs=5)
        with torch.no_grad():
            accs[name] = (model(xte).argmax(-1) == yte).float().mean().item()
    assert accs["aptx"] > 0.85 and accs["aptx"] >= accs["mlp"] - 0.02, accs  # 5 epochs; held-out writers


def test_quadratic_neuron_starts_linear_under_relinear_init():
    q = QuadraticLinear(3, 2, dtype=torch.float64)
    x = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(q(x), q.r(x))
    groups = relinear_param_groups(nn.Sequential(q, nn.Linear(2, 1)), lr=1e-2, quadratic_lr_scale=0.1)
    assert [g["lr"] for g in groups] == [1e-2, 1e-3]
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in q.parameters()) + 3


def test_one_quadratic_neuron_separates_concentric_circles_where_relu_neurons_fail():
    x, y = make_circles(800, noise=0.05, factor=0.5, random_state=0)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    accs = {}
    for name, make in (("quadratic", lambda: nn.Sequential(QuadraticLinear(2, 1), nn.Linear(1, 2))),
                       ("relu", lambda: nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)))):
        torch.manual_seed(0)
        model = make()
        groups = relinear_param_groups(model, 3e-2, 0.5) if name == "quadratic" else None
        _train(model, x[:600], y[:600], epochs=60, lr=3e-2, groups=groups)
        with torch.no_grad():
            accs[name] = (model(x[600:]).argmax(-1) == y[600:]).float().mean().item()
    assert accs["quadratic"] > 0.97 and accs["relu"] < 0.9, accs
