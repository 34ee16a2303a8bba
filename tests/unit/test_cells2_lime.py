"""Row 66 (partial): Layer-Integrated Memory, per-head routers mixing K/V sources over earlier layers."""

from __future__ import annotations

import math

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


# --- mix="kv": the paper's static LIMe (linear routers over every earlier layer's and head's K/V) ---

def _kv_pair(n_layers: int = 4, heads: int = 4) -> tuple:
    torch.manual_seed(1)
    lime = LIMeTransformer(12, 16, heads, n_layers, 32, 16, lime=True, mix="kv", dtype=D)
    van = LIMeTransformer(12, 16, heads, n_layers, 32, 16, lime=False, mix="kv", dtype=D)
    missing, unexpected = van.load_state_dict(lime.state_dict(), strict=False)
    assert not missing and all("router" in k for k in unexpected)
    return lime, van


def test_kv_routers_identity_on_the_current_layer_give_the_vanilla_transformer() -> None:
    lime, van = _kv_pair()
    x = torch.randint(0, 12, (3, 10))
    assert not torch.allclose(lime(x), van(x), atol=1e-3)        # paper init: identity + U(+-sqrt(3/fan_in))
    with torch.no_grad():
        for blk in lime.blocks[1:]:
            blk.router.zero_()
            blk.router[:, -4:] = torch.eye(4, dtype=D)
    assert (lime(x) - van(x)).abs().max().item() < 1e-12
    # layer 0 has no router, layer l has heads x (l+1) heads weights; vanilla has none
    assert lime.blocks[0].router is None and not van.router_parameters()
    assert [tuple(b.router.shape) for b in lime.blocks[1:]] == [(4, 8), (4, 12), (4, 16)]
    assert sum(p.numel() for p in lime.router_parameters()) == 16 * (2 + 3 + 4)
    r = lime.blocks[3].router.detach()
    assert torch.equal(r[:, -4:], torch.eye(4, dtype=D)) and r[:, :-4].abs().max() <= (3 / 16) ** 0.5


def test_a_kv_router_entry_reads_that_layers_head_values() -> None:
    lime, _ = _kv_pair()
    with torch.no_grad():
        r = lime.blocks[2].router
        r.zero_()
        r[0, 1] = 1.0                                  # head 0 of layer 2 <- layer 0, head 1
        r[1, 4 + 3] = 1.0                              # head 1 <- layer 1, head 3
        r[2, 1], r[2, 4 + 2] = 0.5, -2.0               # head 2 <- 0.5 V(0, 1) - 2 V(1, 2) (linear, not convex)
        r[3, 8 + 3] = 1.0                              # head 3 <- its own layer's head 3
    vs: list[torch.Tensor] = []
    hooks = [b.hook_v.register_forward_hook(lambda m, i, o: vs.append(o)) for b in lime.blocks]
    hist = lime.residuals(torch.randint(0, 12, (2, 7)))
    for h in hooks:
        h.remove()

    def own(layer: int) -> torch.Tensor:                # layer's own per-head values [batch, head, time, d_head]
        blk = lime.blocks[layer]
        b, t, _ = hist[layer].shape
        return blk.v(blk.ln_attn(hist[layer])).view(b, t, blk.n_heads, blk.d_head).transpose(1, 2)

    v2 = vs[2]
    assert torch.allclose(v2[:, 0], own(0)[:, 1], atol=1e-12)
    assert torch.allclose(v2[:, 1], own(1)[:, 3], atol=1e-12)
    assert torch.allclose(v2[:, 2], 0.5 * own(0)[:, 1] - 2.0 * own(1)[:, 2], atol=1e-12)
    assert torch.allclose(v2[:, 3], own(2)[:, 3], atol=1e-12)
    assert torch.allclose(vs[0], own(0), atol=1e-12)              # layer 0 is never routed
    assert not torch.allclose(vs[1], own(1), atol=1e-6)           # layer 1 mixes (paper init)


def test_kv_mix_is_causal_trains_and_rejects_unknown_mixes() -> None:
    torch.manual_seed(0)
    m = create_model("lime_transformer", vocab=10, n_layers=3, max_len=8, mix="kv")
    x = torch.randint(0, 10, (2, 6))
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 10
    assert torch.allclose(m(x2)[:, :-1], m(x)[:, :-1], atol=1e-6)
    F.cross_entropy(m(x).reshape(-1, 10), x.reshape(-1)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.router_parameters())
    with pytest.raises(ValueError, match="unknown LIMe mix"):
        create_model("lime_transformer", mix="dense")


def test_value_matrix_entropy_known_answers() -> None:
    from neurocircuits.layers.cells import value_matrix_entropy

    t = 8
    # one-hot values, identical in every sequence: after standardising features the Gram matrix
    # is proportional to I - 11^T / t, t - 1 equal eigenvalues -> entropy log(t - 1) for any alpha
    onehot = torch.eye(t, dtype=D).expand(5, t, t)
    for alpha in (0.5, 2.0):
        assert torch.allclose(value_matrix_entropy(onehot, alpha), torch.full((5,), math.log(t - 1), dtype=D))
    # rank-1 sequences (every token's value a multiple of one vector) are fully collapsed: entropy 0
    g = torch.Generator().manual_seed(0)
    rank1 = torch.randn(5, t, 1, generator=g, dtype=D) * torch.randn(1, 1, 6, generator=g, dtype=D)
    ent = value_matrix_entropy(rank1)
    assert ent.shape == (5,) and ent.abs().max() < 1e-6
    # a random full-rank set lies strictly between 0 and log(t)
    full = value_matrix_entropy(torch.randn(5, t, 16, generator=g, dtype=D))
    assert (full > 1.0).all() and (full < math.log(t)).all()
    with pytest.raises(ValueError, match="batch, time, features"):
        value_matrix_entropy(torch.randn(t, 4))
    with pytest.raises(ValueError, match="alpha"):
        value_matrix_entropy(onehot, alpha=1.0)


def test_dynamic_kv_router_starts_static_and_mixes_per_position() -> None:
    torch.manual_seed(2)
    dyn = LIMeTransformer(12, 16, 4, 3, 32, 16, mix="kv", dynamic_router=True, dtype=D)
    sta = LIMeTransformer(12, 16, 4, 3, 32, 16, mix="kv", dtype=D)
    missing, unexpected = sta.load_state_dict(dyn.state_dict(), strict=False)
    assert not missing and all("dynamic" in k for k in unexpected)
    x = torch.randint(0, 12, (2, 9))
    assert (dyn(x) - sta(x)).abs().max().item() < 1e-12              # W_dyn = 0: exactly the static router
    assert sum(p.numel() for p in dyn.router_parameters()) == 16 * (2 + 3) + 16 * 4 * (8 + 12)
    blk = dyn.blocks[2]
    with torch.no_grad():
        blk.dynamic.weight.normal_(0, 0.3)
    vs: list[torch.Tensor] = []
    hook = blk.hook_v.register_forward_hook(lambda m, i, o: vs.append(o))
    hist = dyn.residuals(x)
    hook.remove()
    b, t, _ = hist[2].shape

    def own(layer: int) -> torch.Tensor:                              # [head*layer, b, t, d_head] values
        m = dyn.blocks[layer]
        return m.v(m.ln_attn(hist[layer])).view(b, t, 4, 4).permute(2, 0, 1, 3)

    values = torch.cat([own(0), own(1), own(2)], 0)                   # [12, b, t, e]
    r = blk.router + blk.dynamic(blk.ln_attn(hist[2])).view(b, t, 4, 12)   # per-position weights
    expect = torch.einsum("bthg,gbte->bhte", r, values)
    assert torch.allclose(vs[0], expect, atol=1e-12)
    assert not torch.allclose(r[:, 0], r[:, 1])                       # weights differ between positions
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 12
    assert torch.allclose(dyn(x2)[:, :-1], dyn(x)[:, :-1], atol=1e-10)    # still causal
    with pytest.raises(ValueError, match="dynamic_router"):
        LIMeTransformer(mix="residual", dynamic_router=True)
