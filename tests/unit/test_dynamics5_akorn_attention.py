"""AKOrN with attentive coupling (catalog row 12's third coupling)."""

import math

import pytest
import torch

from neurocircuits.functional.oscillators import order_parameter
from neurocircuits.layers.oscillators import AKOrNConfig, AKOrNLayer, AttentionCoupling
from neurocircuits.models import create_model

D64 = torch.float64


def test_attention_coupling_equals_the_softmax_formula() -> None:
    torch.manual_seed(0)
    att = AttentionCoupling(8, 2).to(D64)
    x = torch.randn(3, 8, 5, dtype=D64)
    xt = x.transpose(1, 2)
    out = torch.zeros(3, 5, 8, dtype=D64)
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        q, k, v = (f(xt)[..., sl] for f in (att.q, att.k, att.v))
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(4), dim=-1)
        out[..., sl] = a @ v
    assert torch.allclose(att(x), out.transpose(1, 2), atol=1e-12)


def test_attention_akorn_is_equivariant_to_token_order_and_trainable() -> None:
    torch.manual_seed(1)
    layer = AKOrNLayer(AKOrNConfig(channels=8, osc_dim=4, coupling="attn", n_heads=2, n_steps=5), dtype=D64)
    c = torch.randn(2, 8, 6, dtype=D64)
    x0 = layer.initial_state(c)
    perm = torch.randperm(6)
    out, _, _ = layer(c, x0)
    out_p, _, _ = layer(c[:, :, perm], type(x0)(x0.x[:, :, perm]))
    assert torch.allclose(out_p, out[:, :, perm], atol=1e-12)  # attention has no token order
    out.sum().backward()
    assert layer.J.q.weight.grad is not None and layer.J.q.weight.grad.abs().sum() > 0


def test_uniform_attention_synchronises_tokens_like_all_to_all_kuramoto() -> None:
    """q = k = 0 gives uniform attention; with v = identity, J x is the mean oscillator: the classic
    all-to-all model with identical oscillators, which synchronises (order parameter -> 1)."""
    layer = AKOrNLayer(AKOrNConfig(channels=2, osc_dim=2, coupling="attn", n_steps=200, gamma=0.2,
                                   learn_omega=False), dtype=D64)
    with torch.no_grad():
        layer.J.q.weight.zero_()
        layer.J.k.weight.zero_()
        layer.J.v.weight.copy_(torch.eye(2, dtype=D64))
        layer.omega_raw.zero_()
    c = torch.zeros(4, 2, 30, dtype=D64)
    g = torch.Generator().manual_seed(2)
    x0 = layer.initial_state(c, generator=g)
    phase = lambda x: torch.atan2(x[:, 1], x[:, 0])  # noqa: E731  (batch, tokens)
    r0, _ = order_parameter(phase(x0.x))
    with torch.no_grad():
        x, _, _ = layer(c, x0)
    r, _ = order_parameter(phase(x))
    assert float(r0.max()) < 0.6
    assert float(r.min()) > 0.999


def test_attention_akorn_contract_and_errors() -> None:
    layer = create_model("akorn", channels=8, osc_dim=2, coupling="attn", n_heads=2)
    x, _, e = layer(layer.example_input(3))
    assert x.shape == (3, 8, 5) and e.shape == (4, 3)
    with pytest.raises(ValueError, match="tokens"):
        layer(torch.zeros(3, 8))
    with pytest.raises(ValueError, match="n_heads"):
        AKOrNConfig(channels=8, coupling="attn", n_heads=3)
