"""Row 111: predictive coding and incremental predictive coding through the shared trainer loop."""

import pytest
import torch

from neurocircuits.data.generators import digits_split
from neurocircuits.learning import (
    LEARNING_RULES,
    MLP,
    Trainer,
    TrainerConfig,
    make_rule,
    pc_weight_gradients,
)


def test_pc_equilibrium_gradients_align_with_backprop():
    # With the output clamped, PC's equilibrium weight updates point along the BP gradient (they are
    # shrunk because hidden nodes absorb part of the error, Whittington & Bogacz 2017).
    torch.manual_seed(0)
    model = MLP([5, 7, 6, 3], "tanh", seed=0).double()
    x = torch.randn(8, 5, dtype=torch.float64)
    out = model(x).detach()
    target = out + 1e-3 * torch.randn_like(out)
    pc = pc_weight_gradients(model, x, target, lr_x=0.2, n_steps=400)
    loss = 0.5 * ((model(x) - target) ** 2).sum() / x.shape[0]
    bp = torch.autograd.grad(loss, list(model.parameters()))
    for a, b in zip(pc, bp):
        cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
        assert float(cos) > 0.98
        assert 0.5 < float(a.norm() / b.norm()) <= 1.0


def _train(rule, lr_w, epochs, seed=0):
    Xtr, ytr, Xte, yte = digits_split(1400, seed=0)
    model = MLP([64, 128, 10], "relu", seed=seed)
    kw = {"lr": lr_w} if rule == "backprop" else {"lr_w": lr_w, "lr_x": 0.2, "n_inference": 4}
    cfg = TrainerConfig(epochs=epochs, batch_size=32, eval_every_batches=11)
    return Trainer(make_rule(rule, **kw), model, cfg).fit(Xtr, ytr, Xte, yte)


def test_ipc_reaches_accuracy_in_fewer_iterations_than_pc():
    ipc, pc = _train("ipc", 3e-3, 3), _train("pc", 3e-3, 3)
    assert ipc.best() >= 0.95
    assert ipc.iterations_to_reach(0.95) < pc.iterations_to_reach(0.95)


@pytest.mark.slow
def test_ipc_bp_level_and_stable_across_learning_rates():
    bp = _train("backprop", 1e-3, 20).best()
    for lr in (3e-4, 3e-3, 1e-2):
        ipc, pc = _train("ipc", lr, 10), _train("pc", lr, 10)
        assert ipc.best() >= bp - 0.015, (lr, ipc.best(), bp)
        assert ipc.iterations_to_reach(0.95) < pc.iterations_to_reach(0.95)


def test_rules_registry_and_errors():
    assert {"backprop", "pc", "ipc"} <= set(LEARNING_RULES.names())
    with pytest.raises(ValueError, match="lr_x > 0"):
        make_rule("ipc", lr_x=-1.0)
    with pytest.raises(TypeError, match="MLP"):
        Trainer(make_rule("pc"), torch.nn.Linear(3, 3))
