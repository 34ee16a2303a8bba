"""The hand-built induction transformer: solves its task, and its planted heads carry the behaviour."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers.hooks import hooks
from neurocircuits.models.handbuilt import induction_model


def _logit_diff(model, pairs, fwd=()) -> float:
    idx = torch.arange(len(pairs))
    with torch.no_grad(), hooks(model, fwd):
        logits = model(pairs.clean)[:, -1]
    return float((logits[idx, pairs.answer] - logits[idx, pairs.wrong]).mean())


def _zero_head(h: int):
    def fn(x: torch.Tensor, hook: object) -> torch.Tensor:
        x = x.clone()
        x[:, :, h] = 0
        return x
    return fn


@pytest.mark.parametrize("prev, ind, n_heads, d_mlp", [(0, 1, 2, 0), (1, 0, 3, 0), (0, 1, 2, 16)])
def test_handbuilt_solves_induction_and_planted_heads_matter(prev: int, ind: int, n_heads: int, d_mlp: int) -> None:
    hb = induction_model(prev_head=prev, induction_head=ind, n_heads=n_heads, d_mlp=d_mlp)
    pairs = hb.pairs(300, seed=5)
    with torch.no_grad():
        clean = hb.model(pairs.clean)[:, -1]
    assert float((clean.argmax(-1) == pairs.answer).float().mean()) == 1.0
    base = _logit_diff(hb.model, pairs)
    assert base > 9.0
    # corrupt prompts carry no induction signal
    idx = torch.arange(len(pairs))
    with torch.no_grad():
        corrupt = hb.model(pairs.corrupt)[:, -1]
    assert abs(float((corrupt[idx, pairs.answer] - corrupt[idx, pairs.wrong]).mean())) < 0.5
    for layer in (0, 1):
        for h in range(n_heads):
            role = hb.heads[f"a{layer}.h{h}"]
            ablated = _logit_diff(hb.model, pairs, {f"blocks.{layer}.attn.hook_result": _zero_head(h)})
            if role in ("previous_token", "induction"):
                assert ablated < 0.1 * base, (layer, h, role, ablated)
            else:
                assert role.startswith("distractor")
                assert abs(ablated - base) < 0.02 * base, (layer, h, role, ablated)
                assert ablated != base  # distractors do write something
    for layer in range(2) if d_mlp else []:
        ablated = _logit_diff(hb.model, pairs, {f"blocks.{layer}.hook_mlp_out": lambda x, hook: torch.zeros_like(x)})
        assert abs(ablated - base) < 0.02 * base and ablated != base, (layer, ablated)


@pytest.mark.parametrize("d_mlp", [0, 16])
def test_ground_truth_is_subgraph_of_computation_graph(d_mlp: int) -> None:
    hb = induction_model(d_mlp=d_mlp)
    full = hb.model.computation_graph()
    assert full.has_node("m0") == bool(d_mlp)
    assert hb.circuit.edge_keys() <= full.edge_keys()
    assert hb.circuit.n_edges == 7
    assert hb.circuit.has_edge("a0.h0", "a1.h1.k", kind="k")
    assert hb.circuit.has_edge("a1.h1", "logits", kind="resid")
    for node in hb.circuit.nodes:
        assert node.attrs == full.node(node.name).attrs
    corrupt = hb.detectable_circuit("corrupt")
    assert {(e.source, e.target) for e in corrupt.edges} == {
        ("embed", "a0.h0.v"), ("a0.h0", "a1.h1.k"), ("embed", "a1.h1.v"), ("a1.h1", "logits")}
    assert hb.detectable_circuit("zero").n_edges == 7
    with pytest.raises(ValueError, match="valid ablations"):
        hb.detectable_circuit("median")


def _edge_patch_effect(hb, source: str, target: str, pairs, source_run: str = "corrupt") -> float:
    """Exact edge patching via hooks: reader input -= out_w(clean) - out_w(corrupt) (the contract)."""
    g = hb.model.computation_graph()
    w, r = g.node(source), g.node(target)
    names = [w.attrs["hook"]]
    _, clean_cache = hb.model.run_with_cache(pairs.clean, names=names)
    _, cor_cache = hb.model.run_with_cache(pairs.corrupt, names=names)
    sl = (lambda t: t[:, :, w.head]) if w.head is not None else (lambda t: t)
    delta = sl(clean_cache[w.attrs["hook"]]) - sl(cor_cache[w.attrs["hook"]])

    def patch(x: torch.Tensor, hook: object) -> torch.Tensor:
        x = x.clone()
        if r.head is not None:
            x[:, :, r.head] -= delta
        else:
            x -= delta
        return x

    return _logit_diff(hb.model, pairs, {r.attrs["hook"]: patch})


def test_planted_edges_carry_the_effect_under_corrupt_patching() -> None:
    hb = induction_model()
    pairs = hb.pairs(100, seed=2)
    base = _logit_diff(hb.model, pairs)
    for e in hb.detectable_circuit("corrupt").edges:
        assert _edge_patch_effect(hb, e.source, e.target, pairs) < 0.2 * base, e
    # an edge outside the circuit: distractor -> induction key, embed -> distractor value
    for source, target in (("a0.h1", "a1.h1.k"), ("embed", "a1.h0.v"), ("a0.h0", "a1.h0.v")):
        assert abs(_edge_patch_effect(hb, source, target, pairs) - base) < 0.02 * base
