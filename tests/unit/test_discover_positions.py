"""Round-3 speed paths give the numbers of the plain paths (float64, so differences are rounding only).

- ``HookedTransformer.output_positions``: the last block computes only the answer position (keys and
  values everywhere); the logits there equal the full forward's, hooks still see full-size tensors.
- The engine uses it for answer-position metrics in ``run_masks`` and ``reader_grads``.
- The engine's cache of static reader contributions (reused across ACDC forwards).
- ``hooks(model, fns, points=...)`` with a precomputed hook table.
"""

from __future__ import annotations

import pytest
import torch

from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import METHODS, PatchEngine, PlantedResidualMLP, planted_mlp_pairs
from neurocircuits.layers.hooks import Trimmed, UnknownHookPointError, accept_trimmed, hook_points, hooks, trimmed
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig

VARIANTS = [dict(), dict(normalization="rms", act="relu"), dict(d_mlp=0),
            dict(n_kv_heads=1, positional="rotary", gated_mlp=True, act="silu")]
IDS = ["ln-gelu", "rms-relu", "attn-only", "gqa-rotary-gated"]


def model64(**kw: object) -> HookedTransformer:
    cfg = dict(n_layers=3, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.3)
    cfg.update(kw)
    return HookedTransformer(TransformerConfig(**cfg), seed=3, dtype=torch.float64).eval()


def pairs(b: int = 4, t: int = 6, vocab: int = 12, seed: int = 0, answer_pos: int = -1) -> PromptPairs:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randint(0, vocab, s, generator=g)  # noqa: E731
    return PromptPairs(r(b, t), r(b, t), r(b), r(b), answer_pos)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
@pytest.mark.parametrize("positions", [(-1,), (2,), (0, 4)])
def test_output_positions_keeps_the_logits_at_those_positions(variant: dict, positions: tuple) -> None:
    model, tokens = model64(**variant), pairs().clean
    with torch.no_grad():
        full = model(tokens)
        with model.output_positions(positions):
            trimmed = model(tokens)
    keep = sorted({p % tokens.shape[1] for p in positions})
    rest = [p for p in range(tokens.shape[1]) if p not in keep]
    assert torch.allclose(trimmed[:, keep], full[:, keep], atol=1e-12, rtol=0)
    assert trimmed[:, rest].abs().max() == 0  # not computed
    assert model._positions is None  # the context restores the full forward
    assert torch.equal(model(tokens), full)


@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_hooks_in_the_trimmed_block_see_full_size_tensors_and_act(variant: dict) -> None:
    model, tokens = model64(**variant), pairs().clean
    last = model.cfg.n_layers - 1
    names = [f"blocks.{last}.attn.hook_q", f"blocks.{last}.attn.hook_pattern", f"blocks.{last}.attn.hook_result",
             "hook_resid_final"] + ([f"blocks.{last}.mlp.hook_post"] if model.cfg.d_mlp else [])
    seen: dict[str, tuple] = {}

    def scale(name: str):
        def fn(x: torch.Tensor, point: object) -> torch.Tensor:
            seen[name] = tuple(x.shape)
            return x * 0.7
        return fn

    fns = [(n, scale(n)) for n in names]
    with torch.no_grad():
        with hooks(model, fns):
            full = model(tokens)
        full_shapes = dict(seen)
        seen.clear()
        with hooks(model, fns), model.output_positions([-1]):
            trimmed = model(tokens)
    assert seen == full_shapes  # every hook fired, on a full-size tensor
    assert torch.allclose(trimmed[:, -1], full[:, -1], atol=1e-12, rtol=0)
    assert (full[:, -1] - model(tokens)[:, -1]).abs().max() > 1e-3  # the hooks changed the answer logits


def _counting(model: HookedTransformer, calls: list) -> None:
    original = model.output_positions

    def wrapped(positions):
        calls.append(tuple(positions))
        return original(positions)

    model.output_positions = wrapped  # type: ignore[method-assign]


@pytest.mark.parametrize("method,options", [("edge_patching", {}), ("acdc", {"threshold": 0.02}),
                                            ("node_patching", {}), ("eap", {}),
                                            ("eap_ig", {"steps": 3, "over": "activations"}),
                                            ("eap_ig", {"steps": 3, "over": "inputs"})])
@pytest.mark.parametrize("answer_pos", [-1, 3])
@pytest.mark.parametrize("per_position", [False, True])  # True: trimmed readers take their window's mask entries
def test_methods_give_the_same_scores_with_and_without_output_positions(method: str, options: dict,
                                                                        answer_pos: int, per_position: bool) -> None:
    model, data = model64(), pairs(answer_pos=answer_pos)
    metric = "kl_divergence" if method == "acdc" else "logit_diff"
    calls: list = []
    _counting(model, calls)
    fast_engine = PatchEngine(model, data, metric=metric, per_position=per_position, progress=False)
    ref_engine = PatchEngine(model, data, metric=metric, per_position=per_position, progress=False)
    ref_engine.use_output_positions = False
    assert fast_engine.trim_positions == (answer_pos,)
    fast = METHODS.get(method)(fast_engine, **options)
    assert calls and set(calls) == {(answer_pos,)}  # the trimmed forward really ran
    n_calls = len(calls)
    ref = METHODS.get(method)(ref_engine, **options)
    assert len(calls) == n_calls  # ... and the reference did not use it
    assert torch.allclose(fast.scores, ref.scores, atol=1e-10, rtol=0)
    assert fast.scores.abs().max() > 1e-4
    if ref.circuit is not None:
        assert torch.equal(fast.circuit, ref.circuit)
        assert 0 < int(ref.circuit.sum()) < ref.circuit.numel()


def test_patched_output_stays_complete_and_models_without_positions_are_untouched() -> None:
    model, data = model64(), pairs()
    engine = PatchEngine(model, data, progress=False)
    mask = engine.empty_mask(2)
    mask[:, -3:] = 1.0  # edges into the logits
    out = engine.patched_output(mask)
    assert out[:, :, :-1].abs().min() > 0  # every position computed for the public method
    mlp = PlantedResidualMLP()
    assert PatchEngine(mlp, planted_mlp_pairs(), progress=False).trim_positions is None


def test_static_contribution_cache_gives_the_same_acdc_run() -> None:
    model, data = model64(n_layers=3), pairs(b=5)
    runs = {}
    for cached in (True, False):
        engine = PatchEngine(model, data, metric="kl_divergence", progress=False)
        engine.use_static_delta_cache = cached
        runs[cached] = (METHODS.get("acdc")(engine, threshold=0.01), len(engine._delta_cache))
    (fast, n_cached), (ref, n_ref) = runs[True], runs[False]
    assert n_cached > 0 and n_ref == 0
    assert torch.equal(fast.circuit, ref.circuit)
    assert torch.allclose(fast.scores, ref.scores, atol=1e-12, rtol=0)
    assert 0 < int(ref.circuit.sum()) < ref.circuit.numel()


def test_static_contribution_cache_stays_within_its_byte_limit() -> None:
    engine = PatchEngine(model64(), pairs(), metric="kl_divergence", progress=False)
    engine.delta_cache_limit_bytes = 20_000
    METHODS.get("acdc")(engine, threshold=0.01)
    assert 0 < engine._delta_cache_bytes <= 20_000 or len(engine._delta_cache) == 1


def test_hooks_with_a_precomputed_table_behave_like_hooks_without() -> None:
    model, tokens = model64(), pairs().clean
    points = hook_points(model)

    def zero_head(x: torch.Tensor, point: object) -> torch.Tensor:
        x = x.clone()
        x[:, :, 1] = 0.0
        return x

    with torch.no_grad():
        with hooks(model, {"blocks.1.attn.hook_result": zero_head}, points=points):
            a = model(tokens)
        with hooks(model, {"blocks.1.attn.hook_result": zero_head}):
            b = model(tokens)
        clean = model(tokens)
    assert torch.equal(a, b) and (a - clean).abs().max() > 1e-4
    with pytest.raises(UnknownHookPointError, match="no hook point"):
        with hooks(model, {"blocks.9.hook_nothing": zero_head}, points=points):
            pass


def test_hooks_that_accept_trimmed_tensors_see_the_computed_positions_only() -> None:
    model, tokens = model64(), pairs().clean
    last = model.cfg.n_layers - 1
    seen: dict[str, tuple] = {}

    @accept_trimmed
    def scale(x: torch.Tensor, point: object) -> torch.Tensor:
        seen["shape"], seen["window"] = tuple(x.shape), trimmed(x)
        return x * 0.7

    with torch.no_grad():
        with hooks(model, [(f"blocks.{last}.attn.hook_result", scale)]):
            full = model(tokens)
        assert seen["window"] is None and seen["shape"][1] == tokens.shape[1]
        with hooks(model, [(f"blocks.{last}.attn.hook_result", scale)]), model.output_positions([-1]):
            out = model(tokens)
    n = tokens.shape[1]
    assert seen["shape"][1] == 1 and seen["window"] == Trimmed(1, n - 1, n, n)
    assert torch.allclose(out[:, -1], full[:, -1], atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("variant", VARIANTS, ids=IDS)
def test_reading_hooks_leave_the_output_bitwise_as_declared(variant: dict, dtype: torch.dtype) -> None:
    """``passive_hooks_exact``: with recording hooks on every hook point the logits are bitwise the
    unhooked ones, so the engine may take its reference output from its caching forward."""
    from neurocircuits.layers.hooks import cache_activations

    cfg = dict(n_layers=3, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.3)
    model = HookedTransformer(TransformerConfig(**{**cfg, **variant}), seed=3, dtype=dtype).eval()
    assert model.passive_hooks_exact
    tokens = pairs().clean
    with torch.no_grad():
        plain = model(tokens)
        with cache_activations(model) as cache:
            recorded = model(tokens)
    assert len(cache) > 10 and torch.equal(recorded, plain)


def test_the_engine_runs_two_set_up_forwards_when_reading_hooks_are_exact() -> None:
    calls = []

    class Counted(HookedTransformer):
        def forward(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(1)
            return super().forward(*args, **kwargs)

    cfg = TransformerConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_mlp=16, d_vocab=12, n_ctx=16)
    for exact, expected in ((True, 2), (False, 3)):
        model = Counted(cfg, seed=3, dtype=torch.float64).eval()
        model.passive_hooks_exact = exact  # type: ignore[misc]
        calls.clear()
        engine = PatchEngine(model, pairs(), metric="kl_divergence", progress=False)
        assert len(calls) == expected
        with torch.no_grad():
            assert torch.equal(engine.clean_out, model(pairs().clean))
