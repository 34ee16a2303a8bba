"""A KAN fits exp(sin(pi x) + y^2), is pruned to [2, 1, 1], refined to grid 20, and returns the formula.

    OMP_NUM_THREADS=1 python examples/cells_kan_symbolic.py      (about a minute on one core)
"""

import math

import torch

from neurocircuits import models
from neurocircuits.models.kan import fit_kan, rmse

torch.set_default_dtype(torch.float64)
gen = torch.Generator().manual_seed(0)
f = lambda x: torch.exp(torch.sin(math.pi * x[:, :1]) + x[:, 1:] ** 2)  # noqa: E731
x_tr, x_te = torch.rand(1000, 2, generator=gen) * 2 - 1, torch.rand(1000, 2, generator=gen) * 2 - 1

kan = models.create_model("kan", widths=[2, 5, 1], grid=5, spline_order=3, seed=1)
fit_kan(kan, x_tr, f(x_tr), steps=50, lamb=0.01, lamb_entropy=10.0, update_grid_every=5)  # sparsify
kan = kan.prune(x_tr)
print("pruned widths:", kan.widths)
fit_kan(kan, x_tr, f(x_tr), steps=50, update_grid_every=5)
for grid in (10, 20):  # grid extension
    kan.refine(grid, x_tr)
    fit_kan(kan, x_tr, f(x_tr), steps=50)
    print(f"grid {grid}: test RMSE {rmse(kan, x_te, f(x_te)):.1e}")
print("symbolic edges:", [(layer, i, j, name) for layer, i, j, name, _ in kan.auto_symbolic(x_tr)])
fit_kan(kan, x_tr, f(x_tr), steps=20)
print("formula:", kan.symbolic_formula(["x", "y"])[0])
