"""Row 17: multiplet neurons (weighted Lehmer / Gini means with learnable generalisation parameters)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.units import MultipletLayer
from neurocircuits.models import create_model

D = torch.float64


def test_lehmer_and_gini_special_cases() -> None:
    x = torch.tensor([[1.0, 4.0]], dtype=D)
    lay = MultipletLayer(2, 1, 3, "lehmer", p_range=(0.0, 2.0), bias_input=False, dtype=D)
    w = lay.weight()[0]
    out = lay(x)[0]
    harmonic = w.sum() / (w[0] / 1.0 + w[1] / 4.0)
    arithmetic = (w[0] * 1.0 + w[1] * 4.0) / w.sum()
    contraharmonic = (w[0] * 1.0 + w[1] * 16.0) / (w[0] * 1.0 + w[1] * 4.0)
    assert torch.allclose(out, torch.stack([harmonic, arithmetic, contraharmonic]), atol=1e-12)
    # Gini with r -> s: weighted geometric mean; with s = 0: power mean of order r.
    g = MultipletLayer(2, 1, 2, "gini", bias_input=False, dtype=D)
    with torch.no_grad():
        g.p.copy_(torch.tensor([[0.5 + 1e-9, 2.0]], dtype=D))
        g.s.copy_(torch.tensor([[0.5, 0.0]], dtype=D))
    w = g.weight()[0] * torch.tensor([1.0, 2.0], dtype=D)               # w_i x_i^s with s = 1/2
    geo = torch.exp(w[1] * torch.log(torch.tensor(4.0, dtype=D)) / w.sum())
    w = g.weight()[0]
    power2 = torch.sqrt((w[0] + w[1] * 16.0) / w.sum())
    assert torch.allclose(g(x)[0], torch.stack([geo, power2]), atol=1e-6)
    # Extreme p: tends to max / min and stays finite.
    big = MultipletLayer(2, 1, 2, p_range=(-200.0, 200.0), bias_input=False, dtype=D)
    assert torch.allclose(big(x)[0], torch.tensor([1.0, 4.0], dtype=D), atol=1e-3)


def test_errors() -> None:
    with pytest.raises(ValueError, match="lehmer"):
        MultipletLayer(2, 1, mean="median")
    with pytest.raises(ValueError, match="in_features=3"):
        MultipletLayer(2, 1)(torch.ones(4, 3))


def test_two_layer_multiplet_net_solves_xor() -> None:
    torch.manual_seed(0)
    bits = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    x, y = 1.0 + bits, (bits[:, 0] != bits[:, 1]).float()[:, None]     # inputs {1, 2}: positive
    net = create_model("multiplet_net", widths=(2, 2, 1), size=4)
    opt = torch.optim.Adam(net.parameters(), 0.05)
    for _ in range(300):
        loss = F.binary_cross_entropy_with_logits(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert ((net(x) > 0).float() == y).all()
    assert loss.item() < 0.05


def _fit(net: torch.nn.Module, target, steps: int) -> float:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(512, 2, generator=gen) * 1.5 + 0.5
    xt = torch.rand(2000, 2, generator=gen) * 1.5 + 0.5
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(steps):
        loss = ((net(x) - target(x)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return ((net(xt) - target(xt)) ** 2).mean().sqrt().item()


@pytest.mark.parametrize("name,target,mean", [("product", lambda x: x[:, :1] * x[:, 1:], "lehmer"),
                                              ("quotient", lambda x: x[:, :1] / x[:, 1:], "gini")])
def test_multiplet_learns_product_and_quotient_on_positive_inputs(name: str, target, mean: str) -> None:
    torch.manual_seed(0)
    net = create_model("multiplet_net", widths=(2, 4, 1), size=4, mean=mean)     # 45 / 61 parameters
    err = _fit(net, target, 1500)
    # targets on [0.5, 2]^2 have std ~0.7; a one-hidden-layer multiplet net reaches test RMSE < 0.07.
    assert err < 0.07, (name, mean, err)
