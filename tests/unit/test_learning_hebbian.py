"""Rows 41 (Oja subspace -> PCA subspace) and 125 (assembly calculus projection)."""

import math

import pytest
import torch

from neurocircuits.learning import Trainer, TrainerConfig, make_rule
from neurocircuits.learning._assembly import ASSEMBLY_PLASTICITY, Area, AssemblyConfig
from neurocircuits.learning._hebbian import orthogonal_projection, principal_angles


def _data(n=4000, dim=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    scales = torch.tensor([5.0, 4.0, 3.0, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2], dtype=torch.float64)
    X = (torch.randn(n, dim, generator=g, dtype=torch.float64) * scales) @ Q.T
    return X, Q[:, :3].T  # true top-3 principal subspace (rows)


def test_oja_subspace_converges_to_pca_subspace():
    X, top3 = _data()
    model = torch.nn.Linear(10, 3, bias=False).double()
    torch.nn.init.normal_(model.weight, std=0.1)
    before = principal_angles(model.weight.detach(), top3).max()
    hist = Trainer(make_rule("oja_subspace", lr=0.002), model, TrainerConfig(epochs=5, batch_size=20)).fit(
        X, torch.zeros(len(X), dtype=torch.long))
    W = model.weight.detach()
    after = principal_angles(W, top3).max()
    assert float(before) > 0.5 and float(after) < 0.05  # radians
    assert torch.allclose(W @ W.T, torch.eye(3, dtype=W.dtype), atol=0.05)  # orthonormal rows
    assert hist.records[-1]["orthogonality_error"] < 0.05
    # HLOP projection removes the learned subspace
    P = orthogonal_projection(W)
    assert float((X[:10] @ P @ top3.T).abs().max()) < 0.3 * float((X[:10] @ top3.T).abs().max())


def test_assembly_projection_converges_with_plasticity_only():
    stim = torch.ones(31, dtype=torch.bool)
    results = {}
    for rule in ASSEMBLY_PLASTICITY.names():
        area = Area(AssemblyConfig(n=1000, k=31, p=0.05, beta=0.1, plasticity=rule))
        area.connect("stim", 31)
        results[rule] = area.project("stim", stim, rounds=25)
    frozen = Area(AssemblyConfig(n=1000, k=31, p=0.05, beta=0.0))
    frozen.connect("stim", 31)
    no_plasticity = frozen.project("stim", stim, rounds=25)
    hebb = results["hebbian"]
    first = next(i for i, o in enumerate(hebb) if o >= 0.9)
    assert first <= 20 and min(hebb[first:]) >= 0.9  # stable assembly within ~10-20 rounds
    assert results["stdp"][-1] >= 0.95 and results["oja"][-1] >= 0.9
    assert max(no_plasticity[-10:]) < 0.6  # without plasticity the winners keep wandering


def test_assembly_errors():
    with pytest.raises(ValueError, match="0 < k < n"):
        AssemblyConfig(n=10, k=10)
    area = Area(AssemblyConfig(n=50, k=5, p=0.2))
    with pytest.raises(KeyError, match="connect"):
        area.step({"nope": torch.ones(3, dtype=torch.bool)})


def test_hlop_projection_reduces_forgetting_on_permuted_digits():
    from torch import nn

    from neurocircuits.data.generators import digits_split
    from neurocircuits.learning import MLP, hlop_projections

    Xtr, ytr, Xte, yte = digits_split()
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(5))  # task 2: permuted pixels

    def train(model, X, y, proj=None):
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        for _ in range(10):
            order = torch.randperm(len(y), generator=torch.Generator().manual_seed(len(y)))
            for i in range(0, len(y), 32):
                idx = order[i:i + 32]
                loss = nn.functional.cross_entropy(model(X[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                if proj is not None:
                    for lin, P in zip(model.layers, proj):
                        lin.weight.grad = lin.weight.grad @ P
                        lin.bias.grad = None
                opt.step()

    def acc(model, X):
        with torch.no_grad():
            return float((model(X).argmax(-1) == yte).float().mean())

    drops, task2 = {}, {}
    for use in (False, True):
        torch.manual_seed(0)
        model = MLP([64, 256, 10], "relu", seed=0)
        train(model, Xtr, ytr)
        before = acc(model, Xte)
        proj = hlop_projections(model, Xtr, [20, 40], epochs=15, lr=0.01) if use else None
        train(model, Xtr[:, perm], ytr, proj)
        drops[use], task2[use] = before - acc(model, Xte), acc(model, Xte[:, perm])
    assert drops[False] > 0.2  # plain training on task 2 overwrites task 1
    assert drops[True] < 0.5 * drops[False]  # Hebbian orthogonal projection protects it (~0.07 vs ~0.29)
    assert task2[True] > task2[False] - 0.03  # while task 2 is learned as well
