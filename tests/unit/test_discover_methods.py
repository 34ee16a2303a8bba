"""Discovery methods, evaluation and the discover() API on a planted non-transformer and a tiny transformer."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from neurocircuits import discover
from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import DiscoveryError, PatchEngine, PlantedResidualMLP, planted_mlp_pairs
from neurocircuits.graph import CircuitGraph
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig


@pytest.fixture(scope="module")
def planted() -> tuple[PlantedResidualMLP, PromptPairs, CircuitGraph]:
    model = PlantedResidualMLP(n_blocks=6, seed=1)
    return model, planted_mlp_pairs(32, seed=2), model.planted_circuit()


@pytest.mark.parametrize("method", ["edge_patching", "eap", "eap_ig", "acdc"])
@pytest.mark.parametrize("ablation", ["corrupt", "mean", "zero", "resample"])
def test_methods_find_the_planted_route_in_a_residual_mlp(planted, method: str, ablation: str) -> None:
    """Non-transformer with a known route: 3 of 28 edges carry the signal, the rest have exactly no effect."""
    model, pairs, truth = planted
    result = discover.discover(model, pairs, method=method, ablation=ablation, progress=False)
    assert discover.roc_auc(result.scores, truth) == 1.0
    assert result.circuit.edge_keys() == truth.edge_keys()
    assert result.faithfulness == pytest.approx(1.0, abs=1e-6)
    assert result.n_edges == 3 and result.n_edges_total == 28


def test_node_patching_ranks_route_nodes_first(planted) -> None:
    model, pairs, truth = planted
    result = discover.discover(model, pairs, method="node_patching", progress=False)
    ranked = sorted(result.node_scores, key=lambda n: -abs(result.node_scores[n]))
    assert set(ranked[:3]) == {"embed", "b0", "b4"}
    assert all(abs(result.node_scores[n]) < 1e-9 for n in ranked[3:])


def test_eap_ig_over_activations_finds_the_route(planted) -> None:
    model, pairs, truth = planted
    result = discover.discover(model, pairs, method="eap_ig", over="activations", steps=3, progress=False)
    assert discover.roc_auc(result.scores, truth) == 1.0


def test_acdc_speculative_batching_equals_sequential_acdc() -> None:
    """One batched forward of cumulative candidates replays the sequential decisions exactly."""
    cfg = TransformerConfig(n_layers=2, n_heads=2, d_model=16, d_head=8, d_mlp=0, d_vocab=10, init_std=0.3)
    model = HookedTransformer(cfg, seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randint(0, 10, s, generator=g)  # noqa: E731
    pairs = PromptPairs(r(6, 6), r(6, 6), r(6), r(6))
    engine = PatchEngine(model, pairs, metric="kl_divergence", progress=False)
    acdc = discover.METHODS.get("acdc")
    tau = 0.02
    seq = acdc(engine, threshold=tau, window=1)
    fast = acdc(engine, threshold=tau)
    assert torch.equal(seq.circuit, fast.circuit)
    assert torch.allclose(seq.scores, fast.scores, atol=1e-12)
    assert 0 < int(seq.circuit.sum()) < engine.index.n_edges  # a non-trivial pruning
    assert fast.info["n_batched_forwards"] < seq.info["n_batched_forwards"]


def test_acdc_resumes_from_its_checkpoint(planted, tmp_path) -> None:
    model, pairs, truth = planted
    ckpt = tmp_path / "acdc.json"
    full = discover.METHODS.get("acdc")(PatchEngine(model, pairs, progress=False), threshold=0.05)
    engine = PatchEngine(model, pairs, progress=False)
    real = engine.run_masks

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if ckpt.exists():  # interrupted after the first reader was saved
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    engine.run_masks = flaky  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):  # one test per forward: a forward follows the first checkpoint
        discover.METHODS.get("acdc")(engine, threshold=0.05, checkpoint=ckpt, window=1)
    saved = json.loads(ckpt.read_text())
    assert 0 < saved["next_reader"] < len(engine.index.readers)
    resumed = discover.METHODS.get("acdc")(PatchEngine(model, pairs, progress=False), threshold=0.05, checkpoint=ckpt)
    assert torch.equal(resumed.circuit, full.circuit)
    assert torch.allclose(resumed.scores, full.scores)
    with pytest.raises(DiscoveryError, match="belongs to another run"):
        discover.METHODS.get("acdc")(PatchEngine(model, pairs, progress=False), threshold=0.5, checkpoint=ckpt)


def test_edge_patching_resumes_from_its_checkpoint(planted, tmp_path) -> None:
    model, pairs, truth = planted
    ckpt = tmp_path / "edges.json"
    full = discover.METHODS.get("edge_patching")(PatchEngine(model, pairs, progress=False))
    engine = PatchEngine(model, pairs, progress=False)
    real = engine.run_masks

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        if ckpt.exists() and len(json.loads(ckpt.read_text())["done_groups"]) >= 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    engine.run_masks = flaky  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        discover.METHODS.get("edge_patching")(engine, checkpoint=ckpt)
    assert len(json.loads(ckpt.read_text())["done_groups"]) == 3
    fresh = PatchEngine(model, pairs, progress=False)
    calls = {"n": 0}
    real2 = fresh.run_masks

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return real2(*args, **kwargs)

    fresh.run_masks = counting  # type: ignore[method-assign]
    resumed = discover.METHODS.get("edge_patching")(fresh, checkpoint=ckpt)
    assert torch.allclose(resumed.scores, full.scores, atol=1e-12)
    assert calls["n"] == len(fresh.index.groups) - 3  # finished readers were not redone


def test_roc_auc_matches_sklearn_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    g = CircuitGraph()
    for i in range(12):
        g.add_node(f"n{i}")
    scores = np.round(rng.normal(size=11), 1)
    scores[3] = scores[5]  # a tie
    labels = rng.random(11) < 0.4
    labels[0], labels[1] = True, False
    for i in range(11):
        g.add_edge(f"n{i}", f"n{i + 1}", score=float(scores[i]))
    truth = g.filter_edges(lambda e: labels[int(e.source[1:])])
    assert discover.roc_auc(g, truth) == pytest.approx(roc_auc_score(labels, np.abs(scores)))
    assert discover.roc_auc(g, truth, absolute=False) == pytest.approx(roc_auc_score(labels, scores))


def test_faithfulness_definitions(planted) -> None:
    model, pairs, truth = planted
    full = model.computation_graph()
    empty = full.filter_edges(lambda e: False)
    f_full = discover.faithfulness(model, pairs, full)
    f_empty = discover.faithfulness(model, pairs, empty)
    f_true = discover.faithfulness(model, pairs, truth)
    assert f_full.faithfulness == pytest.approx(1.0) and f_full.faithfulness_ratio == pytest.approx(1.0)
    assert f_empty.faithfulness == pytest.approx(0.0, abs=1e-9)
    assert f_empty.faithfulness_ratio == pytest.approx(f_empty.m_ablated / f_empty.m_full)
    assert f_true.faithfulness == pytest.approx(1.0) and f_true.completeness == pytest.approx(1.0)
    one = truth.filter_edges(lambda e: e.source == "embed")
    f_one = discover.faithfulness(model, pairs, one)
    assert f_one.faithfulness == pytest.approx(0.0, abs=1e-9)  # a broken route carries nothing
    assert f_one.completeness == pytest.approx(1.0)  # ... and ablating that one edge kills everything
    kl = discover.faithfulness(model, pairs, truth, metric="kl_divergence")
    assert kl.faithfulness == pytest.approx(1.0) and np.isnan(kl.faithfulness_ratio)


def test_faithfulness_curve_is_batched_and_consistent(planted) -> None:
    model, pairs, truth = planted
    result = discover.discover(model, pairs, method="edge_patching", progress=False, curve_counts=[0, 1, 2, 3, 10, 28])
    assert [c for c, _ in result.curve] == [0, 1, 2, 3, 10, 28]
    values = dict(result.curve)
    assert values[0] == pytest.approx(0.0, abs=1e-9) and values[28] == pytest.approx(1.0)
    assert values[3] == pytest.approx(1.0) and values[2] == pytest.approx(0.0, abs=1e-9)
    again = discover.faithfulness_curve(model, pairs, result.scores, counts=[0, 1, 2, 3, 10, 28])
    assert np.allclose([f for _, f in again], [f for _, f in result.curve])


def test_discover_selection_options(planted) -> None:
    model, pairs, truth = planted
    top = discover.discover(model, pairs, method="eap", top_k=5, progress=False)
    assert top.circuit.n_edges == 5 and top.circuit.edge_keys() >= truth.edge_keys()
    thr = discover.discover(model, pairs, method="eap", threshold=1e-6, progress=False)
    assert thr.circuit.edge_keys() == truth.edge_keys()
    with pytest.raises(DiscoveryError, match="not both"):
        discover.discover(model, pairs, top_k=2, threshold=0.1, progress=False)
    summary = top.summary()
    assert summary["edges_kept"] == 5 and summary["method"] == "eap"
    back = CircuitGraph.from_json(top.scores.to_json())
    assert back == top.scores  # the scored graph round-trips losslessly
    assert set(discover.list_methods()) >= {"node_patching", "edge_patching", "acdc", "eap", "eap_ig",
                                            "eap_positional", "info_flow"}


def test_position_resolved_discovery_on_a_transformer() -> None:
    cfg = TransformerConfig(n_layers=1, n_heads=2, d_model=16, d_head=8, d_mlp=0, d_vocab=10, init_std=0.3)
    model = HookedTransformer(cfg, seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randint(0, 10, s, generator=g)  # noqa: E731
    clean = r(4, 5)
    corrupt = clean.clone()
    corrupt[:, 2] = (clean[:, 2] + 1) % 10  # only position 2 differs
    pairs = PromptPairs(clean, corrupt, r(4), r(4))
    result = discover.discover(model, pairs, method="eap_positional", progress=False, check="off", top_k=4)
    positions = {e.position for e in result.scores.edges}
    assert positions == set(range(5))
    # the embedding differs only at position 2, so only its edges at position 2 can score
    for e in result.scores.edges:
        if e.source == "embed" and e.position != 2:
            assert e.score == 0.0
    exact = discover.discover(model, pairs, method="edge_patching", per_position=True, progress=False, check="off")
    for e in exact.scores.edges:
        if e.source == "embed" and e.position != 2:
            assert abs(e.score) < 1e-12  # nothing differs there, so ablating changes nothing
    assert any(abs(e.score) > 1e-3 for e in exact.scores.edges if e.source == "embed" and e.position == 2)
    f = discover.faithfulness(model, pairs, result.circuit)
    assert f.faithfulness == pytest.approx(result.faithfulness)


class UnrolledResidualRNN(torch.nn.Module):
    """h_t = h_{t-1} + E x_t + g(h_{t-1} + E x_t) unrolled over T steps with ONE shared cell g.

    Each step has its own hook points (input write, cell input, cell output), as the discovery
    contract asks of recurrent nets. The shared cell copies stream dim 0 into dim 1 (ReLU pair);
    the readout reads dim 1 only; the signal is x_0[0]; later inputs are noise in dims 2-3.
    Planted route: x0 -> every g_t.in, and every g_t -> readout.
    """

    def __init__(self, steps: int = 4) -> None:
        super().__init__()
        from neurocircuits.layers.hooks import HookPoint, name_hook_points

        self.steps = steps
        self.W1 = torch.nn.Parameter(torch.zeros(4, 2))
        self.W2 = torch.nn.Parameter(torch.zeros(2, 4))
        with torch.no_grad():
            self.W1[0, 0], self.W1[0, 1] = 1.0, -1.0
            self.W2[0, 1], self.W2[1, 1] = 1.0, -1.0
        self.x_hooks = torch.nn.ModuleList(HookPoint() for _ in range(steps))
        self.in_hooks = torch.nn.ModuleList(HookPoint() for _ in range(steps))
        self.out_hooks = torch.nn.ModuleList(HookPoint() for _ in range(steps))
        self.hook_readout = HookPoint()
        name_hook_points(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # x (batch, steps, 4)
        h = torch.zeros(x.shape[0], 4)
        for t in range(self.steps):
            h = h + self.x_hooks[t](x[:, t])
            h = h + self.out_hooks[t](torch.relu(self.in_hooks[t](h) @ self.W1) @ self.W2)
        r = self.hook_readout(h)
        return torch.stack([r[:, 1], -r[:, 1]], dim=1), h  # (logits, final state)

    def computation_graph(self) -> CircuitGraph:
        g = CircuitGraph(name="unrolled-rnn")
        writers: list[str] = []
        for t in range(self.steps):
            g.add_node(f"x{t}", kind="input", layer=t, role="writer", hook=f"x_hooks.{t}")
            writers.append(f"x{t}")
            g.add_node(f"g{t}.in", kind="cell_input", layer=t, role="reader", hook=f"in_hooks.{t}", owner=f"g{t}")
            for w in writers:
                g.add_edge(w, f"g{t}.in", kind="cell")
            g.add_node(f"g{t}", kind="cell", layer=t, role="writer", hook=f"out_hooks.{t}")
            writers.append(f"g{t}")
        g.add_node("readout", kind="logits", layer=self.steps, role="reader", hook="hook_readout", owner=None)
        for w in writers:
            g.add_edge(w, "readout", kind="resid")
        return g


@pytest.mark.parametrize("method", ["edge_patching", "eap", "eap_ig", "acdc"])
def test_methods_find_the_planted_route_in_an_unrolled_rnn(method: str) -> None:
    model = UnrolledResidualRNN(steps=4)
    g = torch.Generator().manual_seed(0)
    sign = torch.where(torch.rand(16, generator=g) < 0.5, -1.0, 1.0)
    clean, corrupt = torch.randn(16, 4, 4, generator=g), torch.randn(16, 4, 4, generator=g)
    clean[:, :, :2], corrupt[:, :, :2] = 0.0, 0.0
    clean[:, 0, 0], corrupt[:, 0, 0] = sign, -sign
    answer = (sign < 0).long()
    pairs = discover.InputPairs(clean, corrupt, answer, 1 - answer)
    truth = {("x0", f"g{t}.in", "cell", None) for t in range(4)} | {(f"g{t}", "readout", "resid", None) for t in range(4)}
    result = discover.discover(model, pairs, method=method, progress=False)
    assert discover.roc_auc(result.scores, truth) == 1.0
    assert result.circuit.edge_keys() == truth
    assert result.faithfulness == pytest.approx(1.0)
