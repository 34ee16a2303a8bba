"""Acceptance: discovery on the small transformers shipped with the package (issue 2's bar).

- the discovered induction circuit contains the previous-token -> induction-head path and reaches
  faithfulness >= 0.8 with <= 20% of the edges;
- EAP scores correlate with exact edge patching on trained models (Pearson >= 0.9 on |score|).

The previous-token and induction heads are identified from the attention patterns, independently of
any discovery method.
"""

from __future__ import annotations

import pytest
import torch

from neurocircuits import discover
from neurocircuits.data.tasks import get_task
from neurocircuits.models.pretrained import load_pretrained, pretrained_metadata


def shipped(name: str, n: int = 64):  # type: ignore[no-untyped-def]
    model = load_pretrained(name)
    task = get_task(pretrained_metadata(name)["task"])
    return model, task.make_pairs(n, seed=123)


def induction_heads(model, pairs) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """(previous-token head in layer 0, induction head in layer 1) from attention patterns."""
    tokens = pairs.clean
    _, cache = model.run_with_cache(tokens, names=["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_pattern"])
    p0 = cache["blocks.0.attn.hook_pattern"]  # (batch, head, q, k)
    prev_score = p0.diagonal(offset=-1, dim1=2, dim2=3)[..., 1:].mean((0, 2))  # attention to position - 1
    p1 = cache["blocks.1.attn.hook_pattern"][:, :, -1]  # last query: (batch, head, k)
    # the induction target: the position after the earlier occurrence of the last token
    b, t = tokens.shape
    target = torch.zeros(b, t)
    for i in range(b):
        hits = (tokens[i, :-1] == tokens[i, -1]).nonzero().flatten()
        target[i, hits + 1] = 1.0
    ind_score = (p1 * target[:, None]).sum(-1).mean(0)
    return f"a0.h{int(prev_score.argmax())}", f"a1.h{int(ind_score.argmax())}"


def pearson_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.abs().flatten(), b.abs().flatten()]))[0, 1])


def test_induction_circuit_is_small_faithful_and_contains_the_induction_path() -> None:
    model, pairs = shipped("induction")
    prev, ind = induction_heads(model, pairs)
    result = discover.discover(model, pairs, method="eap_ig", per_position=True, progress=False, check="raise")
    assert result.faithfulness >= 0.8
    assert result.n_edges <= 0.2 * result.n_edges_total, (result.n_edges, result.n_edges_total)
    kept = {(e.source, e.target) for e in result.circuit.edges}
    assert (prev, f"{ind}.k") in kept, f"no {prev} -> {ind}.k edge in {sorted(kept)}"
    assert (ind, "logits") in kept
    # independent check of the reported number
    again = discover.faithfulness(model, pairs, result.circuit)
    assert again.faithfulness == pytest.approx(result.faithfulness, abs=1e-5)


def test_acdc_on_the_induction_model_keeps_the_induction_path() -> None:
    model, pairs = shipped("induction", n=32)
    prev, ind = induction_heads(model, pairs)
    result = discover.discover(model, pairs, method="acdc", progress=False)
    kept = {(e.source, e.target) for e in result.circuit.edges}
    assert {(prev, f"{ind}.k"), (ind, "logits")} <= kept
    assert result.faithfulness >= 0.8 and result.n_edges <= 0.4 * result.n_edges_total


@pytest.mark.parametrize("name", ["docstring", "greater_than"])
def test_eap_correlates_with_exact_edge_patching_on_trained_models(name: str) -> None:
    model, pairs = shipped(name)
    engine = discover.PatchEngine(model, pairs, progress=False)
    exact = discover.METHODS.get("edge_patching")(engine).scores
    eap = discover.METHODS.get("eap")(engine).scores
    assert pearson_abs(exact, eap) >= 0.9


def test_eap_ig_tracks_exact_patching_on_the_saturated_induction_model() -> None:
    """The induction model's attention is saturated (clean logit difference ~16), the known failure
    mode of first-order attribution: plain EAP reaches Pearson ~0.55 there; integrated gradients
    recover the agreement (measured: 0.82 over inputs, 0.92 over activations)."""
    model, pairs = shipped("induction")
    engine = discover.PatchEngine(model, pairs, progress=False)
    exact = discover.METHODS.get("edge_patching")(engine).scores
    eap = discover.METHODS.get("eap")(engine).scores
    ig_inputs = discover.METHODS.get("eap_ig")(engine, steps=10).scores
    ig_acts = discover.METHODS.get("eap_ig")(engine, steps=10, over="activations").scores
    assert pearson_abs(exact, ig_acts) >= 0.9
    assert pearson_abs(exact, ig_inputs) > pearson_abs(exact, eap)


@pytest.mark.parametrize("method", ["eap", "eap_ig"])
def test_position_aware_circuits_need_fewer_edges_for_the_same_faithfulness(method: str) -> None:
    """Catalog row 64: counted in (edge, position) units, the position-resolved circuit reaching
    faithfulness 0.8 is smaller than the position-agnostic one (each of its edges spans every position)."""
    model, pairs = shipped("induction")
    n_pos = pairs.clean.shape[1]
    flat = discover.discover(model, pairs, method=method, progress=False)
    pos = discover.discover(model, pairs, method=method, per_position=True, progress=False)
    need = lambda curve: min(c for c, f in curve if f >= 0.8)  # noqa: E731
    assert need(pos.curve) < need(flat.curve) * n_pos
    assert pos.faithfulness >= 0.8 and flat.faithfulness >= 0.8


@pytest.mark.slow
def test_position_resolved_acdc_on_the_induction_model() -> None:
    """ACDC over 580 (edge, position) pairs: a small, faithful circuit with the induction path."""
    model, pairs = shipped("induction")
    prev, ind = induction_heads(model, pairs)
    result = discover.discover(model, pairs, method="acdc", per_position=True, threshold=0.05, progress=False)
    kept = {(e.source, e.target) for e in result.circuit.edges}
    assert {(prev, f"{ind}.k"), (ind, "logits")} <= kept
    assert result.faithfulness >= 0.9 and result.n_edges <= 0.2 * result.n_edges_total
    last = pairs.clean.shape[1] - 1
    assert {e.position for e in result.circuit.edges if e.target == "logits"} == {last}
