"""Row 67: Distributed Neural Architectures (module pool, learned per-token routing, path statistics)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.cells import DNA, LIMeTransformer, path_statistics
from neurocircuits.models import create_model

D = torch.float64


def test_path_statistics_on_known_counts() -> None:
    uniform = torch.tensor([[0, 1], [1, 0], [0, 0], [1, 1]])
    st = path_statistics(uniform)
    assert st["distinct"] == 4 and st["gini"] == pytest.approx(0.0) and st["counts"] == [1, 1, 1, 1]
    skewed = torch.tensor([[0, 0]] * 97 + [[0, 1], [1, 0], [1, 1]])
    st = path_statistics(skewed)
    assert st["counts"] == [97, 1, 1, 1] and st["top1pct_share"] == pytest.approx(0.97)
    assert st["gini"] == pytest.approx((2 * (1 + 2 + 3 + 4 * 97) / (4 * 100)) - 5 / 4)


def test_attention_modules_only_mix_tokens_routed_into_them() -> None:
    torch.manual_seed(0)
    m = DNA(10, 16, 2, 32, 16, n_attention=1, n_mlp=1, steps=1, top_k=1, dtype=D)
    attn = m.pool[0]
    x = torch.randn(1, 5, 16, dtype=D)
    member = torch.tensor([[True, False, True, False, True]])
    y = attn(x, member)
    x2 = x.clone()
    x2[0, 1] += 5.0                                      # a token not routed here changes ...
    y2 = attn(x2, member)
    assert torch.allclose(y[0, [0, 2, 3, 4]], y2[0, [0, 2, 3, 4]], atol=1e-12)   # ... nobody else's output
    x3 = x.clone()
    x3[0, 2] += 5.0                                      # a member token changes later members only
    y3 = attn(x3, member)
    assert torch.allclose(y3[0, :2], y[0, :2], atol=1e-12) and not torch.allclose(y3[0, 4], y[0, 4])


def test_routing_selects_top_k_and_paths_have_one_module_per_step() -> None:
    torch.manual_seed(0)
    m = create_model("dna", vocab=10, max_len=8, n_attention=2, n_mlp=3, steps=3, top_k=2)
    x = torch.randint(0, 10, (2, 6))
    p = m.paths(x)
    assert p.shape == (2, 6, 3) and int(p.min()) >= 0 and int(p.max()) < 5
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 10
    assert torch.allclose(m(x2)[:, :-1], m(x)[:, :-1], atol=1e-6)       # causal
    with pytest.raises(ValueError, match="top_k"):
        DNA(top_k=9, n_attention=4, n_mlp=4)


def _induction(n: int, gen: torch.Generator) -> torch.Tensor:
    a = torch.randint(0, 32, (n, 10), generator=gen)
    return torch.cat([a, a], 1)


def _train(m: torch.nn.Module, steps: int) -> float:
    gen = torch.Generator().manual_seed(100)
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], 3e-3)
    for _ in range(steps):
        x = _induction(64, gen)
        loss = F.cross_entropy(m(x[:, :-1])[:, 10:].reshape(-1, 32), x[:, 11:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = _induction(500, torch.Generator().manual_seed(9))
    with torch.no_grad():
        return F.cross_entropy(m(x[:, :-1])[:, 10:].reshape(-1, 32), x[:, 11:].reshape(-1)).item()


@pytest.mark.slow
def test_dna_solves_an_induction_lm_like_a_dense_transformer_with_heavy_tailed_paths() -> None:
    torch.manual_seed(0)
    dna = create_model("dna", vocab=32, d_model=32, n_heads=2, d_mlp=64, max_len=32, n_attention=4, n_mlp=4,
                       steps=4, top_k=2)
    torch.manual_seed(0)
    dense = LIMeTransformer(32, 32, 2, 2, 64, 32, lime=False)            # a vanilla 2-layer transformer
    loss_dna, loss_dense = _train(dna, 500), _train(dense, 500)
    assert loss_dense < 0.05 and loss_dna < 0.15, (loss_dna, loss_dense)  # chance ln 32 = 3.47
    st = path_statistics(dna.paths(_induction(500, torch.Generator().manual_seed(9))[:, :-1]))
    # 8^4 = 4096 possible paths; tokens concentrate on few of them with a long tail
    assert st["distinct"] < 200 and st["gini"] > 0.6, st
    assert st["counts"][0] > 10 * st["counts"][len(st["counts"]) // 2], st["counts"]
