"""Block-structured patched forwards: K configurations that share their input blocks.

At a cut hook the engine repeats one clean block K times (``mark_repeated``); a reader whose ablated
writers all ran before the cut then gets each configuration's input as that block minus one cached
contribution, and tells the model which heads changed and which changed identically in every block
(``mark_changed``), so the model projects those once. Both must give the numbers of the reference
paths (float64).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import PatchEngine
from neurocircuits.layers.head_inputs import project_changed_heads, project_copies, project_lazy, project_shared
from neurocircuits.layers.hooks import (LazyHeads, accept_lazy_heads, changed_slices, mark_changed, mark_lazy_heads,
                                        mark_repeated)
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig


def _ln(d: int) -> nn.LayerNorm:
    ln = nn.LayerNorm(d, dtype=torch.float64)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.3, 0.3)
    return ln


def test_hinted_projection_equals_projecting_every_copy() -> None:
    g = torch.Generator().manual_seed(0)
    K, B, T, H, D, E = 3, 4, 5, 4, 8, 3
    block = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    resid = mark_repeated(block.repeat(K, 1, 1), K)
    w = torch.randn(H, D, E, generator=g, dtype=torch.float64)
    b = torch.randn(H, E, generator=g, dtype=torch.float64)
    ln = _ln(D)
    split = resid.unsqueeze(2).expand(-1, -1, H, -1).clone()
    same = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    split[:, :, 0] -= same.repeat(K, 1, 1)  # head 0: changed the same way in every block
    split[:, :, 2] -= torch.randn(K * B, T, D, generator=g, dtype=torch.float64)  # head 2: per block
    ref = project_copies(split, ln, w, b)
    with torch.no_grad():
        hinted = project_changed_heads(resid, mark_changed(split.clone(), 2, [0, 2], K, [0]), ln, w, b)
        compared = project_changed_heads(resid, split.clone(), ln, w, b)  # no hint: rows are compared
        keep = torch.tensor([1, 4])
        kept = project_changed_heads(resid, mark_changed(split.clone(), 2, [0, 2], K, [0]), ln, w, b, keep)
    assert torch.allclose(hinted, ref, atol=1e-12, rtol=0)
    assert torch.allclose(compared, ref, atol=1e-12, rtol=0)
    assert torch.allclose(kept, ref[:, keep], atol=1e-12, rtol=0)
    # the repeated-block shortcut of the shared projection is exact too
    assert torch.allclose(project_shared(resid, ln, w, b), project_shared(resid.clone(), ln, w, b), atol=1e-12, rtol=0)


def test_hint_rides_on_the_tensor_only() -> None:
    t = mark_changed(torch.zeros(2, 3, 4, 5), 2, [1], 2, [1])
    assert changed_slices(t) == (2, (1,), 2, (1,), ())
    assert changed_slices(t + 0) is None  # a new tensor carries no hint


def _model() -> HookedTransformer:
    cfg = TransformerConfig(n_layers=3, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.3)
    return HookedTransformer(cfg, seed=3, dtype=torch.float64).eval()


def _pairs(b: int = 4, t: int = 6) -> PromptPairs:
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randint(0, 12, s, generator=g)  # noqa: E731
    return PromptPairs(r(b, t), r(b, t), r(b), r(b))


def test_acdc_shaped_masks_take_the_block_path_and_match_the_reference() -> None:
    """Configurations = one shared removed set (edges into layers >= 1) plus one edge each into
    layer-1 heads, as ACDC's speculative batches are."""
    engine = PatchEngine(_model(), _pairs(), progress=False)
    idx = engine.index
    layer = torch.tensor([idx.graph.node(idx.readers[int(r)].name).layer for r in idx.edge_reader])
    head_reader = torch.tensor([idx.readers[int(r)].name.startswith("a") for r in idx.edge_reader])
    g = torch.Generator().manual_seed(2)
    base = ((torch.rand(idx.n_edges, generator=g) < 0.5) & (layer >= 2)).double()
    tested = torch.nonzero((layer == 1) & head_reader).flatten()[:5]
    masks = base.repeat(len(tested), 1).unsqueeze(-1)
    for k, e in enumerate(tested.tolist()):
        masks[k, e] = 1.0
        masks[k, :e][(layer[:e] == 1)] = 0.0
    fast = engine.patched_output(masks)
    assert "blocks" in engine.last_modes.values()
    engine.use_cut = False
    ref = engine.patched_output(masks)
    assert torch.allclose(fast, ref, atol=1e-10, rtol=0)
    assert (ref - engine.clean_out).abs().max() > 1e-4  # the patches change the output


def test_one_stream_for_all_heads_is_projected_once_and_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """All edges into every head's query of layer 2 removed (ACDC's late layers look like this): the
    heads share one input, passed as a stride-0 view, and the outputs equal the reference path."""
    engine = PatchEngine(_model(), _pairs(), progress=False)
    engine.use_lazy_heads = False  # the tested layer-1 heads get written copies (see the lazy tests below)
    idx = engine.index
    names = [idx.readers[int(r)].name for r in idx.edge_reader]
    layer = torch.tensor([idx.graph.node(n).layer for n in names])
    q2 = torch.tensor([n.startswith("a2.") and n.endswith(".q") for n in names])
    tested = torch.nonzero((layer == 1) & torch.tensor([n.startswith("a1.") for n in names])).flatten()[:4]
    masks = q2.double().repeat(len(tested), 1).unsqueeze(-1)
    for k, e in enumerate(tested.tolist()):
        masks[k, e] = 1.0
    import neurocircuits.models.transformer as tr

    strides: list[int] = []

    def spy(resid: torch.Tensor, split: torch.Tensor, *args: object, **kw: object) -> torch.Tensor:
        strides.append(split.stride(2))
        return project_changed_heads(resid, split, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(tr, "project_changed_heads", spy)
    fast = engine.patched_output(masks)
    assert 0 in strides  # the layer-2 queries got one stream for every head
    assert any(st != 0 for st in strides)  # the tested layer-1 heads did not
    engine.use_cut = False
    ref = engine.patched_output(masks)
    assert torch.allclose(fast, ref, atol=1e-10, rtol=0)
    assert (ref - engine.clean_out).abs().max() > 1e-4


def test_stride_zero_heads_project_like_copies() -> None:
    g = torch.Generator().manual_seed(3)
    resid = torch.randn(6, 5, 8, generator=g, dtype=torch.float64)
    other = torch.randn(6, 5, 8, generator=g, dtype=torch.float64)
    w = torch.randn(3, 8, 4, generator=g, dtype=torch.float64)
    b = torch.randn(3, 4, generator=g, dtype=torch.float64)
    ln = _ln(8)
    split = other.unsqueeze(2).expand(-1, -1, 3, -1)
    with torch.no_grad():
        got = project_changed_heads(resid, split, ln, w, b)
        ref = project_copies(split.contiguous(), ln, w, b)
    assert torch.allclose(got, ref, atol=1e-12, rtol=0)


def test_equal_head_inputs_are_grouped_and_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """Heads 0 and 1 of layer 2 lose all their query edges, head 2 none: the engine computes their
    input once, says so in the hint, and the outputs equal the reference path."""
    import neurocircuits.models.transformer as tr

    engine = PatchEngine(_model(), _pairs(), progress=False)
    idx = engine.index
    names = [idx.readers[int(r)].name for r in idx.edge_reader]
    q01 = torch.tensor([n in ("a2.h0.q", "a2.h1.q") for n in names])
    tested = torch.nonzero(torch.tensor([n.startswith("a1.") for n in names])).flatten()[:3]
    masks = q01.double().repeat(len(tested), 1).unsqueeze(-1)
    for k, e in enumerate(tested.tolist()):
        masks[k, e] = 1.0
    hints: list[object] = []

    def spy(resid: torch.Tensor, split: torch.Tensor, *args: object, **kw: object) -> torch.Tensor:
        hints.append(changed_slices(split))
        return project_changed_heads(resid, split, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(tr, "project_changed_heads", spy)
    fast = engine.patched_output(masks)
    assert any(h is not None and h.groups == ((0, 1),) for h in hints)  # type: ignore[attr-defined]
    engine.use_cut = False
    ref = engine.patched_output(masks)
    assert torch.allclose(fast, ref, atol=1e-10, rtol=0)


def test_grouped_hint_projection_equals_copies() -> None:
    g = torch.Generator().manual_seed(4)
    K, B, T, H, D, E = 2, 3, 4, 4, 8, 3
    resid = torch.randn(K * B, T, D, generator=g, dtype=torch.float64)
    w = torch.randn(H, D, E, generator=g, dtype=torch.float64)
    b = torch.randn(H, E, generator=g, dtype=torch.float64)
    ln = _ln(D)
    split = resid.unsqueeze(2).expand(-1, -1, H, -1).clone()
    same = torch.randn(K * B, T, D, generator=g, dtype=torch.float64)
    split[:, :, 1] -= same
    split[:, :, 3] -= same  # heads 1 and 3 equal
    split[:, :, 2] -= torch.randn(K * B, T, D, generator=g, dtype=torch.float64)
    with torch.no_grad():
        got = project_changed_heads(resid, mark_changed(split.clone(), 2, [1, 2, 3], groups=[[1, 3]]), ln, w, b)
    assert torch.allclose(got, project_copies(split, ln, w, b), atol=1e-12, rtol=0)


class _DictStore:
    def __init__(self) -> None:
        self.data: dict[object, torch.Tensor] = {}
        self.puts = 0

    def get(self, key: object) -> torch.Tensor | None:
        return self.data.get(key)

    def put(self, key: object, value: torch.Tensor) -> torch.Tensor:
        self.puts += 1
        self.data[key] = value
        return value


def test_lazy_projection_equals_projecting_the_written_copies() -> None:
    g = torch.Generator().manual_seed(5)
    K, B, T, H, D, E = 3, 2, 5, 4, 8, 3
    base = torch.randn(B, T, D, generator=g, dtype=torch.float64)
    deltas = {name: torch.randn(B, T, D, generator=g, dtype=torch.float64) for name in "abc"}
    keys = (("a", None, "b", None), ("a", "c", None, None), ("a", "a", None, "b"))  # (K, H)
    w = torch.randn(H, D, E, generator=g, dtype=torch.float64)
    bias = torch.randn(H, E, generator=g, dtype=torch.float64)
    ln = _ln(D)
    split = base.repeat(K, 1, 1).unsqueeze(2).repeat(1, 1, H, 1)  # the copies written out
    for k, row in enumerate(keys):
        for h, key in enumerate(row):
            if key is not None:
                split[k * B:(k + 1) * B, :, h] -= deltas[key]
    ref = project_copies(split, ln, w, bias)
    store = _DictStore()
    lazy = LazyHeads(base, keys, deltas.__getitem__, store, "clean")
    with torch.no_grad():
        got = project_lazy(lazy, ln, w, bias)
        puts = store.puts
        again = project_lazy(lazy, ln, w, bias)  # every copy now comes from the store
        keep = torch.tensor([0, 3])
        kept = project_lazy(lazy, ln, w, bias, keep)
    assert torch.allclose(got, ref, atol=1e-12, rtol=0)
    assert puts == 1 + 5  # the shared projection + one per distinct (copy, head): a0 b2 c1 a1 b3
    assert store.puts == puts + 6 and torch.equal(again, got)  # no new entries on the second call...
    assert torch.allclose(kept, ref[:, keep], atol=1e-12, rtol=0)  # ...and separate ones per position set
    # under autograd (weights that require grad) the same values, and gradients reach the weights
    w.requires_grad_(True)
    graded = project_lazy(LazyHeads(base, keys, deltas.__getitem__, _DictStore(), "clean"), ln, w, bias)
    assert torch.allclose(graded, ref, atol=1e-12, rtol=0)
    graded.sum().backward()
    w_ref = w.detach().clone().requires_grad_(True)
    project_copies(split, ln, w_ref, bias).sum().backward()
    assert w.grad is not None and torch.allclose(w.grad, w_ref.grad, atol=1e-10, rtol=0)


def test_lazy_hint_needs_a_model_that_accepts_it() -> None:
    t = torch.zeros(2, 3, 4, 5)
    lazy = LazyHeads(torch.zeros(1, 3, 5), ((None,) * 4,), lambda key: torch.zeros(1, 3, 5), _DictStore(), "c")
    with pytest.raises(ValueError, match="accept_lazy_heads"):
        mark_lazy_heads(t, lazy)
    assert mark_lazy_heads(accept_lazy_heads(t), lazy) is t


@pytest.mark.parametrize("kv_heads", [3, 1])
def test_acdc_shaped_masks_take_the_lazy_path_and_match_written_copies(kv_heads: int) -> None:
    """The tested layer-1 heads (all writers before the cut) are described lazily; the outputs equal
    those with the copies written and the reference path, also with grouped-query attention."""
    cfg = TransformerConfig(n_layers=3, n_heads=3, n_kv_heads=kv_heads, d_model=24, d_head=8, d_mlp=32, d_vocab=12,
                            n_ctx=16, init_std=0.3)
    engine = PatchEngine(HookedTransformer(cfg, seed=3, dtype=torch.float64).eval(), _pairs(), progress=False)
    idx = engine.index
    names = [idx.readers[int(r)].name for r in idx.edge_reader]
    layer = torch.tensor([idx.graph.node(n).layer for n in names])
    g = torch.Generator().manual_seed(6)
    base = ((torch.rand(idx.n_edges, generator=g) < 0.5) & (layer >= 1)).double()
    tested = torch.nonzero((layer == 1) & torch.tensor([n.startswith("a1.") for n in names])).flatten()[:6]
    masks = base.repeat(len(tested), 1).unsqueeze(-1)
    for k, e in enumerate(tested.tolist()):
        masks[k, e] = 1.0 - masks[k, e]  # flip one edge per configuration
    lazy = engine.patched_output(masks)
    assert "lazy" in engine.last_modes.values()
    again = engine.patched_output(masks)  # projections now come from the store
    engine.use_lazy_heads = False
    written = engine.patched_output(masks)
    assert "lazy" not in engine.last_modes.values()
    engine.use_cut = False
    ref = engine.patched_output(masks)
    assert torch.allclose(lazy, written, atol=1e-10, rtol=0)
    assert torch.allclose(again, written, atol=1e-10, rtol=0)
    assert torch.allclose(lazy, ref, atol=1e-10, rtol=0)
    assert (ref - engine.clean_out).abs().max() > 1e-4


def test_lazy_inputs_only_where_the_block_is_the_clean_cut() -> None:
    """One configuration (K = 1) that ablates an edge into layer 0 and an embedding edge into layer 1:
    layer 1's input is no longer the clean block, so it must not be described lazily (a stale
    projection would be reused); sequential and speculative ACDC find the same circuit either way."""
    from neurocircuits.discover import METHODS

    engine = PatchEngine(_model(), _pairs(), metric="kl_divergence", progress=False)
    idx = engine.index
    names = [idx.readers[int(r)].name for r in idx.edge_reader]
    writers = [idx.writers[int(w)].name for w in idx.edge_writer]
    into0 = next(i for i, n in enumerate(names) if n.startswith("a0."))
    embed_into1 = next(i for i, (n, w) in enumerate(zip(names, writers)) if n.startswith("a1.") and w == "embed")
    mask = torch.zeros(1, idx.n_edges, 1, dtype=torch.float64)
    mask[0, [into0, embed_into1]] = 1.0
    engine.patched_output(torch.zeros_like(mask).index_fill_(1, torch.tensor([embed_into1]), 1.0))  # fills the store
    got = engine.patched_output(mask)
    lazy_hooks = [h for h, mode in engine.last_modes.items() if mode == "lazy"]
    assert lazy_hooks and all(h.startswith("blocks.0.") for h in lazy_hooks)  # layer 0 reads the clean cut, layer 1 not
    engine.use_lazy_heads = False
    ref = engine.patched_output(mask)
    assert torch.allclose(got, ref, atol=1e-10, rtol=0)
    runs = {}
    for lazy in (True, False):
        for window in (1, None):
            e = PatchEngine(_model(), _pairs(), metric="kl_divergence", progress=False)
            e.use_lazy_heads = lazy
            out = METHODS.get("acdc")(e, threshold=1e-3, window=window)
            runs[(lazy, window)] = (out.circuit.flatten().tolist(), out.scores)
    first = runs[(False, 1)]
    for key, (circuit, scores) in runs.items():
        assert circuit == first[0], key
        assert torch.allclose(scores, first[1], atol=1e-9, rtol=0), key
    assert 0 < sum(first[0]) < len(first[0])  # tau cuts some edges and keeps some


def test_lazy_inputs_per_position_match_written_copies() -> None:
    """Per-position edges (mask columns over positions): the keyed columns carry the positions too."""
    from neurocircuits.discover import METHODS

    engine = PatchEngine(_model(), _pairs(), metric="kl_divergence", per_position=True, progress=False)
    idx = engine.index
    layer = torch.tensor([idx.graph.node(idx.readers[int(r)].name).layer for r in idx.edge_reader])
    g = torch.Generator().manual_seed(7)
    masks = (torch.rand(4, idx.n_edges, engine.P, generator=g, dtype=torch.float64) < 0.4).double()
    masks *= (layer >= 1).view(1, -1, 1).double()
    lazy = engine.patched_output(masks)
    assert "lazy" in engine.last_modes.values()
    engine.use_lazy_heads = False
    assert torch.allclose(lazy, engine.patched_output(masks), atol=1e-12, rtol=0)
    runs = []
    for use_lazy in (True, False):
        e = PatchEngine(_model(), _pairs(), metric="kl_divergence", per_position=True, progress=False)
        e.use_lazy_heads = use_lazy
        runs.append(METHODS.get("acdc")(e, threshold=0.01))
    assert torch.equal(runs[0].circuit, runs[1].circuit)
    assert torch.allclose(runs[0].scores, runs[1].scores, atol=1e-12, rtol=0)
    assert 0 < int(runs[0].circuit.sum()) < runs[0].circuit.numel()
