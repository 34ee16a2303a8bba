"""The patching engine: exactness of patched runs, batching, ablation sources, gradients, errors."""

from __future__ import annotations

import types

import pytest
import torch

from neurocircuits import discover
from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import DiscoveryError, PatchEngine, PlantedResidualMLP, planted_mlp_pairs
from neurocircuits.layers.hooks import hooks
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig
from neurocircuits.registry import UnknownNameError


def tiny_transformer(d_mlp: int = 32) -> HookedTransformer:
    cfg = TransformerConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_mlp=d_mlp, d_vocab=10, n_ctx=16,
                            init_std=0.3)
    return HookedTransformer(cfg, seed=0, dtype=torch.float64)


def random_pairs(b: int = 5, t: int = 7, vocab: int = 10, seed: int = 0) -> PromptPairs:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randint(0, vocab, s, generator=g)  # noqa: E731
    return PromptPairs(r(b, t), r(b, t), r(b), r(b))


@pytest.fixture(params=[False, True], ids=["edges", "per_position"])
def engine(request: pytest.FixtureRequest) -> PatchEngine:
    return PatchEngine(tiny_transformer(), random_pairs(), per_position=request.param, progress=False)


def test_no_edges_ablated_equals_clean_run_exactly(engine: PatchEngine) -> None:
    assert torch.equal(engine.patched_output(engine.empty_mask(1))[0], engine.clean_out)
    out = engine.patched_output(engine.empty_mask(3))  # a stacked batch: equal up to BLAS blocking
    assert torch.allclose(out, engine.clean_out.expand_as(out), atol=1e-13, rtol=0)


def test_all_edges_ablated_equals_corrupt_run(engine: PatchEngine) -> None:
    ones = torch.ones(1, engine.index.n_edges, engine.P)
    out = engine.patched_output(ones)[0]
    assert torch.allclose(out, engine.corrupt_out, atol=1e-12, rtol=0)
    assert (engine.clean_out - engine.corrupt_out).abs().max() > 0.1  # the check is not vacuous


def test_batched_patching_equals_one_at_a_time(engine: PatchEngine) -> None:
    g = torch.Generator().manual_seed(1)
    masks = (torch.rand(6, engine.index.n_edges, engine.P, generator=g) < 0.3).double()
    batched = engine.patched_output(masks)
    single = torch.stack([engine.patched_output(masks[i:i + 1])[0] for i in range(6)])
    assert torch.allclose(batched, single, atol=1e-12, rtol=0)
    # chunking to a tiny memory budget (one configuration per forward) gives the same metrics
    whole = engine.run_masks(masks)
    engine.memory_bytes = 1.0
    assert engine.n_configs_per_chunk == 1
    assert torch.allclose(engine.run_masks(masks), whole, atol=1e-12, rtol=0)


def test_complement_form_equals_direct_form_for_mostly_ablated_masks(engine: PatchEngine) -> None:
    """Head groups with few kept edges use S - sum (1 - m) D instead of sum m D: same numbers."""
    g = torch.Generator().manual_seed(2)
    base = (torch.rand(engine.index.n_edges, engine.P, generator=g) < 0.9).double()
    masks = base.repeat(4, 1, 1)
    masks[:, :3] = 1.0  # the configurations differ in a few edges, like ACDC candidates
    masks[1, -1], masks[2, 5], masks[3, 0] = 0.0, 0.0, 0.0
    engine.use_complement = True
    engine.use_blocks = engine.use_lazy_heads = False  # the block and lazy paths (test_discover_blocks.py) would take these readers
    fast = engine.patched_output(masks)
    assert "complement" in engine.last_modes.values()
    engine.use_complement = False
    direct = engine.patched_output(masks)
    assert "complement" not in engine.last_modes.values()  # the engine's plan cache follows the switch
    assert torch.allclose(fast, direct, atol=1e-12, rtol=0)
    assert (direct - engine.clean_out).abs().max() > 1e-3


def test_single_edge_patch_matches_hand_written_hook() -> None:
    """Ablating embed -> a1.h0.k equals replacing head 0's key input of layer 1 by hand."""
    model, pairs = tiny_transformer(d_mlp=0), random_pairs()
    engine = PatchEngine(model, pairs, progress=False)
    e = next(i for i, x in enumerate(engine.index.edges) if (x.source, x.target) == ("embed", "a1.h0.k"))
    mask = engine.empty_mask(1)
    mask[0, e] = 1.0
    got = engine.patched_output(mask)[0]
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(pairs.clean, names=["hook_embed"])
        _, corrupt_cache = model.run_with_cache(pairs.corrupt, names=["hook_embed"])
    diff = clean_cache["hook_embed"] - corrupt_cache["hook_embed"]

    def patch(x: torch.Tensor, hook: object) -> torch.Tensor:
        x = x.clone()
        x[:, :, 0] -= diff
        return x

    with torch.no_grad(), hooks(model, {"blocks.1.attn.hook_k_input": patch}):
        want = model(pairs.clean)
    assert torch.allclose(got, want, atol=1e-12, rtol=0)
    assert (got - engine.clean_out).abs().max() > 1e-6


def test_zero_ablation_of_all_edges_equals_zeroing_every_writer() -> None:
    model, pairs = tiny_transformer(), random_pairs()
    engine = PatchEngine(model, pairs, ablation="zero", progress=False)
    got = engine.patched_output(torch.ones(1, engine.index.n_edges, 1))[0]
    zero = lambda x, hook: torch.zeros_like(x)  # noqa: E731
    names = ["hook_embed"] + [f"blocks.{l}.{h}" for l in range(2) for h in ("attn.hook_result", "hook_mlp_out")]
    with torch.no_grad(), hooks(model, {n: zero for n in names}):
        want = model(pairs.clean)
    assert torch.allclose(got, want, atol=1e-12, rtol=0)


def test_mean_and_resample_ablation_sources() -> None:
    model, pairs = tiny_transformer(), random_pairs(b=6)
    mean = PatchEngine(model, pairs, ablation="mean", progress=False)
    clean = mean.clean_hooks["hook_embed"]
    assert torch.allclose(mean.abl_hooks["hook_embed"], clean.mean(0, keepdim=True).expand_as(clean))
    res = PatchEngine(model, pairs, ablation="resample", seed=3, progress=False)
    a, c = res.abl_hooks["hook_embed"], res.clean_hooks["hook_embed"]
    matches = [[torch.equal(a[i], c[j]) for j in range(6)] for i in range(6)]
    assert all(sum(row) == 1 for row in matches)  # each row is some clean prompt
    assert not any(matches[i][i] for i in range(6))  # ... never its own (a derangement)
    assert sorted(row.index(True) for row in matches) == list(range(6))


def test_eap_is_the_exact_linearisation_of_edge_patching(engine: PatchEngine) -> None:
    """(metric(edge ablated by a fraction eps) - metric(clean)) / eps -> EAP score as eps -> 0."""
    E, P = engine.index.n_edges, engine.P
    eps = 1e-6
    masks = torch.eye(E * P, dtype=torch.float64).view(E * P, E, P) * eps
    finite_diff = (engine.run_masks(masks) - engine.m_full) / eps
    eap = discover.METHODS.get("eap")(engine).scores.reshape(-1)
    assert torch.allclose(finite_diff, eap, atol=1e-4 * float(eap.abs().max()), rtol=0)


def test_edge_patching_scores_are_single_edge_effects() -> None:
    model, pairs = tiny_transformer(), random_pairs()
    engine = PatchEngine(model, pairs, progress=False)
    scores = discover.METHODS.get("edge_patching")(engine).scores[:, 0]
    for e in (0, 7, engine.index.n_edges - 1):
        mask = engine.empty_mask(1)
        mask[0, e] = 1
        want = float(engine.metric(engine.patched_output(mask))[0]) - engine.m_full
        assert scores[e].item() == pytest.approx(want, abs=1e-12)


def test_eap_ig_with_one_step_over_inputs_is_eap_at_the_midpoint() -> None:
    """With steps=1 the single integration point is alpha=0.5: a 50/50 mix of clean and ablated inputs."""
    model, pairs = tiny_transformer(), random_pairs()
    engine = PatchEngine(model, pairs, progress=False)
    ig = discover.METHODS.get("eap_ig")(engine, steps=1).scores
    grads = engine.reader_grads(writer_patch=lambda h, x, k, rows: (engine.abl_hooks[h] + x) / 2 if h == "hook_embed" else x)
    assert torch.allclose(ig, engine.attribution_scores(grads), atol=1e-12, rtol=0)
    # and many steps converge to a value different from plain EAP (the model is non-linear)
    eap = discover.METHODS.get("eap")(engine).scores
    assert not torch.allclose(ig, eap, atol=1e-3)


@pytest.mark.parametrize("method", ["eap", "eap_ig"])
def test_gradient_methods_chunk_the_batch_to_the_memory_budget(method: str) -> None:
    model, pairs = tiny_transformer(), random_pairs(b=5)
    whole = discover.METHODS.get(method)(PatchEngine(model, pairs, progress=False)).scores
    small = PatchEngine(model, pairs, progress=False)
    small.memory_bytes = 1.0  # one prompt per backward pass
    assert torch.allclose(discover.METHODS.get(method)(small).scores, whole, atol=1e-12, rtol=0)


def test_metrics_registry_values() -> None:
    logits = torch.tensor([[[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]]])  # (K=1, B=2, V=3)
    p = types.SimpleNamespace(answer=torch.tensor([0, 2]), wrong=torch.tensor([1, 1]), answer_pos=-1)
    M = discover.METRICS
    assert M.get("logit_diff")(logits, p, logits[0]).item() == pytest.approx((2.0 + -3.0) / 2)
    assert M.get("accuracy")(logits, p, logits[0]).item() == pytest.approx(0.5)
    assert M.get("kl_divergence")(logits, p, logits[0]).item() == pytest.approx(0.0, abs=1e-7)
    pr = torch.softmax(logits[0], -1)
    assert M.get("prob")(logits, p, logits[0]).item() == pytest.approx(float((pr[0, 0] + pr[1, 2]) / 2))
    assert set(discover.list_metrics()) >= {"logit_diff", "kl_divergence", "prob", "accuracy"}
    assert discover.list_ablations() == ["corrupt", "mean", "resample", "zero"]


# -- errors ---------------------------------------------------------------------------------------
def test_error_clean_corrupt_shape_mismatch_names_shapes() -> None:
    p = types.SimpleNamespace(clean=torch.zeros(4, 7, dtype=torch.long), corrupt=torch.zeros(4, 6, dtype=torch.long),
                              answer=torch.zeros(4, dtype=torch.long), wrong=torch.zeros(4, dtype=torch.long),
                              answer_pos=-1)
    with pytest.raises(DiscoveryError, match=r"\(4, 7\).*\(4, 6\)"):
        PatchEngine(tiny_transformer(), p)
    with pytest.raises(DiscoveryError, match=r"\(3, 2\) but corrupt inputs \(3, 5\)"):
        discover.InputPairs(torch.zeros(3, 2), torch.zeros(3, 5), torch.zeros(3), torch.zeros(3))
    with pytest.raises(DiscoveryError, match=r"answer must have shape \(3,\)"):
        discover.InputPairs(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(4), torch.zeros(3))


def test_error_unknown_names_list_valid_ones() -> None:
    model, pairs = PlantedResidualMLP(), planted_mlp_pairs(8)
    with pytest.raises(UnknownNameError, match="edge_patching"):
        discover.discover(model, pairs, method="edge_pathcing", progress=False)
    with pytest.raises(UnknownNameError, match="logit_diff"):
        discover.discover(model, pairs, metric="logitdiff", progress=False)
    with pytest.raises(UnknownNameError, match="resample"):
        discover.discover(model, pairs, ablation="resampled", progress=False)


def test_error_model_without_graph_and_graph_naming_missing_hook() -> None:
    pairs = planted_mlp_pairs(8)
    with pytest.raises(DiscoveryError, match="computation_graph"):
        PatchEngine(torch.nn.Linear(4, 2), pairs)

    class Broken(PlantedResidualMLP):
        def computation_graph(self):  # type: ignore[no-untyped-def]
            g = super().computation_graph()
            g.add_node("ghost", kind="mlp", role="writer", hook="blocks.9.hook_out")
            g.add_edge("ghost", "logits", kind="resid")
            return g

    with pytest.raises(DiscoveryError, match="blocks.9.hook_out"):
        PatchEngine(Broken(), pairs)


def test_error_hook_fired_twice() -> None:
    class Twice(PlantedResidualMLP):
        def forward(self, x):  # type: ignore[no-untyped-def]
            s = self.hook_embed(x @ self.W_E)
            for blk in self.blocks:
                s = s + blk(s)
            s = s + self.blocks[0](s)  # block 0 reused: its hooks fire twice
            return self.hook_final(s) @ self.W_U

    eng = PatchEngine(Twice(), planted_mlp_pairs(8), progress=False)
    with pytest.raises(DiscoveryError, match="fired twice"):
        eng.patched_output(torch.ones(1, eng.index.n_edges, 1))


def test_task_check_warns_or_raises_with_numbers() -> None:
    model, pairs = PlantedResidualMLP(), planted_mlp_pairs(8)
    with torch.no_grad():
        model.W_U.zero_()  # the model no longer reads the signal
    with pytest.warns(discover.TaskNotPerformedWarning, match="logit_diff is 0"):
        discover.discover(model, pairs, method="eap", progress=False, top_k=1)
    with pytest.raises(discover.TaskNotPerformedError, match="does not perform this task"):
        discover.discover(model, pairs, method="eap", progress=False, check="raise")


def test_error_per_position_needs_positions_and_bad_mask_shape() -> None:
    model, pairs = PlantedResidualMLP(), planted_mlp_pairs(8)
    with pytest.raises(DiscoveryError, match=r"per_position=True needs \(batch, pos, \.\.\.\)"):
        discover.discover(model, pairs, method="eap_positional", progress=False)
    eng = PatchEngine(model, pairs, progress=False)
    with pytest.raises(DiscoveryError, match=r"mask must have shape \(K, 15, 1\)"):
        eng.patched_output(torch.zeros(2, 14, 1))
    with pytest.raises(DiscoveryError, match="not differentiable"):
        discover.discover(model, pairs, method="eap", metric="accuracy", progress=False)


def test_warns_about_training_mode_dropout() -> None:
    model = PlantedResidualMLP()
    model.drop = torch.nn.Dropout(0.1)  # registered, train mode by default
    with pytest.warns(UserWarning, match="model.eval"):
        PatchEngine(model, planted_mlp_pairs(8), progress=False)


def test_patching_loops_pause_the_cyclic_collector_and_restore_it() -> None:
    import gc

    from neurocircuits.discover._loops import paused_gc

    states = []
    model, data = PlantedResidualMLP(), planted_mlp_pairs()
    engine = PatchEngine(model, data, progress=False)
    real = engine.patched_output

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        states.append(gc.isenabled())
        return real(*args, **kwargs)

    engine.patched_output = spy  # type: ignore[method-assign]
    assert gc.isenabled()
    discover.METHODS.get("acdc")(engine, threshold=0.05)
    assert states and not any(states) and gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # a collector the caller had disabled stays disabled
    finally:
        gc.enable()


def test_patching_loops_hold_the_heap_and_leave_glibc_settings_sane(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a loop malloc keeps freed memory (trim threshold raised, mmap threshold fixed); after it
    the trim threshold is lowered again; with HOLD_HEAP off nothing is set."""
    from neurocircuits.discover import _loops

    calls: list[tuple[int, int]] = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return 1

    monkeypatch.setattr(_loops, "_glibc", lambda: mallopt)
    seen = []
    model, data = PlantedResidualMLP(), planted_mlp_pairs()
    engine = PatchEngine(model, data, progress=False)
    real = engine.patched_output

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(list(calls))
        return real(*args, **kwargs)

    engine.patched_output = spy  # type: ignore[method-assign]
    discover.METHODS.get("acdc")(engine, threshold=0.05)
    def trim_now(c: list[tuple[int, int]]) -> int:
        return [v for p, v in c if p == _loops._M_TRIM_THRESHOLD][-1]

    # every forward runs with the loop's trim threshold: the nested run_masks loops inside ACDC's
    # must not put it back when they end (that cost 1 M page faults per medium ACDC run)
    assert seen and all(trim_now(c) == _loops.LOOP_TRIM_BYTES for c in seen)
    assert (_loops._M_MMAP_THRESHOLD, _loops.LOOP_MMAP_BYTES) in seen[0]
    assert calls.count((_loops._M_TRIM_THRESHOLD, _loops.AFTER_TRIM_BYTES)) == 1
    assert calls[-1] == (_loops._M_TRIM_THRESHOLD, _loops.AFTER_TRIM_BYTES)
    calls.clear()
    monkeypatch.setattr(_loops, "HOLD_HEAP", False)
    discover.METHODS.get("acdc")(engine, threshold=0.05)
    assert calls == []


def test_the_heap_settings_reach_glibc_here() -> None:
    """On a glibc Linux machine mallopt is found and accepts the loop's settings."""
    import platform

    from neurocircuits.discover import _loops

    if platform.system() != "Linux" or not platform.libc_ver()[0] == "glibc":
        assert _loops._glibc() is None or callable(_loops._glibc())
        return
    with _loops.held_heap() as held:
        assert held
