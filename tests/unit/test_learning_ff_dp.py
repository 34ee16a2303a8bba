"""Rows 86 (forward-forward: accuracy and sparse hidden codes) and 63 (dual propagation ~ BP)."""

import pytest
import torch

from neurocircuits.data.generators import digits_split
from neurocircuits.learning import (
    MLP,
    Trainer,
    TrainerConfig,
    active_fraction,
    dual_propagation_gradients,
    ff_layer_activations,
    make_rule,
)
from neurocircuits.learning._forward_forward import _embed


def test_forward_forward_learns_digits_with_much_sparser_hidden_layers_than_bp():
    Xtr, ytr, Xte, yte = digits_split()
    ff = MLP([74, 256, 256], "relu", seed=0)
    hist = Trainer(make_rule("forward_forward", lr=3e-3), ff, TrainerConfig(epochs=8, batch_size=64)).fit(Xtr, ytr, Xte, yte)
    assert hist.best() > 0.85
    bp = MLP([64, 256, 256, 10], "relu", seed=0)
    Trainer(make_rule("backprop", lr=1e-3, loss="ce"), bp, TrainerConfig(epochs=8, batch_size=64)).fit(Xtr, ytr)
    with torch.no_grad():
        ff_active = [active_fraction(h) for h in ff_layer_activations(ff, _embed(Xte, yte, 10))]
        bp_active = [active_fraction(torch.relu(h)) for h in bp.forward_all(Xte)[1:-1]]
    for f, b in zip(ff_active, bp_active):
        assert f < 0.5 * b  # FF codes are far sparser (Tosato et al. 2023)


def test_dual_propagation_update_matches_backprop_gradient():
    torch.manual_seed(0)
    model = MLP([6, 9, 7, 4], "tanh", seed=0).double()
    x = torch.randn(16, 6, dtype=torch.float64)
    y = torch.randint(0, 4, (16,))
    dp = dual_propagation_gradients(model, x, y, beta=1e-3)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    bp = torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(dp, bp):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-7)
    # with a large nudge the estimate is still aligned but no longer exact
    far = dual_propagation_gradients(model, x, y, beta=2.0)
    cos = torch.nn.functional.cosine_similarity(far[0].flatten(), bp[0].flatten(), dim=0)
    assert 0.9 < float(cos) < 1.0 - 1e-6


@pytest.mark.slow
def test_dual_propagation_matches_bp_accuracy_on_digits():
    Xtr, ytr, Xte, yte = digits_split()
    accs = {}
    for rule, kw in [("backprop", {"lr": 1e-3, "loss": "ce"}), ("dual_propagation", {"lr": 1e-3, "beta": 0.1})]:
        model = MLP([64, 256, 256, 10], "relu", seed=0)
        accs[rule] = Trainer(make_rule(rule, **kw), model, TrainerConfig(epochs=20, batch_size=64)).fit(Xtr, ytr, Xte, yte).best()
    assert accs["dual_propagation"] >= accs["backprop"] - 0.01
