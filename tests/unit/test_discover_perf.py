"""Fast paths of the patching engine and the transformer give the numbers of the reference paths.

Every speed-up (repeating the batch at a cut hook instead of running the unpatched prefix K times,
the transformer's shared-norm projection of patched head inputs) is checked against the plain
path in float64.
"""

from __future__ import annotations

import pytest
import torch

from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import METHODS, DiscoveryError, PatchEngine
from neurocircuits.graph import CircuitGraph
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig


def model64(**kw: object) -> HookedTransformer:
    cfg = dict(n_layers=3, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.3)
    cfg.update(kw)
    return HookedTransformer(TransformerConfig(**cfg), seed=3, dtype=torch.float64).eval()


def pairs(b: int = 4, t: int = 6, vocab: int = 12, seed: int = 0) -> PromptPairs:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randint(0, vocab, s, generator=g)  # noqa: E731
    return PromptPairs(r(b, t), r(b, t), r(b), r(b))


def late_masks(engine: PatchEngine, layer_from: int, k: int = 5, p: float = 0.4, seed: int = 0) -> torch.Tensor:
    """Random masks over the edges into readers of layer >= layer_from only."""
    g = torch.Generator().manual_seed(seed)
    idx = engine.index
    late = torch.tensor([idx.graph.node(idx.readers[int(r)].name).layer >= layer_from for r in idx.edge_reader])
    m = (torch.rand(k, idx.n_edges, engine.P, generator=g) < p).double()
    return m * late.view(1, -1, 1).double()


@pytest.mark.parametrize("per_position", [False, True], ids=["edges", "per_position"])
@pytest.mark.parametrize("layer_from", [0, 1, 2, 3])
def test_cut_hook_batch_expansion_equals_full_batch_forward(per_position: bool, layer_from: int) -> None:
    engine = PatchEngine(model64(), pairs(), per_position=per_position, progress=False)
    masks = late_masks(engine, layer_from)
    masks[0] = 0.0  # one configuration with nothing ablated
    engine.use_cut = True
    fast = engine.patched_output(masks)
    expected_cut = {0: "blocks.0.hook_resid_pre", 1: "blocks.1.hook_resid_pre", 2: "blocks.2.hook_resid_pre",
                    3: "hook_resid_final"}[layer_from]
    assert engine.last_cut == expected_cut
    engine.use_cut = False
    ref = engine.patched_output(masks)
    assert engine.last_cut is None
    assert torch.allclose(fast, ref, atol=1e-10, rtol=0)
    assert (ref[1:] - engine.clean_out).abs().max() > 1e-4  # the patches change the output
    assert torch.allclose(fast[0], engine.clean_out, atol=1e-12, rtol=0)


def test_mlp_reader_cut_is_resid_mid() -> None:
    engine = PatchEngine(model64(), pairs(), progress=False)
    idx = engine.index
    mask = engine.empty_mask(3)
    mlp_edges = [e for e in range(idx.n_edges) if idx.readers[int(idx.edge_reader[e])].name == "m1.in"]
    for i in range(3):
        mask[i, mlp_edges[i]] = 1.0
    fast = engine.patched_output(mask)
    assert engine.last_cut == "blocks.1.hook_resid_mid"
    engine.use_cut = False
    assert torch.allclose(fast, engine.patched_output(mask), atol=1e-10, rtol=0)


def test_all_zero_masks_use_one_unpatched_run() -> None:
    engine = PatchEngine(model64(), pairs(), progress=False)
    out = engine.patched_output(engine.empty_mask(4))
    assert torch.allclose(out, engine.clean_out.expand_as(out), atol=1e-13, rtol=0)


@pytest.mark.parametrize("method,options", [("edge_patching", {}), ("acdc", {"threshold": 0.02}),
                                            ("node_patching", {})])
def test_methods_give_identical_results_with_and_without_fast_paths(method: str, options: dict) -> None:
    model, data = model64(), pairs()
    metric = "kl_divergence" if method == "acdc" else "logit_diff"
    fast_engine = PatchEngine(model, data, metric=metric, progress=False)
    ref_engine = PatchEngine(model, data, metric=metric, progress=False)
    ref_engine.use_cut = False
    fast = METHODS.get(method)(fast_engine, **options)
    ref = METHODS.get(method)(ref_engine, **options)
    assert torch.allclose(fast.scores, ref.scores, atol=1e-9, rtol=0)
    assert fast.scores.abs().max() > 1e-4
    if ref.circuit is not None:
        assert torch.equal(fast.circuit, ref.circuit)
        assert 0 < int(ref.circuit.sum()) < ref.circuit.numel()  # ACDC kept some edges and removed some


class _WrongCut(HookedTransformer):
    """Declares a cut hook that fires AFTER the readers of layer 0: the engine must refuse it."""

    def computation_graph(self) -> CircuitGraph:
        g = super().computation_graph()
        for node in g.nodes:
            if node.attrs.get("cut_hook") == "blocks.0.hook_resid_pre":
                node.attrs["cut_hook"] = "blocks.1.hook_resid_pre"
        return g


def test_a_cut_hook_after_its_reader_raises() -> None:
    model = _WrongCut(model64().cfg, seed=3, dtype=torch.float64).eval()
    engine = PatchEngine(model, pairs(), progress=False)
    mask = engine.empty_mask(2)
    mask[:, 0] = 1.0  # embed -> a0.h0.q
    with pytest.raises(DiscoveryError, match="cut_hook"):
        engine.patched_output(mask)
    engine.use_cut = False
    assert engine.patched_output(mask).shape[0] == 2


@pytest.mark.parametrize("k", [1, 4])
def test_one_prompt_prefix_and_explicit_inputs_equal_reference(k: int) -> None:
    """On the clean prompts the prefix runs on one prompt and the cut returns the cached clean stream;
    with other inputs the prefix runs at batch B and is repeated. Both equal the full-batch forward."""
    engine = PatchEngine(model64(), pairs(), progress=False)
    masks = late_masks(engine, 1, k=k, seed=4)
    other = pairs(seed=7).clean
    fast_clean = engine.patched_output(masks)
    assert engine.last_cut == "blocks.1.hook_resid_pre" and engine._last_replace
    fast_other = engine.patched_output(masks, inputs=other)
    assert engine._last_replace is False and (engine.last_cut is not None) == (k > 1)
    engine.use_cut = False
    assert torch.allclose(fast_clean, engine.patched_output(masks), atol=1e-10, rtol=0)
    assert torch.allclose(fast_other, engine.patched_output(masks, inputs=other), atol=1e-10, rtol=0)
    assert (fast_other - fast_clean).abs().max() > 1e-3


def test_acdc_window_choice_does_not_change_the_circuit() -> None:
    from neurocircuits.discover._acdc import _best_window

    assert _best_window(0, 1000, 64) > 8 and _best_window(60, 100, 64) == 1 and _best_window(0, 0, 1) == 1
    model, data = model64(), pairs()
    outs = [METHODS.get("acdc")(PatchEngine(model, data, metric="kl_divergence", progress=False), threshold=t, window=w)
            for t in (0.02,) for w in (1, 3, 64)]
    for o in outs[1:]:
        assert torch.equal(o.circuit, outs[0].circuit)
        assert torch.allclose(o.scores, outs[0].scores, atol=1e-10, rtol=0)


@pytest.mark.parametrize("layer_from", [1, 2])
def test_mostly_ablated_masks_take_the_complement_form_with_static_writers(layer_from: int) -> None:
    """ACDC-like masks (most edges ablated) on late readers: the complement form with the writers
    before the cut contracted once equals the full-batch reference."""
    engine = PatchEngine(model64(), pairs(), progress=False)
    masks = late_masks(engine, layer_from, k=4, p=0.9, seed=5)
    engine.use_blocks = engine.use_lazy_heads = False  # the block and lazy paths (test_discover_blocks.py) would take these readers
    fast = engine.patched_output(masks)
    assert "complement" in engine.last_modes.values() and engine._last_replace
    engine.use_cut = False
    engine.use_complement = False
    assert torch.allclose(fast, engine.patched_output(masks), atol=1e-10, rtol=0)


@pytest.mark.parametrize("variant", [dict(), dict(normalization="rms"), dict(normalization=None),
                                     dict(n_kv_heads=1, positional="rotary", gated_mlp=True, act="silu")],
                         ids=["ln", "rms", "none", "gqa-rotary"])
def test_transformer_recomputes_only_patched_head_rows(variant: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Patching a few heads' q/k/v inputs: the shared-norm projection plus recomputed patched rows equals
    normalising and projecting every per-head copy (float64), for edge patching, ACDC masks and EAP."""
    from neurocircuits.models.transformer import Attention

    model = model64(**variant)
    engine = PatchEngine(model, pairs(), progress=False)
    g = torch.Generator().manual_seed(9)
    sparse = engine.empty_mask(6)
    for i, e in enumerate(torch.randperm(engine.index.n_edges, generator=g)[:6].tolist()):
        sparse[i, e] = 1.0  # one edge per configuration, like exact edge patching
    dense = (torch.rand(3, engine.index.n_edges, 1, generator=g) < 0.8).double()
    results = {}
    for fast in (True, False):
        monkeypatch.setattr(Attention, "fast_patched_projection", fast)
        results[fast] = (engine.patched_output(sparse), engine.patched_output(dense),
                         METHODS.get("eap")(engine).scores)
    for a, b in zip(results[True], results[False]):
        assert torch.allclose(a, b, atol=1e-10, rtol=0)
    assert (results[False][0] - engine.clean_out).abs().max() > 1e-4


def test_hand_hook_on_some_rows_equals_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from neurocircuits.layers.hooks import hooks as attach
    from neurocircuits.models.transformer import Attention

    model, tokens = model64(), pairs().clean

    def patch(x: torch.Tensor, point: object) -> torch.Tensor:
        x = x.clone()
        x[1, 2, 0] += 0.5
        x[3, :, 2] = 0.0
        return x

    outs = []
    for fast in (True, False):
        monkeypatch.setattr(Attention, "fast_patched_projection", fast)
        with torch.no_grad(), attach(model, {"blocks.1.attn.hook_k_input": patch, "blocks.2.attn.hook_v_input": patch}):
            outs.append(model(tokens))
    assert torch.allclose(outs[0], outs[1], atol=1e-10, rtol=0)
    assert (outs[1] - model(tokens)).abs().max() > 1e-4
