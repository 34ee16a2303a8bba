"""Catalog experiments of the connectome area (slow: minutes on 2 CPU cores).

Row 19: a fixed C. elegans connectome with only I/O trained vs a parameter-matched MLP on sklearn
digits, and sensory-modality ablations.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("cect", reason="the [connectomes] extra provides the C. elegans connectome")


def _digits(seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x - x.mean(0)) / (x.std(0) + 1.0)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    f = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return f(xtr), f(xte), torch.tensor(ytr), torch.tensor(yte)


def _fit(model, fwd, xtr, ytr, epochs: int = 40, lr: float = 3e-3) -> None:
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(epochs):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(fwd(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@pytest.mark.slow
def test_row19_connectome_io_only_vs_param_matched_mlp_and_ablation() -> None:
    from neurocircuits.data import connectome
    from neurocircuits.models import create_model

    worm = connectome("celegans/cook2019_herm")
    xtr, xte, ytr, yte = _digits(0)
    torch.manual_seed(0)
    net = create_model("connectome_rnn", graph=worm, trainable="io", activation="relu", spectral_radius=2.0,
                       dt_over_tau=1.0, steps=4)
    n_trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    _fit(net, lambda x: net(x)[0][:, -1], xtr, ytr)
    hidden = (n_trainable - 10) // 75  # 64*h + h + 10*h + 10 parameters
    mlp = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))
    assert abs(sum(p.numel() for p in mlp.parameters()) - n_trainable) < 80
    _fit(mlp, mlp, xtr, ytr)
    with torch.no_grad():
        acc = lambda out: (out.argmax(1) == yte).float().mean().item()  # noqa: E731
        acc_net, acc_mlp = acc(net(xte)[0][:, -1]), acc(mlp(xte))
        with net.ablated("SN1"):
            acc_sn1 = acc(net(xte)[0][:, -1])
        with net.ablated("sensory"):
            acc_blind = acc(net(xte)[0][:, -1])
    print(f"connectome_rnn {acc_net:.3f} ({n_trainable} trainable) vs MLP {acc_mlp:.3f}; "
          f"SN1 ablated {acc_sn1:.3f}; all sensory ablated {acc_blind:.3f}")
    # Measured (3 splits): connectome 0.961-0.972 vs MLP 0.974-0.981. The connectome does NOT beat
    # the parameter-matched MLP here; it comes within 2 points with 302 fixed neurons. With both models
    # tuned on validation splits under the same budget (docs/readme/connectomes.md) it still does not:
    # 0.969 +- 0.007 vs 0.977 +- 0.006 over 10 held-out splits (leaky update), 0.975 +- 0.007 vs
    # 0.977 +- 0.008 with the BPU's residual update (4 wins, 6 losses): within noise, not a win.
    assert acc_net > 0.95
    assert acc_net > acc_mlp - 0.025
    assert acc_sn1 < acc_net - 0.05          # ablating a sensory modality lowers accuracy
    assert acc_blind < 0.15                  # with no sensory input the net is at chance
