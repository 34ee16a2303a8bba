"""Row 127, second half: the ReLinear schedule avoids the collapse of naively trained deep quadratic nets."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from neurocircuits.layers.units import QuadraticLinear, relinear_param_groups


def _deep_quadratic(depth: int, naive: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    widths = [64] + [32] * depth
    for a, b in zip(widths[:-1], widths[1:]):
        q = QuadraticLinear(a, b)
        if naive:  # every parameter random, as for an ordinary linear layer (no linear start)
            q.g.reset_parameters()
            q.b.reset_parameters()
        layers += [q, nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(widths[-1], 10))


def _train(naive: bool, depth: int = 6, steps: int = 400, lr: float = 1e-2) -> tuple[float, float]:
    d = load_digits()
    x, y = torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    tr, te = perm[:1400], perm[1400:]
    torch.manual_seed(0)
    model = _deep_quadratic(depth, naive)
    params = model.parameters() if naive else relinear_param_groups(model, lr, quadratic_lr_scale=0.1)
    opt = torch.optim.Adam(params, lr)
    gen = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        i = tr[torch.randint(0, len(tr), (64,), generator=gen)]
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        acc = (model(x[te]).argmax(-1) == y[te]).float().mean().item()
    return acc, sum(losses[-50:]) / 50


def test_relinear_trains_a_six_layer_quadratic_net_where_naive_training_collapses() -> None:
    acc_naive, loss_naive = _train(naive=True)
    acc_relinear, loss_relinear = _train(naive=False)
    # naive: the net collapses to chance (loss ln 10 = 2.30); ReLinear (linear start, 0.1x lr on the quadratic terms) trains
    assert acc_naive < 0.2 and loss_naive > 2.2, (acc_naive, loss_naive)
    assert acc_relinear > 0.85 and loss_relinear < 0.7, (acc_relinear, loss_relinear)
