"""Fast weight programmers (catalog row 51): linear-attention equivalence, delta-rule overwrite,
and (slow) delta beats additive on associative recall with key updates."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurocircuits.layers.cells import FastWeightLayer, FastWeightState, InputShapeError, fwp_step, linear_attention


def test_additive_fwp_equals_linear_attention_numerically():
    torch.manual_seed(0)
    layer = FastWeightLayer(5, d_key=6, d_value=4, rule="additive", feature_map="elu1", normalize=False,
                            dtype=torch.float64)
    x = torch.randn(3, 17, 5, dtype=torch.float64)
    y, state = layer(x)
    q, k, v, _ = layer.project(x)
    torch.testing.assert_close(y, linear_attention(q, k, v), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state.W, torch.einsum("btv,btk->bvk", v, k), rtol=1e-12, atol=1e-12)


def test_delta_rule_overwrites_while_additive_accumulates():
    e = torch.eye(4, dtype=torch.float64)
    state_d = state_a = FastWeightState(torch.zeros(1, 3, 4, dtype=torch.float64))
    beta = torch.ones(1, 1, dtype=torch.float64)
    writes = [(0, [1.0, 0, 0]), (1, [0, 1.0, 0]), (0, [0, 0, 1.0])]  # key 0 gets a new value
    for key, val in writes:
        kk, vv = e[key:key + 1], torch.tensor([val], dtype=torch.float64)
        _, state_d = fwp_step(kk, kk, vv, beta, state_d, "delta")
        _, state_a = fwp_step(kk, kk, vv, None, state_a, "additive")
    read_d, _ = fwp_step(e[:1], torch.zeros(1, 4, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.float64), beta * 0,
                         state_d, "delta")
    assert read_d.tolist() == [[0.0, 0.0, 1.0]]  # latest value only
    assert torch.einsum("bvk,bk->bv", state_a.W, e[:1]).tolist() == [[1.0, 0.0, 1.0]]  # sum of both


def test_fast_weight_layer_shapes_dtype_and_errors():
    for dtype in (torch.float32, torch.float64):
        layer = FastWeightLayer(4, d_key=8, d_value=6, out_features=3, dtype=dtype)
        y, st = layer(layer.example_input(2, 7))
        assert y.shape == (2, 7, 3) and y.dtype == dtype and st.W.shape == (2, 6, 8)
        y2, _ = layer(layer.example_input(2, 3), st)  # continue from a state
        y2.sum().backward()
        assert layer.slow.weight.grad is not None
    with pytest.raises(InputShapeError):
        FastWeightLayer(4)(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="rule"):
        FastWeightLayer(4, rule="hebbian")


K = 8


def _recall_batch(n_pairs: int, b: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs (key, value) with keys drawn with replacement, then a query key; target: its latest value."""
    keys = torch.randint(0, K, (b, n_pairs), generator=gen)
    vals = torch.randint(0, K, (b, n_pairs), generator=gen)
    x = torch.zeros(b, n_pairs + 1, 2 * K)
    x[:, :-1].scatter_(2, keys.unsqueeze(-1), 1.0)
    x[:, :-1].scatter_(2, (vals + K).unsqueeze(-1), 1.0)
    rows = torch.arange(b)
    qk = keys[rows, torch.randint(0, n_pairs, (b,), generator=gen)]
    x[rows, -1, qk] = 1.0
    last = ((keys == qk[:, None]) * torch.arange(n_pairs)).argmax(1)
    return x, vals[rows, last]


@pytest.mark.slow
def test_delta_rule_recalls_more_pairs_than_additive():
    acc = {}
    for rule in ("additive", "delta"):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        layer = FastWeightLayer(2 * K, d_key=K, d_value=K, out_features=K, rule=rule)
        opt = torch.optim.Adam(layer.parameters(), 3e-3)
        for _ in range(400):
            x, y = _recall_batch(12, 64, gen)
            loss = nn.functional.cross_entropy(layer(x)[0][:, -1], y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc[rule] = {}
            for n in (4, 8, 16, 24):
                x, y = _recall_batch(n, 1000, torch.Generator().manual_seed(99))
                acc[rule][n] = float((layer(x)[0][:, -1].argmax(-1) == y).float().mean())
    solved = {rule: max([n for n, a in accs.items() if a >= 0.7], default=0) for rule, accs in acc.items()}
    assert solved["delta"] >= 16 and solved["delta"] > solved["additive"], acc
    assert all(acc["delta"][n] > acc["additive"][n] + 0.15 for n in (8, 16, 24)), acc
