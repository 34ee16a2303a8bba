"""viz: SVG diagrams (pure-Python layout), curves, the HTML report folder, terminal table, rasters."""

import csv
import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.console import Console

from neurocircuits.graph import CircuitGraph
from neurocircuits.viz import (
    REPORT_FILES,
    circuit_svg,
    curve_points,
    curves_svg,
    layered_layout,
    plot_raster,
    summary_table,
    write_report,
)
from neurocircuits.viz._diagram import NEGATIVE_COLOUR, POSITIVE_COLOUR

SVG = "{http://www.w3.org/2000/svg}"


def contract_graph() -> CircuitGraph:
    """A 2-layer, 2-head computation graph in the discovery contract's shape, with scores."""
    g = CircuitGraph(name="toy")
    g.add_node("embed", kind="embed", layer=-1, role="writer", hook="hook_embed")
    writers = ["embed"]
    for layer in range(2):
        for h in range(2):
            for port in "qkv":
                g.add_node(f"a{layer}.h{h}.{port}", kind="head_input", layer=layer, head=h, role="reader", owner=f"a{layer}.h{h}")
        for h in range(2):
            g.add_node(f"a{layer}.h{h}", kind="head", layer=layer, head=h, role="writer")
        for h in range(2):
            for port in "qkv":
                for i, w in enumerate(writers):
                    score = (-1) ** (i + h) * (0.1 + 0.05 * i + layer + 0.3 * h)
                    g.add_edge(w, f"a{layer}.h{h}.{port}", kind=port, score=score)
        writers = writers + [f"a{layer}.h0", f"a{layer}.h1"]
    g.add_node("logits", kind="logits", layer=2, role="reader")
    for i, w in enumerate(writers):
        g.add_edge(w, "logits", kind="resid", score=0.5 - 0.2 * i)
    return g


@dataclass
class FakeResult:
    method: str
    scores: CircuitGraph
    circuit: CircuitGraph
    faithfulness: float
    n_edges: int
    seconds: float
    curve: Any = field(default=None)


def make_result(method: str = "eap", k: int = 6) -> FakeResult:
    scores = contract_graph()
    circuit = scores.top_k(k)
    curve = {"n_edges": [1, 3, 6, 12, scores.n_edges], "faithfulness": [0.1, 0.5, 0.85, 0.95, 1.0]}
    return FakeResult(method, scores, circuit, 0.85, circuit.n_edges, 0.123, curve)


def test_svg_parses_and_has_one_element_per_kept_node_and_edge():
    circuit = contract_graph().top_k(7)
    svg = circuit_svg(circuit, engine="python")
    root = ET.fromstring(svg)
    groups = root.iter(f"{SVG}g")
    classes = [g.get("class") for g in groups]
    assert classes.count("edge") == 7
    assert classes.count("node") == len(circuit.active_nodes())
    drawn = {g.get("data-name") for g in root.iter(f"{SVG}g") if g.get("class") == "node"}
    assert drawn == circuit.active_nodes()


def test_edge_colour_follows_sign_and_width_follows_magnitude():
    g = CircuitGraph()
    for n in "abc":
        g.add_node(n, layer="abc".index(n))
    g.add_edge("a", "b", score=2.0)
    g.add_edge("b", "c", score=-0.5)
    root = ET.fromstring(circuit_svg(g, engine="python"))
    paths = {grp.get("data-source"): grp.find(f"{SVG}path") for grp in root.iter(f"{SVG}g") if grp.get("class") == "edge"}
    assert paths["a"].get("stroke") == POSITIVE_COLOUR
    assert paths["b"].get("stroke") == NEGATIVE_COLOUR
    assert float(paths["a"].get("stroke-width")) == pytest.approx(4 * float(paths["b"].get("stroke-width")), rel=0.35)
    assert float(paths["a"].get("stroke-width")) > float(paths["b"].get("stroke-width"))


def test_layout_puts_later_layers_higher_and_readers_below_their_writers():
    g = contract_graph()
    pos = layered_layout(g.nodes, g.edges)
    assert pos["embed"][1] > pos["a0.h0.q"][1] > pos["a0.h0"][1] > pos["a1.h0.q"][1] > pos["a1.h1"][1] > pos["logits"][1]
    # no two nodes overlap
    coords = list(pos.values())
    assert len(set(coords)) == len(coords)


def test_layout_without_layers_uses_depth_and_survives_cycles():
    g = CircuitGraph()
    for n in ("s", "m", "t"):
        g.add_node(n)
    g.add_edge("s", "m"), g.add_edge("m", "t")
    pos = layered_layout(g.nodes, g.edges)
    assert pos["s"][1] > pos["m"][1] > pos["t"][1]
    g.add_edge("t", "s")  # a cycle: still one position per node
    root = ET.fromstring(circuit_svg(g, engine="python"))
    assert sum(1 for x in root.iter(f"{SVG}g") if x.get("class") == "node") == 3


def test_curve_points_accepts_mapping_pairs_and_drops_nan():
    assert curve_points({"n_edges": [3, 1], "faithfulness": [0.9, 0.2]}) == [(1.0, 0.2), (3.0, 0.9)]
    assert curve_points([(2, 0.5), (1, float("nan"))]) == [(2.0, 0.5)]
    svg = curves_svg({"eap": [(1, 0.2), (5, 0.9)], "acdc": [(2, 0.4), (4, 1.0)]})
    root = ET.fromstring(svg)
    lines = [p for p in root.iter(f"{SVG}polyline") if p.get("class") == "curve"]
    assert [p.get("data-name") for p in lines] == ["eap", "acdc"]
    assert len(lines[0].get("points").split()) == 2


def test_report_folder_is_complete_and_consistent(tmp_path):
    results = [make_result("eap", 6), make_result("acdc", 4)]
    out = write_report(tmp_path / "rep", results, meta={"model": "toy", "task": "induction"})
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    html_text = (out / "report.html").read_text()
    assert html_text.rstrip().endswith("</html>")
    assert html_text.count('class="summary-row"') == 2
    assert html_text.count('class="edge-row"') == 2 * min(30, results[0].scores.n_edges)
    assert "induction" in html_text and "<svg" in html_text and 'class="curve"' in html_text
    # the top edge of the eap run appears with its score
    top = max(results[0].scores.edges, key=lambda e: abs(e.score))
    assert f"<td>{top.score:.5g}</td>" in html_text
    circuit = CircuitGraph.from_json(out / "circuit.json")
    assert circuit.edge_keys() == results[0].circuit.edge_keys()
    assert circuit.attrs["method"] == "eap" and circuit.attrs["run"]["model"] == "toy"
    with open(out / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    n = results[0].scores.n_edges
    assert len(rows) == 2 * n
    eap_rows = [r for r in rows if r["method"] == "eap"]
    assert sum(int(r["in_circuit"]) for r in eap_rows) == 6
    assert [abs(float(r["score"])) for r in eap_rows] == sorted((abs(float(r["score"])) for r in eap_rows), reverse=True)


def test_report_replaces_an_old_report_atomically_and_leaves_no_temp(tmp_path):
    out = tmp_path / "rep"
    write_report(out, make_result("eap", 3))
    (out / "stale.txt").write_text("old")
    write_report(out, make_result("eap", 5))
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    assert CircuitGraph.from_json(out / "circuit.json").n_edges == 5
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_report_failure_keeps_the_old_report(tmp_path):
    out = tmp_path / "rep"
    write_report(out, make_result("eap", 3))
    bad = make_result("eap", 3)
    bad.circuit = "not a graph"
    with pytest.raises(TypeError):
        write_report(out, bad)
    assert CircuitGraph.from_json(out / "circuit.json").n_edges == 3
    assert [p.name for p in tmp_path.iterdir()] == ["rep"]


def test_summary_table_has_one_row_per_method():
    console = Console(record=True, width=120)
    console.print(summary_table([make_result("eap", 6), make_result("eap_ig", 4)]))
    text = console.export_text()
    assert "eap_ig" in text and "0.850" in text and "6 / " in text and "4 / " in text


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_raster_writes_file(tmp_path, suffix):
    path = plot_raster([1.0, 2.5, 7.0], [0, 3, 1], tmp_path / f"r{suffix}", title="spikes")
    data = path.read_bytes()
    if suffix == ".png":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        ET.fromstring(data)
    with pytest.raises(ValueError, match="one neuron id per spike"):
        plot_raster([1.0], [0, 1], tmp_path / "bad.png")


def test_long_edges_route_around_nodes_of_the_rows_they_cross():
    from neurocircuits.viz._diagram import _layout

    g = contract_graph()
    nodes, edges = g.nodes, g.edges
    pos, routes = _layout(nodes, edges)
    for e, route in zip(edges, routes):
        for x, y in route:  # a virtual point never sits inside a drawn node box
            for n in nodes:
                nx_, ny_ = pos[n.name]
                assert not (abs(x - nx_) < 37 and abs(y - ny_) < 13), (e.key, n.name)
    # embed -> logits crosses every row in between: one virtual point per crossed row
    rows = sorted({y for _, y in pos.values()})
    embed_logits = next(r for e, r in zip(edges, routes) if e.source == "embed" and e.target == "logits")
    assert len(embed_logits) == len(rows) - 2


def test_rank_graph_keeps_the_model_layout_for_a_sparse_circuit():
    from neurocircuits.viz._diagram import _layout, _given_ranks

    full = contract_graph()
    circuit = full.filter_edges(lambda e: (e.source, e.target) in {("a0.h1", "a1.h0.k"), ("a1.h0", "logits")},
                                prune_nodes=True)
    ranks = _given_ranks(circuit.nodes, full)
    pos, _ = _layout(circuit.nodes, circuit.edges, ranks)
    assert pos["a0.h1"][1] > pos["a1.h0.k"][1] > pos["a1.h0"][1] > pos["logits"][1]
