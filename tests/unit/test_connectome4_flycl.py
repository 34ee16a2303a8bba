"""Row 47 (Fly-CL): the fast path is exact, and the catalog claim on class-incremental digits.

Claim (catalog row 47, as the Fly-CL paper makes it): at the same expansion width, Fly-CL matches
a ridge baseline's accuracy with lower feature multicollinearity and less training time than the
RanPAC pipeline (dense random projection + ridge with a per-task ridge search). Training time is a
wall-clock quantity and is measured in bench/connectomes.py, never asserted here; what is asserted
is the mechanism behind it: the factorisations each pipeline performs (counted, with their sizes),
and that the fast algebra gives the same numbers as the slow one.
"""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neurocircuits.models import create_model
from neurocircuits.models.flycl import (
    RANPAC_RIDGE_GRID,
    FlyCL,
    RandomProjectionRidge,
    multicollinearity,
    random_conv_features,
    ridge_validation_curve,
    select_ridge,
)


@pytest.fixture(scope="module")
def features():
    x, y = load_digits(return_X_y=True)
    return random_conv_features(torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 8, 8)), torch.tensor(y)


def _tasks(feats, labels, seed: int):
    ftr, fte, ytr, yte = train_test_split(feats, labels, test_size=0.3, random_state=seed, stratify=labels)
    tasks = [(ftr[(ytr == 2 * t) | (ytr == 2 * t + 1)], ytr[(ytr == 2 * t) | (ytr == 2 * t + 1)]) for t in range(5)]
    return ftr, tasks, fte, yte


def _train(model, tasks):
    for x, y in tasks:              # classes arrive two at a time and never come back
        model.partial_fit(x, y)
        model.fit_readout()         # a usable classifier after every task
    return model


# -- exactness of the fast path ------------------------------------------------------------------------
@pytest.mark.parametrize("n, m", [(60, 300), (400, 50)])   # dual (n < m) and primal (n >= m) branches
def test_eigen_ridge_search_equals_one_solve_per_lambda(n: int, m: int) -> None:
    g = torch.Generator().manual_seed(n)
    h = torch.relu(torch.randn(n, m, generator=g, dtype=torch.float64))
    w = torch.randn(m, 3, generator=g, dtype=torch.float64) / m ** 0.5
    targets = h @ w + 0.3 * torch.randn(n, 3, generator=g, dtype=torch.float64)
    grid = [10.0 ** e for e in range(-3, 6)]
    fast = ridge_validation_curve(h, targets, grid, method="eigen", seed=1)
    slow = ridge_validation_curve(h, targets, grid, method="solve", seed=1)
    torch.testing.assert_close(fast, slow, rtol=1e-8, atol=1e-10)
    # the search discriminates: too little and too much shrinkage both lose
    assert 0 < int(torch.argmin(fast)) < len(grid) - 1 and fast.min() < 0.98 * min(fast[0], fast[-1])
    assert select_ridge(h, targets, grid, method="eigen", seed=1) == select_ridge(h, targets, grid, "solve", seed=1)
    with pytest.raises(ValueError, match="method"):
        ridge_validation_curve(h, targets, grid, method="cholesky")
    with pytest.raises(ValueError, match="> 0"):
        ridge_validation_curve(h, targets, [0.0, 1.0])


def test_gather_sum_expansion_equals_the_binary_projection() -> None:
    fly = FlyCL(40, 3, expansion=300, fan_in=5, k=30, dtype=torch.float64)
    p = fly.projection
    assert p.shape == (300, 40) and torch.all(p.sum(1) == 5)     # each Kenyon cell reads 5 distinct inputs
    z = torch.randn(7, 40, dtype=torch.float64)
    torch.testing.assert_close(fly.expand(z), z @ p.T)
    h = fly.encode(z)
    assert torch.all((h > 0).sum(1) <= 30) and torch.all(h >= 0)


def test_dual_primal_and_auto_readouts_agree_and_checkpoint() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(240, 30, generator=g, dtype=torch.float64), torch.randint(0, 4, (240,), generator=g)
    outs = {}
    for solver in ("primal", "dual", "auto"):
        fly = FlyCL(30, 4, expansion=200, fan_in=4, k=20, ridge=0.5, solver=solver, dtype=torch.float64)
        for chunk in torch.arange(240).split(80):
            fly.partial_fit(x[chunk], y[chunk])
            if solver == "auto":    # dual while n < m = 200, primal from n = 240 on
                assert fly.dual_active == (int(chunk[-1]) + 1 < 200)
        outs[solver] = fly(x)[0].detach()
    torch.testing.assert_close(outs["dual"], outs["primal"])
    torch.testing.assert_close(outs["auto"], outs["primal"])
    fly = FlyCL(30, 4, expansion=200, fan_in=4, k=20, ridge=0.5, solver="dual", dtype=torch.float64).partial_fit(x, y)
    state = fly.state_dict()                                   # checkpoints always carry G and Q
    assert not fly.dual_active and float(state["gram"].abs().sum()) > 0
    fresh = FlyCL(30, 4, expansion=200, fan_in=4, k=20, ridge=0.5, dtype=torch.float64)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh(x)[0].detach(), outs["primal"])
    with pytest.raises(ValueError, match="solver"):
        FlyCL(30, 4, solver="qr")


def test_fly_cl_factorises_only_small_matrices(features, monkeypatch) -> None:
    """The cost mechanism behind the speed claim, counted instead of timed: RanPAC factorises one
    2000 x 2000 matrix per lambda per task; Fly-CL one matrix per task no larger than the samples seen."""
    sizes: list[int] = []
    for name in ("cholesky_ex", "solve", "eigh"):
        real = getattr(torch.linalg, name)

        def spy(a, *args, _real=real, **kwargs):
            sizes.append(a.shape[-1])
            return _real(a, *args, **kwargs)

        monkeypatch.setattr(torch.linalg, name, spy)
    ftr, tasks, _, _ = _tasks(*features, seed=0)
    grid = RANPAC_RIDGE_GRID[8:12]   # 4 of RanPAC's 22 lambdas keep this fast; the count scales with the grid
    _train(FlyCL(512, 10, expansion=2000, ridge_grid=grid, search="eigen"), tasks)
    fly_sizes, sizes[:] = list(sizes), []
    _train(RandomProjectionRidge(512, 10, expansion=2000, ridge_grid=grid, search="solve"), tasks)
    ranpac_sizes = list(sizes)
    assert len(fly_sizes) == 10 and max(fly_sizes) <= len(ftr) < 2000   # 5 eigh + 5 Cholesky, at most n = 1257
    assert sum(s == 2000 for s in ranpac_sizes) == 5 * (len(grid) + 1)   # a solve per lambda + the read-out
    flops = lambda ss: sum(s ** 3 for s in ss)  # noqa: E731
    # measured: sum of n^3 is ~57x smaller for Fly-CL with 4 lambdas (~250x with RanPAC's 22)
    assert flops(ranpac_sizes) > 20 * flops(fly_sizes)


# -- the catalog claim on class-incremental digits (about 6 s at one thread) ---------------------------
def test_row47_fly_cl_matches_ridge_with_lower_multicollinearity(features) -> None:
    acc = {"fly": [], "raw": [], "ranpac": []}
    mc = {"fly": [], "raw": [], "ranpac": []}
    for seed in range(3):
        ftr, tasks, fte, yte = _tasks(*features, seed)
        models = {
            "fly": create_model("fly_cl", in_features=512, ridge_grid=RANPAC_RIDGE_GRID),
            "raw": RandomProjectionRidge(512, 10, expansion=None, ridge_grid=RANPAC_RIDGE_GRID),
            # RanPAC's search by eigendecomposition: the same lambda as its per-lambda solves (tested above)
            "ranpac": RandomProjectionRidge(512, 10, expansion=2000, ridge_grid=RANPAC_RIDGE_GRID, search="eigen"),
        }
        for name, model in models.items():
            _train(model, tasks)
            acc[name].append((model.predict(fte) == yte).float().mean().item())
            mc[name].append(multicollinearity(model.encode(ftr)))
    mean = {k: sum(v) / 3 for k, v in acc.items()}
    mcm = {k: sum(v) / 3 for k, v in mc.items()}
    print("row 47, 3 splits: accuracy", mean, "multicollinearity", mcm)
    # measured (3 splits, bench/connectomes.py): Fly-CL 0.981 +- 0.003, raw-feature ridge 0.988 +- 0.001,
    # RanPAC-style 0.992 +- 0.001: close to, but NOT matching, the ridge baselines (-0.7 and -1.1 points; the
    # binary default; the paper's expansion, preset="paper", matches: tests/unit/test_connectome5_flycl.py);
    # multicollinearity 0.089 vs 0.145 and 0.153
    assert mean["fly"] > 0.975
    assert mean["fly"] >= mean["raw"] - 0.015            # within 1.5 points of ridge on the raw features
    assert mean["fly"] >= mean["ranpac"] - 0.02          # within 2 points of the dense expansion
    assert mcm["fly"] < 0.7 * mcm["raw"] and mcm["fly"] < 0.7 * mcm["ranpac"]


@pytest.mark.slow
def test_row47_at_the_papers_width_fly_cl_comes_within_half_a_point(features) -> None:
    """Width 10,000 (k = 1,000), Fly-CL's and RanPAC's default; the dual read-out keeps it cheap (n = 1257)."""
    acc = {"fly": [], "raw": [], "ranpac": []}
    for seed in range(3):
        ftr, tasks, fte, yte = _tasks(*features, seed)
        models = {
            "fly": FlyCL(512, 10, expansion=10_000, k=1_000, ridge_grid=RANPAC_RIDGE_GRID),
            "raw": RandomProjectionRidge(512, 10, expansion=None, ridge_grid=RANPAC_RIDGE_GRID),
            "ranpac": RandomProjectionRidge(512, 10, expansion=10_000, ridge_grid=RANPAC_RIDGE_GRID, search="eigen",
                                            solver="auto"),
        }
        for name, model in models.items():
            _train(model, tasks)
            assert name == "raw" or model.dual_active            # never formed a 10,000 x 10,000 Gram
            acc[name].append((model.predict(fte) == yte).float().mean().item())
    mean = {k: sum(v) / 3 for k, v in acc.items()}
    print("row 47 at width 10000, 3 splits:", mean)
    # measured: Fly-CL 0.985, raw-feature ridge 0.988, RanPAC-style 0.990
    assert mean["fly"] >= mean["raw"] - 0.006 and mean["fly"] >= mean["ranpac"] - 0.01
