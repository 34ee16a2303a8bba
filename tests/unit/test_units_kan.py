"""KAN: B-spline basis and layer equal pykan's (golden), grid extension, pruning, symbolic fits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

from neurocircuits import models
from neurocircuits.layers.cells import InputShapeError
from neurocircuits.layers.units import KAN, KANLayer, bspline_basis, fit_primitive, suggest_symbolic

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cells_pykan.npz"


@pytest.fixture(scope="module")
def gold() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as d:
        return {k: d[k] for k in d.files}


@pytest.mark.parametrize("k,g", [(3, 5), (2, 7), (1, 4)])
def test_bspline_basis_equals_pykan(gold, k, g):
    p = f"basis_k{k}_g{g}."
    basis = bspline_basis(torch.tensor(gold[p + "x"]), torch.tensor(gold[p + "grid"]), k)
    assert basis.shape == gold[p + "B"].shape
    np.testing.assert_allclose(basis.numpy(), gold[p + "B"], atol=1e-14)


def test_kan_layer_equals_pykan_layer(gold):
    layer = KANLayer(3, 2, grid_size=5, spline_order=3, dtype=torch.float64)
    with torch.no_grad():
        for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
            getattr(layer, name).copy_(torch.tensor(gold[f"layer.{name}"]))
    x = torch.tensor(gold["layer.x"])
    np.testing.assert_allclose(layer(x).detach().numpy(), gold["layer.y"], atol=1e-13)
    # pykan's postacts are [batch, out, in]
    np.testing.assert_allclose(layer.edge_values(x).permute(0, 2, 1).detach().numpy(), gold["layer.postacts"], atol=1e-13)


def test_basis_partition_of_unity_inside_grid():
    layer = KANLayer(2, 1, grid_size=7, spline_order=3, dtype=torch.float64)
    x = torch.rand(100, 2, dtype=torch.float64) * 1.98 - 0.99
    torch.testing.assert_close(layer.basis(x).sum(-1), torch.ones(100, 2, dtype=torch.float64))


def test_grid_extension_preserves_the_function():
    torch.manual_seed(0)
    m = models.create_model("kan", widths=[2, 3, 1], grid=3, dtype=torch.float64)
    with torch.no_grad():
        for layer in m.layers:
            layer.coef.normal_()
    x = torch.rand(2000, 2, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        before = m(x)
    m.refine(12, x)
    assert m.grid_size == 12 and m.layers[1].coef.shape[-1] == 15
    # a finer cubic-spline grid represents the old function almost exactly on the samples
    with torch.no_grad():
        after = m(x)
    assert float((after - before).abs().max()) < 2e-2 * float(before.abs().max())
    assert float(torch.sqrt(((after - before) ** 2).mean())) < 2e-3 * float(before.std())


def test_prune_removes_planted_dead_hidden_nodes():
    torch.manual_seed(0)
    m = KAN([2, 4, 1], grid=5, dtype=torch.float64)
    with torch.no_grad():  # hidden nodes 1 and 3 receive nothing / send nothing; the others are strong
        for layer in m.layers:
            layer.coef.normal_()
            layer.scale_base.fill_(1.0)
        m.layers[0].mask[:, 1] = 0  # node 1: silent (no inputs, no outputs)
        m.layers[1].mask[1, :] = 0
        m.layers[1].mask[3, :] = 0  # node 3: receives input but feeds nothing
    x = torch.rand(500, 2, dtype=torch.float64) * 2 - 1
    p = m.prune(x)
    assert p.widths == [2, 2, 1]
    torch.testing.assert_close(p(x), m(x))


def test_symbolic_fit_recovers_planted_primitive_and_parameters():
    x = torch.linspace(-1, 1, 400, dtype=torch.float64)
    y = 0.7 * torch.sin(2.5 * x + 0.3) - 0.2
    fit = fit_primitive(x, y, "sin")
    assert fit.r2 > 1 - 1e-6
    assert abs(fit.a) == pytest.approx(2.5, abs=1e-2) and abs(fit.c) == pytest.approx(0.7, abs=1e-2)
    assert fit.d == pytest.approx(-0.2, abs=1e-3)
    recon = fit.c * torch.sin(fit.a * x + fit.b) + fit.d
    assert float((recon - y).abs().max()) < 1e-3
    ranked = suggest_symbolic(x, 3.0 * (x - 0.2) ** 2 + 1.0)
    assert ranked[0].name == "x^2"
    assert suggest_symbolic(x, torch.exp(1.5 * x))[0].name == "exp"


def test_symbolic_formula_matches_forward():
    m = KAN([2, 1, 1], grid=5, dtype=torch.float64)
    m.layers[0].fix_symbolic(0, 0, "sin", math.pi, 0.0, 1.0, 0.0)
    m.layers[0].fix_symbolic(1, 0, "x^2", 1.0, 0.0, 1.0, 0.0)
    m.layers[1].fix_symbolic(0, 0, "exp", 1.0, 0.0, 1.0, 0.0)
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    expected = torch.exp(torch.sin(math.pi * x[:, :1]) + x[:, 1:] ** 2)
    torch.testing.assert_close(m(x), expected)
    (expr,) = m.symbolic_formula(["x", "y"])
    assert {str(f.func) for f in expr.atoms(sympy.Function)} == {"exp", "sin"}
    fn = sympy.lambdify(sympy.symbols("x y"), expr, "numpy")
    np.testing.assert_allclose(fn(x[:, 0].numpy(), x[:, 1].numpy()), expected[:, 0].numpy(), rtol=1e-3)
    with pytest.raises(ValueError, match="auto_symbolic"):
        KAN([2, 1], grid=3).symbolic_formula()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kan_dtype_grad_and_errors(dtype):
    m = models.create_model("kan", widths=[2, 5, 1], grid=5, spline_order=3, dtype=dtype)
    x = m.example_input(8)
    y = m(x)
    assert y.shape == (8, 1) and y.dtype == dtype
    y.sum().backward()
    assert m.layers[0].coef.grad is not None and m.layers[0].coef.grad.abs().sum() > 0
    out, reg = m.forward_with_reg(x)
    torch.testing.assert_close(out, m(x))
    assert reg > 0
    with pytest.raises(InputShapeError, match=r"\[\.\.\., 2\]"):
        m(torch.randn(8, 3, dtype=dtype))
    with pytest.raises(ValueError, match="widths"):
        KAN([3])


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bspline_gradient_is_the_analytic_derivative(k):
    """The hand-written backward of the basis equals the derivative of the Cox-de Boor recursion
    (autograd through the recursion with a knot grid that itself requires grad) and finite differences."""
    torch.manual_seed(k)
    x = (torch.rand(64, 3, dtype=torch.float64) * 1.9 - 0.95).requires_grad_()
    grid = KANLayer(3, 1, grid_size=6, spline_order=k, dtype=torch.float64).grid
    w = torch.randn(64, 3, 6 + k, dtype=torch.float64)
    (g_fast,) = torch.autograd.grad((bspline_basis(x, grid, k) * w).sum(), x)
    (g_ref,) = torch.autograd.grad((bspline_basis(x, grid.clone().requires_grad_(), k) * w).sum(), x)
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda z: bspline_basis(z, grid, k), (x[:8].detach().requires_grad_(),))


def test_cached_first_layer_basis_gives_the_same_output_and_update_grid_keeps_the_parameter():
    torch.manual_seed(0)
    m = models.create_model("kan", widths=[2, 3, 1], grid=5, dtype=torch.float64)
    x = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(m(x, m.layers[0].basis(x)), m(x), rtol=0, atol=0)
    coef = m.layers[0].coef
    m.update_grid(x)
    assert m.layers[0].coef is coef  # an optimiser holding it keeps working
    m.refine(9, x)
    assert m.layers[0].coef.shape == (2, 3, 12)


def test_fit_plateau_stop_and_multistart_pick_the_best_start():
    from neurocircuits.models.kan import _plateaued, fit_kan, fit_kan_multistart

    assert _plateaued([1.0, 0.5, 0.499, 0.498, 0.4985], patience=3, tol=1e-2)
    assert not _plateaued([1.0, 0.5, 0.49, 0.48, 0.47], patience=3, tol=1e-2)
    x = torch.rand(200, 2, dtype=torch.float64) * 2 - 1
    y = torch.sin(math.pi * x[:, :1]) + x[:, 1:] ** 2

    def make(seed: int) -> KAN:
        return models.create_model("kan", widths=[2, 1, 1], grid=3, seed=seed, dtype=torch.float64)

    res = fit_kan(make(0), x, y, steps=20, plateau_steps=3, plateau_tol=0.5)
    assert len(res.train_rmse) < 20 and _plateaued(res.train_rmse, 3, 0.5)
    best, scores = fit_kan_multistart(make, x, y, starts=3, steps=2, seed=5)
    assert len(scores) == 3
    with torch.no_grad():
        assert math.isclose(float(torch.sqrt(((best(x) - y) ** 2).mean())), min(scores), rel_tol=1e-12)
    with pytest.raises(ValueError, match="plateau_steps"):
        fit_kan(make(0), x, y, plateau_steps=-1)
