"""Readers whose edges from every writer after the cut are ablated read one stream.

By the discovery contract a reader's input is a constant plus the sum of its writers' outputs. With
every edge from the writers that run after a patched forward's cut ablated, what is left is the clean
writers before the cut plus the ablated ones after it: the same stream in every configuration and
every forward from that cut (ACDC's late-layer q/k inputs, whose later edges are mostly removed).
The engine hands it to the model as a ``LazyHeads`` base, so each distinct (column, head) is projected
once. Checked against the written copies (float64), in ACDC, and against a graph that breaks the
contract (it must raise, not patch wrongly).
"""

from __future__ import annotations

import pytest
import torch

from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import METHODS, DiscoveryError, PatchEngine
from neurocircuits.graph import CircuitGraph
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig

CFG = TransformerConfig(n_layers=3, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.3)


def _model() -> HookedTransformer:
    return HookedTransformer(CFG, seed=3, dtype=torch.float64).eval()


def _pairs(b: int = 4, t: int = 6) -> PromptPairs:
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randint(0, 12, s, generator=g)  # noqa: E731
    return PromptPairs(r(b, t), r(b, t), r(b), r(b))


def _masks(engine: PatchEngine, k: int = 3) -> torch.Tensor:
    """ACDC-shaped: one edge into a layer-1 head per configuration (the cut is at layer 1); every
    edge into layer-2 heads from layer-1 writers ablated, their edges from earlier writers at random."""
    idx = engine.index
    reader = [idx.graph.node(idx.readers[int(r)].name) for r in idx.edge_reader]
    writer = [idx.graph.node(idx.writers[int(w)].name) for w in idx.edge_writer]
    into_heads2 = torch.tensor([r.layer == 2 and r.kind == "head_input" for r in reader])
    from_layer1 = torch.tensor([w.layer == 1 for w in writer])
    g = torch.Generator().manual_seed(5)
    shared = (into_heads2 & (from_layer1 | (torch.rand(idx.n_edges, generator=g) < 0.5))).double()
    into1 = [i for i, r in enumerate(reader) if r.layer == 1 and r.kind == "head_input"]
    masks = shared.view(1, -1, 1).repeat(k, 1, engine.P)
    for kk in range(k):
        masks[kk, into1[3 * kk]] = 1.0
    return masks


def test_the_ablated_stream_matches_written_copies() -> None:
    engine = PatchEngine(_model(), _pairs(), metric="kl_divergence", progress=False)
    masks = _masks(engine)
    got = engine.patched_output(masks)
    again = engine.patched_output(masks)  # the stream and the projections come from the store
    modes = {h: m for h, m in engine.last_modes.items() if h.startswith("blocks.2.attn")}
    assert engine.last_cut == "blocks.1.hook_resid_pre"
    assert set(modes.values()) == {"lazy-ablated"}, modes
    assert engine.get(("ablated stream", "blocks.2.attn.hook_q_input", engine.last_cut)) is not None
    engine.use_ablated_stream = False
    ref = engine.patched_output(masks)
    assert "lazy-ablated" not in engine.last_modes.values()
    assert torch.allclose(got, ref, atol=1e-10, rtol=0)
    assert torch.allclose(again, ref, atol=1e-10, rtol=0)


def _edge(engine: PatchEngine, writer: str, reader: str) -> int:
    idx = engine.index
    return next(i for i, (r, w) in enumerate(zip(idx.edge_reader, idx.edge_writer))
                if idx.readers[int(r)].name == reader and idx.writers[int(w)].name == writer)


def test_heads_keeping_some_later_edges_add_them_to_the_ablated_stream() -> None:
    """a2.h1.k keeps one edge from after the cut, a2.h2.k all but one: written from the ablated stream
    plus the kept difference, and from the stream minus the removed one."""
    engine = PatchEngine(_model(), _pairs(), metric="kl_divergence", progress=False)
    masks = _masks(engine)
    masks[:, _edge(engine, "a1.h0", "a2.h1.k")] = 0.0
    for w in ("a1.h0", "a1.h1", "m1"):
        masks[:, _edge(engine, w, "a2.h2.k")] = 0.0
    got = engine.patched_output(masks)
    assert engine.last_modes["blocks.2.attn.hook_k_input"] == "kept"
    assert engine.last_modes["blocks.2.attn.hook_q_input"] == "lazy-ablated"
    engine.use_ablated_stream = False
    assert torch.allclose(got, engine.patched_output(masks), atol=1e-10, rtol=0)


def test_a_later_writer_no_head_ablates_keeps_the_written_copies() -> None:
    """Every q input of layer 2 keeps its edge from m1, and the direct plan then leaves m1 out of the
    writers it holds differences for: the ablated stream cannot be formed from them (it would miss
    m1), so the copies are written as before."""
    engine = PatchEngine(_model(), _pairs(), metric="kl_divergence", progress=False)
    engine.use_complement = False
    masks = _masks(engine, k=1)
    for h in range(CFG.n_heads):
        masks[:, _edge(engine, "m1", f"a2.h{h}.q")] = 0.0
    got = engine.patched_output(masks)
    assert engine.last_modes["blocks.2.attn.hook_q_input"] == "blocks"
    engine.use_ablated_stream = False
    assert torch.allclose(got, engine.patched_output(masks), atol=1e-10, rtol=0)


@pytest.mark.parametrize("per_position", [False, True])
def test_acdc_finds_the_same_circuit_with_the_ablated_stream(per_position: bool) -> None:
    runs = []
    modes: set[str] = set()
    for use in (True, False):
        engine = PatchEngine(_model(), _pairs(), metric="kl_divergence", per_position=per_position, progress=False)
        engine.use_ablated_stream = use
        run_masks = engine.run_masks

        def spy(*args, engine=engine, run_masks=run_masks, **kwargs):  # type: ignore[no-untyped-def]
            out = run_masks(*args, **kwargs)
            modes.update(engine.last_modes.values())
            return out

        engine.run_masks = spy  # type: ignore[method-assign]
        runs.append(METHODS.get("acdc")(engine, threshold=1e-2))
        if use:  # ACDC's forwards take the paths (per position, the kept edges differ by position)
            assert {"lazy-ablated"} | (set() if per_position else {"kept"}) <= modes, modes
    assert torch.equal(runs[0].circuit, runs[1].circuit)
    assert torch.allclose(runs[0].scores, runs[1].scores, atol=1e-9, rtol=0)
    assert 0 < int(runs[0].circuit.sum()) < runs[0].circuit.numel()


class _MissingWriter(HookedTransformer):
    """Its graph leaves out the edges a1.h0 -> layer-2 heads, so those readers' inputs hold a varying
    part that no listed writer explains (it breaks the discovery contract)."""

    def computation_graph(self) -> CircuitGraph:
        full = super().computation_graph()
        edges = [e for e in full.edges if not (e.source == "a1.h0" and e.target.startswith("a2."))]
        return CircuitGraph(full.nodes, edges, name=full.name, attrs=dict(full.attrs))


def test_a_graph_missing_a_writer_raises_instead_of_patching_wrongly() -> None:
    engine = PatchEngine(_MissingWriter(CFG, seed=3, dtype=torch.float64).eval(), _pairs(), metric="kl_divergence",
                         progress=False)
    masks = _masks(engine)
    idx = engine.index
    into_h0 = next(i for i, r in enumerate(idx.edge_reader) if idx.readers[int(r)].name == "a1.h0.q")
    masks[0, into_h0] = 1.0  # configurations differ in a1.h0's output, which layer 2 reads unlisted
    with pytest.raises(DiscoveryError, match="discovery contract"):
        engine.patched_output(masks)
