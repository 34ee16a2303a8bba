"""The hookable transformer honours the discovery contract: reader = constant + sum of writers."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.models import create_model, list_models
from neurocircuits.models.transformer import HookedTransformer, TokenError, TransformerConfig

CONFIGS = {
    "attn_only_ln": TransformerConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_mlp=0, n_ctx=12, d_vocab=11),
    "mlp_rms_gqa_rotary": TransformerConfig(
        n_layers=3, n_heads=4, n_kv_heads=2, d_model=16, d_head=4, d_mlp=24, n_ctx=12, d_vocab=11,
        normalization="rms", act="silu", gated_mlp=True, positional="rotary", attn_bias=False, mlp_bias=False,
    ),
    "mlp_nonorm_relu": TransformerConfig(n_layers=2, n_heads=3, d_model=12, d_head=4, d_mlp=20, n_ctx=12, d_vocab=9,
                                         normalization=None, act="relu"),
}


def _randomise_biases(model: HookedTransformer) -> None:
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.rsplit(".", 1)[-1].startswith("b_"):
                p.normal_(0, 0.3)


def _check_contract(model: HookedTransformer, tokens: torch.Tensor, atol: float = 1e-5) -> int:
    graph = model.computation_graph()
    hooks = sorted({n.attrs["hook"] for n in graph.nodes})
    _, cache = model.run_with_cache(tokens, names=hooks)

    def act(node_name: str) -> torch.Tensor:
        node = graph.node(node_name)
        x = cache[node.attrs["hook"]]
        return x[:, :, node.head] if node.head is not None else x

    checked = 0
    for node in graph.nodes:
        if node.attrs["role"] != "reader":
            continue
        total = sum(act(w) for w in graph.predecessors(node.name))
        const = act(node.name) - total
        # the remainder is a constant: the same at every batch element and position
        assert torch.allclose(const, const[:1, :1].expand_as(const), atol=atol), node.name
        # and it is exactly the sum of the upstream attention output biases b_O (the MLP bias b_out
        # is part of the MLP writer's output hook_mlp_out)
        layer = node.layer
        expected = torch.zeros(model.cfg.d_model)
        for block in model.blocks[:layer]:
            expected = expected + block.attn.b_O
        if node.kind == "mlp_input":
            expected = expected + model.blocks[layer].attn.b_O
        assert torch.allclose(const[0, 0], expected.detach(), atol=atol), node.name
        checked += 1
    return checked


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_reader_equals_sum_of_upstream_writers(name: str) -> None:
    cfg = CONFIGS[name]
    model = HookedTransformer(cfg, seed=0)
    _randomise_biases(model)
    tokens = torch.randint(0, cfg.d_vocab, (3, 10), generator=torch.Generator().manual_seed(1))
    n = _check_contract(model, tokens)
    assert n == cfg.n_layers * cfg.n_heads * 3 + (0 if cfg.attn_only else cfg.n_layers) + 1


def test_graph_structure_and_ordering() -> None:
    model = HookedTransformer(CONFIGS["mlp_nonorm_relu"], seed=0)
    g = model.computation_graph()
    names = g.node_names()
    # writers: embed + heads + mlps; readers: qkv per head + mlp inputs + logits
    assert sum(n.attrs["role"] == "writer" for n in g.nodes) == 1 + 2 * 3 + 2
    assert g.node("a1.h2.k").attrs["owner"] == "a1.h2"
    assert g.node("logits").attrs["owner"] is None
    # readers come before their owner's writer, and topological order is layer order
    assert names.index("a0.h0.q") < names.index("a0.h0")
    assert names.index("m0.in") < names.index("m0")
    # every writer upstream of a reader has an edge; none downstream
    assert g.has_edge("a0.h1", "a1.h0.k", kind="k")
    assert g.has_edge("m0", "a1.h2.v", kind="v")
    assert g.has_edge("a0.h0", "m0.in", kind="mlp")
    assert not g.has_edge("a1.h0", "a1.h1.q")
    assert not g.has_edge("a1.h0", "a0.h1.q")
    assert g.has_edge("m1", "logits", kind="resid")
    # edge count: layer 0 readers see 1 writer, m0.in sees 1+3, layer-1 readers see 1+3+1, ...
    n_edges = 3 * 3 * 1 + 4 + 3 * 3 * 5 + 8 + 9
    assert g.n_edges == n_edges


def test_hook_shapes() -> None:
    cfg = CONFIGS["mlp_rms_gqa_rotary"]
    model = HookedTransformer(cfg, seed=0)
    tokens = torch.randint(0, cfg.d_vocab, (2, 7))
    logits, cache = model.run_with_cache(tokens)
    assert logits.shape == (2, 7, cfg.d_vocab)
    assert cache["hook_embed"].shape == (2, 7, 16)
    assert cache["blocks.0.attn.hook_q_input"].shape == (2, 7, 4, 16)
    assert cache["blocks.0.attn.hook_k"].shape == (2, 7, 4, 4)
    assert cache["blocks.1.attn.hook_pattern"].shape == (2, 4, 7, 7)
    assert cache["blocks.1.attn.hook_result"].shape == (2, 7, 4, 16)
    assert cache["blocks.2.hook_mlp_out"].shape == (2, 7, 16)
    # causal: the pattern is lower-triangular and rows sum to one
    pat = cache["blocks.1.attn.hook_pattern"]
    assert torch.all(pat.triu(1) == 0)
    assert torch.allclose(pat.sum(-1), torch.ones(2, 4, 7), atol=1e-6)


def test_hooked_and_fast_paths_agree() -> None:
    """Materialising the per-head split inputs (when hooked) gives the same logits as the fast path."""
    cfg = CONFIGS["mlp_rms_gqa_rotary"]
    model = HookedTransformer(cfg, seed=3)
    tokens = torch.randint(0, cfg.d_vocab, (2, 9))
    plain = model(tokens)
    hooked, _ = model.run_with_cache(tokens)
    assert torch.allclose(plain, hooked, atol=1e-5)


def test_patching_one_head_key_input_only_touches_that_head() -> None:
    from neurocircuits.layers.hooks import hooks
    cfg = CONFIGS["attn_only_ln"]
    model = HookedTransformer(cfg, seed=0)
    tokens = torch.randint(0, cfg.d_vocab, (2, 8))
    _, base = model.run_with_cache(tokens, names=["blocks.1.attn.hook_pattern"])

    def scramble_head0(x: torch.Tensor, hook: object) -> torch.Tensor:
        x = x.clone()
        x[:, :, 0] = torch.randn_like(x[:, :, 0])
        return x

    with hooks(model, {"blocks.1.attn.hook_k_input": scramble_head0}):
        _, patched = model.run_with_cache(tokens, names=["blocks.1.attn.hook_pattern"])
    before, after = base["blocks.1.attn.hook_pattern"], patched["blocks.1.attn.hook_pattern"]
    assert torch.allclose(before[:, 1], after[:, 1])
    assert not torch.allclose(before[:, 0], after[:, 0])


def test_causality() -> None:
    cfg = CONFIGS["mlp_nonorm_relu"]
    model = HookedTransformer(cfg, seed=0)
    a = torch.randint(0, cfg.d_vocab, (1, 8))
    b = a.clone()
    b[0, 5:] = (b[0, 5:] + 1) % cfg.d_vocab
    assert torch.allclose(model(a)[0, :5], model(b)[0, :5], atol=1e-6)


def test_token_errors() -> None:
    model = HookedTransformer(CONFIGS["attn_only_ln"], seed=0)
    with pytest.raises(TokenError, match="outside the vocabulary"):
        model(torch.tensor([[1, 2, 11]]))
    with pytest.raises(TokenError, match="outside the vocabulary"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(TokenError, match="exceeds the model's context n_ctx=12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    with pytest.raises(TokenError, match="integer ids"):
        model(torch.zeros(1, 3))


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="n_kv_heads"):
        TransformerConfig(n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="normalization"):
        TransformerConfig(normalization="batch")
    with pytest.raises(ValueError, match="act must be one of"):
        TransformerConfig(act="tanh")
    with pytest.raises(ValueError, match="unknown TransformerConfig fields"):
        TransformerConfig.from_dict({"n_layer": 2})


def test_registry_and_dtype_device(tmp_path) -> None:
    assert {"transformer", "attn_only_transformer"} <= set(list_models())
    model = create_model("attn_only_transformer", n_layers=1, d_vocab=7, dtype=torch.float64, device="cpu", seed=0)
    assert model.W_E.dtype == torch.float64 and model.cfg.d_mlp == 0
    out = model(torch.tensor([[1, 2, 3]]))
    assert out.dtype == torch.float64
    loss = out.sum()
    loss.backward()
    assert model.blocks[0].attn.W_Q.grad is not None
    with pytest.raises(ValueError, match="no MLPs"):
        create_model("attn_only_transformer", d_mlp=8)
    m2 = create_model("transformer", n_layers=1, d_vocab=7, d_mlp=8, seed=1)
    path = tmp_path / "m.safetensors"
    m2.save(path, metadata={"task": "x", "acc": 0.5})
    m3 = HookedTransformer.load(path)
    t = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(m2(t), m3(t))
    assert m3.cfg == m2.cfg
