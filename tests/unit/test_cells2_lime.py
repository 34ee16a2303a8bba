"""Row 66 (partial): Layer-Integrated Memory, per-head routers mixing K/V sources over earlier layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.cells import LIMeTransformer
from neurocircuits.models import create_model

D = torch.float64


def test_one_hot_routers_on_the_current_layer_give_the_vanilla_transformer() -> None:
    torch.manual_seed(0)
    lime = LIMeTransformer(12, 16, 4, 3, 32, 16, lime=True, router_init=0.0, dtype=D)
    van = LIMeTransformer(12, 16, 4, 3, 32, 16, lime=False, dtype=D)
    van.load_state_dict({k: v for k, v in lime.state_dict().items() if "router" not in k}, strict=False)
    x = torch.randint(0, 12, (3, 10))
    assert not torch.allclose(lime(x), van(x))                # uniform routers read earlier layers
    with torch.no_grad():
        for blk in lime.blocks:
            blk.router.fill_(-1e4)
            blk.router[:, -1] = 0.0
    assert torch.allclose(lime(x), van(x), atol=1e-12)
    assert all(not b.router.requires_grad for b in van.blocks)
    assert sum(b.router.numel() for b in lime.blocks) == 4 * (1 + 2 + 3)


def test_a_head_routed_to_the_embedding_reads_keys_and_values_from_it() -> None:
    torch.manual_seed(0)
    m = LIMeTransformer(12, 16, 4, 2, 32, 16, router_init=0.0, dtype=D)
    with torch.no_grad():
        m.blocks[1].router.fill_(-1e4)
        m.blocks[1].router[:, 0] = 0.0                     # every head of block 1 reads x_0 only
    hist = m.residuals(torch.randint(0, 12, (2, 7)))
    blk = m.blocks[1]
    # Replacing x_0 in block 1's input by x_1 must equal a vanilla read of x_1.
    out_embed = blk([hist[0], hist[1]])
    out_same = blk([hist[1], hist[1]])
    assert not torch.allclose(out_embed, out_same)
    with torch.no_grad():
        blk.router.fill_(-1e4)
        blk.router[:, 1] = 0.0
    assert torch.allclose(blk([hist[0], hist[1]]), out_same, atol=1e-12)
    assert torch.allclose(blk.route().sum(-1), torch.ones(4, dtype=D))


def test_causal_and_errors() -> None:
    m = create_model("lime_transformer", vocab=10, max_len=8)
    x = torch.randint(0, 10, (2, 6))
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 10
    assert torch.allclose(m(x2)[:, :-1], m(x)[:, :-1], atol=1e-6)
    with pytest.raises(ValueError, match="max_len"):
        m(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.slow
def test_lime_learns_an_induction_lm_task() -> None:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(100)
    m = create_model("lime_transformer", vocab=32, d_model=32, n_heads=4, n_layers=4, d_mlp=64, max_len=32)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(300):
        a = torch.randint(0, 32, (64, 10), generator=gen)
        x = torch.cat([a, a], 1)
        loss = F.cross_entropy(m(x[:, :-1])[:, 10:].reshape(-1, 32), x[:, 11:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1                                  # chance ln 32 = 3.47
