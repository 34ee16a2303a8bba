"""TLAdapter's fast forward (same parameters, one projection per head) against TransformerLens itself.

Peer test: runs only where transformer-lens<3 is installed (the bench environment: make test-peer).
"""

import pytest
import torch

tl = pytest.importorskip("transformer_lens")

from neurocircuits.discover import METHODS, PatchEngine  # noqa: E402
from neurocircuits.data.tasks import PromptPairs  # noqa: E402
from neurocircuits.layers.hooks import cache_activations, hooks  # noqa: E402
from neurocircuits.models.adapters.transformer_lens import TLAdapter, tiny_tl_model  # noqa: E402

pytestmark = pytest.mark.peer

CONFIGS = [dict(), dict(attn_only=True), dict(act_fn="gelu_new", n_heads=2, d_model=32), dict(act_fn="relu")]


def _pairs(n=6, pos=10, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, vocab, (n, pos), generator=g)
    corrupt = clean.clone()
    corrupt[:, : pos // 2] = torch.randint(0, vocab, (n, pos // 2), generator=g)
    answer = torch.randint(0, vocab, (n,), generator=g)
    return PromptPairs(clean, corrupt, answer, (answer + 1) % vocab)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_fast_forward_equals_transformer_lens_logits_and_hook_activations(cfg):
    model = TLAdapter(tiny_tl_model(seed=2, **cfg))
    assert model.fast_path_reason() is None
    tokens = _pairs().clean
    names = sorted(model._fast.fires)
    with torch.no_grad():
        model.fast_forward = False
        with cache_activations(model, names) as ref_cache:
            ref = model(tokens)
        model.fast_forward = True
        with cache_activations(model, names) as fast_cache:
            fast = model(tokens)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    assert set(fast_cache) == set(ref_cache) == set(names)
    for name in names:
        torch.testing.assert_close(fast_cache[name], ref_cache[name], rtol=1e-5, atol=1e-5, msg=name)


def test_a_patching_hook_gives_the_transformer_lens_result():
    model = TLAdapter(tiny_tl_model(seed=1))
    tokens = _pairs().clean

    def patch(x, hook=None):
        x = x.clone()
        x[:, 3:, 1] *= -0.5
        return x

    fns = {"blocks.0.attn.hook_result": patch, "blocks.1.attn.hook_k_input": patch, "blocks.1.hook_mlp_in": patch}
    outs = {}
    with torch.no_grad():
        for fast in (True, False):
            model.fast_forward = fast
            with hooks(model, fns):
                outs[fast] = model(tokens)
        model.fast_forward = True
        clean = model(tokens)
    torch.testing.assert_close(outs[True], outs[False], rtol=1e-5, atol=1e-5)
    assert (outs[True] - clean).abs().max() > 1e-3


@pytest.mark.parametrize("cfg", CONFIGS)
def test_reading_hooks_leave_the_fast_forward_bitwise_as_declared(cfg):
    """``passive_hooks_exact`` holds on the fast path (recording hooks on every point it calls: the
    logits are bitwise the unhooked ones) and is not claimed on TransformerLens's own forward."""
    model = TLAdapter(tiny_tl_model(seed=2, **cfg))
    tokens = _pairs().clean
    with torch.no_grad():
        plain = model(tokens)
        with cache_activations(model, sorted(model._fast.fires)) as cache:
            assert model.passive_hooks_exact
            recorded = model(tokens)
        assert len(cache) > 10 and torch.equal(recorded, plain)
        model.fast_forward = False
        assert not model.passive_hooks_exact


def test_hooks_the_fast_path_cannot_honour_send_the_forward_through_transformer_lens():
    model = TLAdapter(tiny_tl_model(seed=1))
    tokens = _pairs().clean
    calls = []
    with torch.no_grad():
        model.tl.add_hook("blocks.0.attn.hook_z", lambda x, hook: calls.append("tl") or x * 0.5)
        assert "hook_z" in model.fast_path_reason()
        out = model(tokens)
        assert calls == ["tl"]
        model.tl.reset_hooks()  # keeps the adapter's permanent bridges
        assert model.fast_path_reason() is None
        with hooks(model, {"blocks.0.ln1.hook_scale": lambda x, p: calls.append("nc")}):
            assert "hook_scale" in model.fast_path_reason()
            model(tokens)
        assert calls[0] == "tl" and len(calls) > 1 and set(calls[1:]) == {"nc"}  # ln1 runs on q, k and v
        assert (out - model(tokens)).abs().max() > 1e-4


@pytest.mark.parametrize("cfg", CONFIGS[:2])
def test_output_positions_keeps_the_answer_logits(cfg):
    model = TLAdapter(tiny_tl_model(seed=3, **cfg))
    tokens = _pairs().clean
    with torch.no_grad():
        full = model(tokens)
        with model.output_positions([-1]):
            trimmed = model(tokens)
    torch.testing.assert_close(trimmed[:, -1], full[:, -1], rtol=1e-5, atol=1e-5)
    assert trimmed[:, :-1].abs().max() == 0


@pytest.mark.parametrize("method,options", [("edge_patching", {}), ("acdc", {"threshold": 0.005}), ("eap", {})])
def test_discovery_with_the_fast_forward_equals_discovery_through_transformer_lens(method, options):
    model = TLAdapter(tiny_tl_model(d_model=32, n_heads=2, seed=4))
    data = _pairs()
    metric = "kl_divergence" if method == "acdc" else "logit_diff"
    out = {}
    for fast in (True, False):
        model.fast_forward = fast
        out[fast] = METHODS.get(method)(PatchEngine(model, data, metric=metric, progress=False), **options)
    model.fast_forward = True
    torch.testing.assert_close(out[True].scores, out[False].scores, rtol=0, atol=1e-5)
    assert out[False].scores.abs().max() > 1e-3
    if out[False].circuit is not None:
        assert torch.equal(out[True].circuit, out[False].circuit)
        assert 0 < int(out[False].circuit.sum()) < out[False].circuit.numel()
