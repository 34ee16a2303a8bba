"""Patched forwards that start at their cut (``forward_from``): the unpatched prefix is skipped.

On the clean prompts a patched forward's prefix only recomputes the cached clean block at its cut, so a
model that can start a forward at a residual hook (``can_resume_from`` / ``forward_from``) is started
there. The results must equal the full forward (float64), and a cut hook declared after its readers
must still raise instead of silently dropping their patches.
"""

from __future__ import annotations

import pytest
import torch

from neurocircuits.discover import METHODS, PatchEngine
from neurocircuits.layers.hooks import cache_activations

from test_discover_perf import _WrongCut, late_masks, model64, pairs  # tests/unit is on sys.path (no __init__)

RESUMABLE = ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_mid", "blocks.2.hook_resid_mid",
             "hook_resid_final"]


@pytest.mark.parametrize("trim", [False, True])
@pytest.mark.parametrize("hook", RESUMABLE)
def test_forward_from_a_residual_hook_equals_the_whole_forward(hook: str, trim: bool) -> None:
    model, tokens = model64(), pairs().clean
    with cache_activations(model, [hook]) as cache:
        full = model(tokens)
    with model.output_positions([-1] if trim else None):
        ref = model(tokens)
        got = model.forward_from(hook, cache[hook])
    assert model.can_resume_from(hook)
    assert torch.allclose(got, ref, atol=1e-12, rtol=0)
    assert torch.allclose(got[:, -1], full[:, -1], atol=1e-12, rtol=0)


def test_forward_from_rejects_other_hooks_and_shapes() -> None:
    model = model64()
    assert not model.can_resume_from("blocks.1.attn.hook_q_input")
    assert not model.can_resume_from("blocks.7.hook_resid_pre")
    with pytest.raises(ValueError, match="hook_resid_pre"):
        model.forward_from("blocks.1.hook_mlp_out", torch.zeros(2, 6, 24, dtype=torch.float64))
    with pytest.raises(ValueError, match="shape"):
        model.forward_from("blocks.1.hook_resid_pre", torch.zeros(2, 6, 5, dtype=torch.float64))


@pytest.mark.parametrize("layer_from", [0, 1, 2])
def test_resumed_patched_forwards_equal_full_prefix_forwards(layer_from: int) -> None:
    engine = PatchEngine(model64(), pairs(), metric="kl_divergence", progress=False)
    assert set(engine._before_cut) >= {"blocks.1.hook_resid_pre", "blocks.2.hook_resid_mid"}
    embed = frozenset(w for w, writer in enumerate(engine.index.writers) if writer.name == "embed")
    assert len(embed) == 1 and engine._before_cut["blocks.0.hook_resid_pre"] == embed  # only the embedding runs first
    masks = late_masks(engine, layer_from, k=4, seed=layer_from)
    calls: list[str] = []
    original = engine.model.forward_from
    engine.model.forward_from = lambda hook, x: calls.append(hook) or original(hook, x)  # type: ignore[method-assign]
    resumed = engine.patched_output(masks)
    assert calls == [engine.last_cut]
    engine.use_resume = False
    prefix = engine.patched_output(masks)
    engine.use_cut = False
    ref = engine.patched_output(masks)
    assert torch.allclose(resumed, prefix, atol=1e-12, rtol=0)
    assert torch.allclose(resumed, ref, atol=1e-10, rtol=0)
    assert (ref - engine.clean_out).abs().max() > 1e-4


def test_acdc_with_and_without_resuming_finds_the_same_circuit() -> None:
    runs = []
    for resume in (True, False):
        engine = PatchEngine(model64(), pairs(b=5), metric="kl_divergence", progress=False)
        engine.use_resume = resume
        runs.append(METHODS.get("acdc")(engine, threshold=0.01))
    assert torch.equal(runs[0].circuit, runs[1].circuit)
    assert torch.allclose(runs[0].scores, runs[1].scores, atol=1e-12, rtol=0)
    assert 0 < int(runs[0].circuit.sum()) < runs[0].circuit.numel()


def test_a_resumed_forward_past_its_readers_raises() -> None:
    """The cut declared after the layer-0 readers: starting there would skip their patches silently."""
    engine = PatchEngine(_WrongCut(model64().cfg, seed=3, dtype=torch.float64).eval(), pairs(), progress=False)
    mask = engine.empty_mask(2)
    mask[:, 0] = 1.0  # embed -> a0.h0.q
    assert engine._resumable() is False  # nothing run yet
    with pytest.raises(Exception, match="cut_hook"):
        engine.patched_output(mask)
