"""Fire Together Wire Together (row 159): energy top-k targets, gating and MAC accounting."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.models import create_model
from neurocircuits.models.ftwt import topk_energy_mask, train_ftwt


def test_energy_topk_is_the_smallest_set_reaching_the_energy() -> None:
    a = torch.zeros(2, 4, 1, 1)
    a[0, :, 0, 0] = torch.tensor([5.0, 3.0, 1.0, 1.0])   # 50 %, 80 %, 90 %, 100 %
    a[1, :, 0, 0] = torch.tensor([1.0, 1.0, 1.0, 1.0])
    m = topk_energy_mask(a, 0.78)
    assert m[0].tolist() == [1.0, 1.0, 0.0, 0.0]          # 5 + 3 = 80 % >= 78 %
    assert m[1].tolist() == [1.0, 1.0, 1.0, 1.0]          # three equal filters hold only 75 %
    assert topk_energy_mask(a, 0.5)[0].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_gating_counts_only_active_filters() -> None:
    torch.manual_seed(0)
    net = create_model("ftwt_cnn")
    x = net.example_input(3)
    _, dense = net.run(x)
    c1, c2, c3 = net.cfg.channels
    assert torch.allclose(dense["macs"], torch.full((3,), 64 * 9 * (1 * c1 + c1 * c2) + 16 * 9 * c2 * c3 * 1.0))
    with torch.no_grad():
        net.predictors[0].bias.fill_(-10.0)                 # predictor 1 drops every filter of conv 2
    _, gated = net.run(x, gated=True)
    assert gated["masks"][0].sum() == 0 and torch.allclose(gated["macs"], torch.full((3,), 64 * 9 * 1 * c1 * 1.0))
    with pytest.raises(ValueError, match="expects images"):
        net.run(torch.randn(2, 3, 8, 8))


@pytest.mark.slow
def test_row159_ftwt_cuts_flops_without_losing_accuracy() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, torch.tensor(y), test_size=0.3, random_state=0, stratify=y)
    torch.manual_seed(0)
    net = create_model("ftwt_cnn", energy=0.8)
    train_ftwt(net, xtr, ytr, epochs=15, predictor_epochs=0, finetune_epochs=0)
    with torch.no_grad():
        logits, dense = net.run(xte)
    acc_dense = (logits.argmax(1) == yte).float().mean().item()
    train_ftwt(net, xtr, ytr, epochs=0, predictor_epochs=10, finetune_epochs=5)
    with torch.no_grad():
        logits, gated = net.run(xte, gated=True)
    acc_gated = (logits.argmax(1) == yte).float().mean().item()
    saving = 1 - float(gated["macs"].mean() / dense["macs"].mean())
    print(f"FTWT: dense {acc_dense:.3f}, gated {acc_gated:.3f}, conv MACs saved {saving:.1%}")
    # measured: dense 0.970, gated 0.974, 45 % of the conv multiply-accumulates saved
    assert 0.30 <= saving <= 0.60
    assert acc_gated > acc_dense - 0.01
