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
