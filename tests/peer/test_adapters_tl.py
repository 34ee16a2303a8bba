"""TLAdapter on a real TransformerLens 2.x model (peer test: runs only where transformer-lens<3 is installed,
e.g. the bench environment: make test-peer).

The default suite covers the same interop without TransformerLens through golden files
(tests/unit/test_adapters_tl_golden.py)."""

import pytest
import torch

tl = pytest.importorskip("transformer_lens")

from neurocircuits import discover  # noqa: E402
from neurocircuits.data.tasks import PromptPairs  # noqa: E402
from neurocircuits.layers.hooks import cache_activations, hooks  # noqa: E402
from neurocircuits.models.adapters.transformer_lens import (  # noqa: E402
    TLAdapter,
    TLAdapterError,
    tiny_tl_model,
    transformer_from_tl_weights,
)

pytestmark = pytest.mark.peer


def _pairs(n=6, pos=10, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, vocab, (n, pos), generator=g)
    corrupt = clean.clone()
    corrupt[:, : pos // 2] = torch.randint(0, vocab, (n, pos // 2), generator=g)
    answer = torch.randint(0, vocab, (n,), generator=g)
    return PromptPairs(clean, corrupt, answer, (answer + 1) % vocab)


def test_graph_has_the_documented_edge_counts():
    assert TLAdapter(tiny_tl_model()).computation_graph().n_edges == 110
    assert TLAdapter(tiny_tl_model(n_layers=4, n_heads=8, d_model=128)).computation_graph().n_edges == 1519


def test_readers_equal_constant_plus_sum_of_upstream_writers():
    model = TLAdapter(tiny_tl_model())
    tl_model = model.tl
    graph = model.computation_graph()
    tokens = _pairs().clean
    hook_names = sorted({n.attrs["hook"] for n in graph.nodes})
    with torch.no_grad(), cache_activations(model, hook_names) as cache:
        model(tokens)

    def out(name):
        node = graph.node(name)
        x = cache[node.attrs["hook"]]
        return x if node.head is None else x[:, :, node.head]

    for reader in [n for n in graph.nodes if n.attrs["role"] == "reader"]:
        total = sum(out(w) for w in graph.predecessors(reader.name))
        layers_before = reader.layer  # every block before the reader's layer adds its biases
        const = sum(tl_model.blocks[i].attn.b_O + tl_model.blocks[i].mlp.b_out for i in range(layers_before))
        if reader.kind == "mlp_input":
            const = const + tl_model.blocks[reader.layer].attn.b_O
        torch.testing.assert_close(out(reader.name), total + const, rtol=1e-5, atol=1e-5)


def test_patching_through_the_adapter_equals_a_transformer_lens_hook():
    model = TLAdapter(tiny_tl_model(seed=1))
    plain = tiny_tl_model(seed=1)
    tokens = _pairs().clean

    def zero_head(x, hook=None):
        x = x.clone()
        x[:, :, 2] = 0.0
        return x

    with torch.no_grad():
        with hooks(model, {"blocks.0.attn.hook_result": zero_head}):
            ours = model(tokens)
        theirs = plain.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_result", zero_head)])
    torch.testing.assert_close(ours, theirs)
    model.tl.reset_hooks()  # TransformerLens's own reset keeps the adapter's permanent bridges
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), plain(tokens))


@pytest.mark.parametrize("method", ["eap", "edge_patching", "node_patching"])
def test_discovery_on_the_adapter_equals_discovery_on_converted_weights(method):
    tl_model = tiny_tl_model(d_model=32, n_heads=2)
    adapter = TLAdapter(tl_model)
    converted = transformer_from_tl_weights(tl_model.state_dict(), tl_model.cfg.to_dict())
    pairs = _pairs()
    a = discover.discover(adapter, pairs, method=method, top_k=10, progress=False, check="off")
    b = discover.discover(converted, pairs, method=method, top_k=10, progress=False, check="off")
    sa, sb = a.scores.scores(), b.scores.scores()
    assert set(sa) == set(sb)
    for key in sa:
        assert sa[key] == pytest.approx(sb[key], abs=1e-5)
    assert a.circuit.edge_keys() == b.circuit.edge_keys()


def test_missing_config_flags_raise_a_clear_error():
    cfg = tl.HookedTransformerConfig(n_layers=1, n_heads=2, d_model=16, d_head=8, d_mlp=32, d_vocab=10, n_ctx=8,
                                     act_fn="gelu")
    with pytest.raises(TLAdapterError, match="use_split_qkv_input=True"):
        TLAdapter(tl.HookedTransformer(cfg))
    with pytest.raises(TLAdapterError, match="HookedTransformer"):
        TLAdapter(torch.nn.Linear(2, 2))
    with pytest.raises(TLAdapterError, match="long token ids"):
        TLAdapter(tiny_tl_model())(torch.zeros(2, 3))


@pytest.mark.parametrize("hook", ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_mid", "hook_resid_final"])
def test_forward_from_a_residual_hook_equals_the_whole_forward(hook):
    model = TLAdapter(tiny_tl_model())
    tokens = _pairs().clean
    with cache_activations(model, [hook]) as cache:
        ref = model(tokens)
    assert model.can_resume_from(hook)
    assert torch.allclose(model.forward_from(hook, cache[hook]), ref, atol=1e-5, rtol=0)
    with model.output_positions([-1]):
        assert torch.allclose(model.forward_from(hook, cache[hook])[:, -1], ref[:, -1], atol=1e-5, rtol=0)
    assert not model.can_resume_from("blocks.0.attn.hook_q_input")
    with pytest.raises(TLAdapterError, match="cannot start"):
        model.forward_from("blocks.0.hook_mlp_out", cache[hook])
