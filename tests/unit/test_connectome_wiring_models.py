"""G2G sparse modular masks (row 10) and Fly-CL (row 47) on sklearn digits."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from neurocircuits.models import create_model
from neurocircuits.models.flycl import multicollinearity, random_conv_features
from neurocircuits.models.g2g import g2g_mask, train_g2g


def _split(x, y, seed: int = 0):
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    return xtr, xte, ytr, yte


# -- G2G ------------------------------------------------------------------------------------------------
def test_g2g_mask_is_block_modular_at_the_asked_density() -> None:
    m = g2g_mask(64, 128, n_groups=8, groups_per_output=2, seed=0)
    assert m.shape == (128, 64) and float(m.mean()) == pytest.approx(0.25)
    blocks = m.reshape(8, 16, 8, 8).amax(dim=(1, 3))          # ensemble-level wiring
    assert torch.equal(m.reshape(8, 16, 8, 8).amin(dim=(1, 3)), blocks)  # blocks are all-or-nothing
    assert bool(blocks.diagonal().all()) and blocks.sum(1).tolist() == [2] * 8
    with pytest.raises(ValueError, match="groups_per_output"):
        g2g_mask(64, 64, n_groups=4, groups_per_output=5)


def test_rewiring_keeps_density_and_moves_weights() -> None:
    torch.manual_seed(0)
    net = create_model("g2g_mlp", hidden=(32, 32), n_groups=4, groups_per_output=1)
    before = [layer.mask.clone() for layer in net.masked]
    with pytest.raises(RuntimeError, match="forward pass"):
        net.rewire(0.2, "hebbian")
    net(torch.randn(16, 64))
    moved = net.rewire(0.2, "hebbian")
    assert moved > 0 and net.sparsity() == pytest.approx(0.75)
    assert any(not torch.equal(b, layer.mask) for b, layer in zip(before, net.masked))
    for layer in net.masked:  # inactive weights are exactly zero in the effective matrix
        assert torch.all((layer.weight * layer.mask)[layer.mask == 0] == 0)


@pytest.mark.slow
def test_row10_g2g_75pct_sparse_matches_dense_and_hebbian_vs_random() -> None:
    x, y = load_digits(return_X_y=True)
    acc = {"dense": [], "random": [], "hebbian": []}
    for seed in range(10):
        xtr, xte, ytr, yte = (torch.tensor(a) for a in _split(x / 16.0, y, seed))
        xtr, xte = xtr.float(), xte.float()
        for name, dense, mode in [("dense", True, None), ("random", False, "random"), ("hebbian", False, "hebbian")]:
            torch.manual_seed(seed)
            net = create_model("g2g_mlp", hidden=(128, 128), dense=dense, seed=seed)
            train_g2g(net, xtr, ytr, epochs=20, mode=mode, seed=seed)
            assert net.sparsity() == (0.0 if dense else pytest.approx(0.75))
            with torch.no_grad():
                acc[name].append((net(xte)[0].argmax(1) == yte).float().mean().item())
    mean = {k: sum(v) / len(v) for k, v in acc.items()}
    wins = sum(h > r for h, r in zip(acc["hebbian"], acc["random"]))
    losses = sum(h < r for h, r in zip(acc["hebbian"], acc["random"]))
    print("G2G digits accuracy (10 splits):", mean, f"Hebbian vs random: {wins} wins, {losses} losses")
    # measured (10 splits, 2026-11-29): dense 0.968 +- 0.010, random regrowth 0.963 +- 0.003,
    # Hebbian regrowth 0.966 +- 0.007; Hebbian - random = +0.003 +- 0.002 (s.e.m.), 6 wins 1 tie 3 losses
    assert mean["random"] >= mean["dense"] - 0.01 and mean["hebbian"] >= mean["dense"] - 0.01
    # Hebbian >= random (the catalog's claim); 0.002 (one test digit per split) absorbs float nondeterminism
    assert mean["hebbian"] >= mean["random"] - 0.002
    assert wins >= losses


# -- Fly-CL -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_features():
    x, y = load_digits(return_X_y=True)
    feats = random_conv_features(torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 8, 8))
    return _split(feats, torch.tensor(y), 0)


def _ridge_raw(ftr, ytr, fte, lam: float = 1.0) -> torch.Tensor:
    mu, sd = ftr.mean(0), ftr.std(0) + 1e-6
    z = (ftr - mu) / sd
    w = torch.linalg.solve(z.T @ z + lam * torch.eye(z.shape[1]), z.T @ torch.nn.functional.one_hot(ytr, 10).float())
    return (((fte - mu) / sd) @ w).argmax(1)


def test_row47_fly_cl_class_incremental_matches_ridge(digit_features) -> None:
    ftr, fte, ytr, yte = digit_features
    ridge_acc = (_ridge_raw(ftr, ytr, fte) == yte).float().mean().item()
    fly = create_model("fly_cl", in_features=ftr.shape[1])
    for task in range(5):                      # classes arrive two at a time and never come back
        seen = (ytr == 2 * task) | (ytr == 2 * task + 1)
        fly.partial_fit(ftr[seen], ytr[seen])
    fly_acc = (fly.predict(fte) == yte).float().mean().item()
    # measured: Fly-CL 0.980 vs ridge on the raw features (trained jointly) 0.985
    assert fly_acc > ridge_acc - 0.02 and fly_acc > 0.95
    assert multicollinearity(fly.encode(ftr)) < 0.75 * multicollinearity(ftr)   # 0.088 vs 0.144
    shuffled = create_model("fly_cl", in_features=ftr.shape[1])
    perm = torch.randperm(len(ytr), generator=torch.Generator().manual_seed(1))
    for chunk in perm.split(100):              # any stream order gives the same classifier
        shuffled.partial_fit(ftr[chunk], ytr[chunk])
    agree = (shuffled.predict(fte) == fly.predict(fte)).float().mean().item()
    assert agree > 0.99


def test_fly_cl_kwta_code_is_sparse(digit_features) -> None:
    ftr = digit_features[0]
    fly = create_model("fly_cl", in_features=ftr.shape[1], k=50)
    h = fly.encode(ftr[:20])
    assert ((h > 0).sum(1) <= 50).all() and (h >= 0).all()
    with pytest.raises(ValueError, match="k must be"):
        create_model("fly_cl", in_features=10, k=0)
