"""Row 26 (partial): triadic modulation of Q/K/V by two-point neurons before attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.cells import TriadicAttention, TriadicTransformer, two_point_modulation
from neurocircuits.models import create_model

D = torch.float64


def test_two_point_modulation_amplifies_agreement_and_attenuates_conflict() -> None:
    r = torch.tensor([1.0, 1.0, 1.0, -2.0], dtype=D)
    c = torch.tensor([0.0, 2.0, -2.0, -1.0], dtype=D)
    out = two_point_modulation(r, c)
    assert out[0] == 1.0                                   # no context: the drive passes unchanged
    assert out[1] > 1.0 and 0.0 < out[2] < 1.0             # agreement amplifies, conflict attenuates
    assert out[3] < -2.0                                   # sign agreement for negative drives too
    assert torch.all(torch.sign(out) == torch.sign(r))     # context alone never flips or creates a signal
    assert two_point_modulation(torch.zeros(3, dtype=D), torch.randn(3, dtype=D)).abs().max() == 0


def test_zero_context_maps_give_the_vanilla_attention_exactly() -> None:
    torch.manual_seed(0)
    tri = TriadicAttention(8, 2, modulate=True, loops=2, dtype=D)
    van = TriadicAttention(8, 2, modulate=False, dtype=D)
    van.load_state_dict({k: v for k, v in tri.state_dict().items() if not k.startswith("context")})
    x = torch.randn(3, 5, 8, dtype=D)
    assert not torch.allclose(tri(x), van(x))
    with torch.no_grad():
        for lin in tri.context:
            lin.weight.zero_()
    assert torch.allclose(tri(x), van(x), atol=1e-12)


def test_modulation_acts_per_token_and_stays_causal() -> None:
    torch.manual_seed(0)
    m = create_model("triadic_transformer", vocab=10, max_len=8)
    x = torch.randint(0, 10, (2, 6))
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 10
    assert torch.allclose(m(x2)[:, :-1], m(x)[:, :-1], atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        TriadicAttention(10, 4)


def recall_batch(n: int, gen: torch.Generator, pairs: int = 4, keys: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    k = torch.rand(n, keys, generator=gen).argsort(1)[:, :pairs]
    v = torch.randint(keys, 2 * keys, (n, pairs), generator=gen)
    qi = torch.randint(0, pairs, (n,), generator=gen)
    rows = torch.arange(n)
    return torch.cat([torch.stack([k, v], 2).reshape(n, 2 * pairs), k[rows, qi, None]], 1), v[rows, qi]


def test_triadic_transformer_learns_associative_recall() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(100)
    m = TriadicTransformer(16, 32, 1, 2, 64, 16, modulate=True)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(250):
        x, y = recall_batch(64, gen)
        loss = F.cross_entropy(m(x)[:, -1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = recall_batch(500, torch.Generator().manual_seed(999))
    with torch.no_grad():
        assert (m(x)[:, -1].argmax(-1) == y).float().mean().item() > 0.9      # chance 1/8
