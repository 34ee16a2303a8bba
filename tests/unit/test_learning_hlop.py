"""Row 41: HLOP -- Hebbian (Oja) subspaces + orthogonal projection for continual learning of an SNN."""

import pytest
import torch

from neurocircuits.learning import HebbianSubspaces, HLOPConfig, SpikingMLP, continual_learning_run, split_tasks


def test_hebbian_subspaces_grow_per_task_and_projection_protects_old_inputs():
    # planted: task A's inputs live in a 3-d subspace, task B's in another 3-d one (of 12)
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    scale = torch.tensor([3.0, 2.0, 1.5], dtype=torch.float64)
    A = torch.randn(600, 3, generator=g, dtype=torch.float64) * scale @ Q[:, :3].T
    B = torch.randn(600, 3, generator=g, dtype=torch.float64) * scale @ Q[:, 3:6].T
    sub = HebbianSubspaces([12])
    sub.add_task([A], [3], epochs=30, lr=0.01)
    sub.add_task([B], [3], epochs=30, lr=0.01)
    U = sub.U[0]
    assert U.shape == (6, 12)
    # the new lateral neurons learned task B's subspace on the residual: together they span both
    span = Q[:, :6].T
    assert torch.allclose(U @ U.T, torch.eye(6, dtype=U.dtype), atol=0.05)
    assert float(torch.linalg.svdvals(U @ span.T).min()) > 0.97
    # any weight update projected by P leaves the old tasks' input currents unchanged
    P = sub.projections()[0]
    dW = torch.randn(5, 12, generator=g, dtype=torch.float64)
    assert float((torch.cat([A, B]) @ (dW @ P).T).abs().max()) < 0.05 * float((A @ dW.T).abs().max())


def test_spiking_mlp_spikes_and_checks_its_inputs():
    net = SpikingMLP([8, 16, 3], n_heads=2, time_steps=4)
    x = torch.rand(5, 8) * 3
    logits, presyn = net(x, head=1)
    assert logits.shape == (5, 3) and [p.shape for p in presyn] == [(4, 5, 8), (4, 5, 16)]
    assert set(presyn[1].unique().tolist()) <= {0.0, 1.0} and presyn[1].sum() > 0  # binary spikes
    logits.sum().backward()  # surrogate gradients reach the first layer
    assert net.hidden[0].weight.grad is not None and net.hidden[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="head must lie"):
        net(x, head=2)
    with pytest.raises(ValueError, match=r"shape \(batch, 8\)"):
        net(torch.zeros(5, 7))
    with pytest.raises(ValueError, match="ks needs one entry"):
        HLOPConfig(hidden=(100,), ks=(10,))


def _forgetting(cfg, use):
    from neurocircuits.data.generators import digits_split

    Xtr, ytr, Xte, yte = digits_split()
    acc = continual_learning_run(split_tasks(Xtr, ytr), split_tasks(Xte, yte), cfg, use_hlop=use)
    assert float(acc[0, 0]) > 0.95
    return float((acc.diagonal()[:-1] - acc[-1, :-1]).mean()), acc


def test_hlop_snn_cuts_forgetting_on_split_digits():
    # 5 tasks (digit pairs 0/1, 2/3, ...), one shared 2-way readout (domain-incremental): plain
    # training forgets the early tasks, HLOP projects every update off their Hebbian subspaces
    cfg = HLOPConfig(shared_head=True, ks=(16, 60))
    plain, acc_plain = _forgetting(cfg, False)
    hlop, acc_hlop = _forgetting(cfg, True)
    assert plain > 0.15 and float(acc_plain[-1, 0]) < 0.7  # measured 0.20; task 1 falls 1.00 -> 0.52
    assert hlop < 0.25 * plain  # measured 0.020
    assert float(acc_hlop[-1, 0]) > 0.9  # task 1 kept (0.97)


@pytest.mark.parametrize("seed", [1, 2])
def test_hlop_forgetting_stays_small_over_seeds(seed):
    cfg = HLOPConfig(shared_head=True, ks=(16, 60), seed=seed)
    plain, _ = _forgetting(cfg, False)
    hlop, _ = _forgetting(cfg, True)
    assert plain > 0.15 and hlop < 0.05  # measured 0.19 / 0.022 (seed 1), 0.195 / 0.035 (seed 2)
