"""Catalog experiments for rows 134 (LTC) and 107 (KAN). Slow: run with ``-m slow``."""

from __future__ import annotations

import math

import pytest
import sympy
import torch
from torch import nn

from neurocircuits import models
from neurocircuits.layers.cells import LTC, fully_connected
from neurocircuits.models.kan import fit_kan, rmse


def _damped_oscillators(n: int, steps: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(steps + 1) * 0.3
    omega = 1.0 + 0.5 * torch.rand(n, 1, generator=gen)
    gamma = 0.05 + 0.1 * torch.rand(n, 1, generator=gen)
    phase = 2 * math.pi * torch.rand(n, 1, generator=gen)
    s = torch.exp(-gamma * t) * torch.cos(omega * t + phase)
    return s[:, :-1, None], s[:, 1:, None]


class _VanillaRNN(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(1, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.out(self.rnn(x)[0]), None


def _train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 0.01) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(5)
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (32,), generator=gen)
        loss = ((model(x[idx])[0] - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.slow
def test_ltc_beats_equal_size_rnn_on_damped_oscillator_and_stays_in_bounds():
    gen = torch.Generator().manual_seed(0)
    x_tr, y_tr = _damped_oscillators(256, 48, gen)
    x_te, y_te = _damped_oscillators(256, 48, gen)
    results = {}
    for name, make in (("ltc", lambda: LTC(1, fully_connected(1, 8, output_size=1))), ("rnn", lambda: _VanillaRNN(8))):
        torch.manual_seed(1)
        model = make()
        _train(model, x_tr, y_tr, steps=300)
        with torch.no_grad():
            results[name] = float(((model(x_te)[0] - y_te) ** 2).mean())
        if name == "ltc":
            ltc = model
    assert results["ltc"] < results["rnn"], results
    with torch.no_grad():  # the trained LTC's states, even on 20x larger inputs, stay in the proven bounds
        _, _, vs = ltc(x_te * 20, return_states=True)
        lo, hi = ltc.state_bounds(torch.zeros(1, ltc.units))
    assert (vs >= lo - 1e-6).all() and (vs <= hi + 1e-6).all()


@pytest.mark.slow
def test_kan_fits_formula_after_grid_extension_recovers_it_and_beats_larger_mlp():
    torch.set_default_dtype(torch.float64)
    try:
        gen = torch.Generator().manual_seed(0)

        def f(x: torch.Tensor) -> torch.Tensor:
            return torch.exp(torch.sin(math.pi * x[:, :1]) + x[:, 1:] ** 2)

        x_tr = torch.rand(1000, 2, generator=gen) * 2 - 1
        x_te = torch.rand(1000, 2, generator=gen) * 2 - 1
        y_tr, y_te = f(x_tr), f(x_te)
        # 1. sparsity-regularised [2, 5, 1] -> prune -> [2, 1, 1]
        kan = models.create_model("kan", widths=[2, 5, 1], grid=5, spline_order=3, seed=1)
        fit_kan(kan, x_tr, y_tr, steps=50, lamb=0.01, lamb_entropy=10.0, update_grid_every=5)
        kan = kan.prune(x_tr)
        assert kan.widths == [2, 1, 1]
        # 2. retrain, then grid extension 5 -> 10 -> 20
        fit_kan(kan, x_tr, y_tr, steps=50, update_grid_every=5)
        for grid in (10, 20):
            kan.refine(grid, x_tr)
            fit_kan(kan, x_tr, y_tr, steps=50)
        kan_rmse = rmse(kan, x_te, y_te)
        assert kan_rmse < 1e-3
        # 3. a larger MLP with the same optimiser does worse
        torch.manual_seed(0)
        mlp = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
        n_kan = sum(p.numel() for p in kan.parameters())
        assert sum(p.numel() for p in mlp.parameters()) > 5 * n_kan
        opt = torch.optim.LBFGS(mlp.parameters(), lr=1.0, history_size=10, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = ((mlp(x_tr) - y_tr) ** 2).mean()
            loss.backward()
            return loss

        for _ in range(150):
            opt.step(closure)
        assert kan_rmse < rmse(mlp, x_te, y_te)
        # 4. symbolic regression recovers exp(sin(pi x) + y^2)
        chosen = kan.auto_symbolic(x_tr)
        assert sorted(name for *_, name, _ in chosen) == ["exp", "sin", "x^2"]
        fit_kan(kan, x_tr, y_tr, steps=20)
        assert rmse(kan, x_te, y_te) < 1e-4
        (expr,) = kan.symbolic_formula(["x", "y"])
        sx, sy = sympy.symbols("x y")
        target = sympy.exp(sympy.sin(sympy.pi * sx) + sy**2)
        fn = sympy.lambdify((sx, sy), (expr - target) / target, "numpy")  # relative error
        assert abs(fn(x_te[:, 0].numpy(), x_te[:, 1].numpy())).max() < 1e-2
    finally:
        torch.set_default_dtype(torch.float32)
