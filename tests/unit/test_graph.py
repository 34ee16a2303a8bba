"""CircuitGraph: construction, selection, set operations and lossless round-trips."""

import json

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from neurocircuits.graph import CircuitGraph, GraphError, GraphFormatError


def toy_graph() -> CircuitGraph:
    g = CircuitGraph(name="toy", attrs={"source": "test"})
    g.add_node("embed", kind="embed", layer=-1)
    g.add_node("a0.h0", kind="head", layer=0, head=0, cell_class={"a": 1})
    g.add_node("a1.h1", kind="head", layer=1, head=1)
    g.add_node("logits", kind="logits")
    g.add_edge("embed", "a0.h0", kind="v", score=0.5, weight=1.0)
    g.add_edge("embed", "a1.h1", kind="k", score=-2.0, position=3)
    g.add_edge("a0.h0", "a1.h1", kind="k", score=3.0, sign=1, note="prev->ind")
    g.add_edge("a1.h1", "logits", kind="resid", score=0.1, sign=-1)
    g.add_edge("a0.h0", "a1.h1", kind="q", score=float("nan"))
    return g


def test_top_k_and_threshold_rank_by_magnitude():
    g = toy_graph()
    top2 = g.top_k(2)
    assert {(e.source, e.target, e.kind) for e in top2} == {("a0.h0", "a1.h1", "k"), ("embed", "a1.h1", "k")}
    assert g.top_k(1, absolute=False).edges[0].score == 3.0
    assert g.threshold(0.5).n_edges == 3  # |3|, |-2|, |0.5|; NaN never passes
    assert g.top_k(2, prune_nodes=True).n_nodes == 3


def test_select_by_column_and_attr():
    g = toy_graph()
    assert g.select(kind="k").n_edges == 2
    assert g.select(kind=["q", "k"]).n_edges == 3
    assert g.select(note="prev->ind").n_edges == 1
    assert g.select_nodes(kind="head").n_edges == 2
    with pytest.raises(GraphError, match="cannot select"):
        g.select(colour="red")


def test_set_operations_and_iou():
    g = toy_graph()
    a = g.top_k(3)
    b = g.top_k(2)
    assert a.intersection(b).n_edges == 2
    assert a.union(b).n_edges == 3
    assert a.difference(b).n_edges == 1
    assert a.iou(b) == pytest.approx(2 / 3)
    assert b.overlap(a) == 1.0
    assert b.iou(b, level="node") == 1.0


def test_errors_name_the_problem():
    g = toy_graph()
    with pytest.raises(GraphError, match="unknown node 'nope'"):
        g.add_edge("embed", "nope")
    with pytest.raises(GraphError, match="duplicate edge"):
        g.add_edge("embed", "a0.h0", kind="v")
    with pytest.raises(GraphError, match="already exists"):
        g.add_node("embed")


def test_json_round_trip_is_lossless(tmp_path):
    g = toy_graph()
    path = tmp_path / "c.json"
    g.to_json(path)
    back = CircuitGraph.from_json(path)
    assert back == g
    assert back.node("a0.h0").attrs == {"cell_class": {"a": 1}}
    assert back.edge("embed", "a1.h1", "k", position=3).score == -2.0


def test_graphml_round_trip_is_lossless(tmp_path):
    g = toy_graph()
    g.edges  # NaN scores are written as NaN floats and survive
    path = tmp_path / "c.graphml"
    g.to_graphml(path)
    back = CircuitGraph.from_graphml(path)
    # NaN != NaN: compare the NaN edge separately, everything else exactly.
    assert np.isnan(back.edge("a0.h0", "a1.h1", "q").score)
    keep = lambda e: e.kind != "q"  # noqa: E731
    assert back.filter_edges(keep) == g.filter_edges(keep)


def test_networkx_and_sparse_round_trip():
    g = toy_graph()
    nxg = g.to_networkx()
    assert isinstance(nxg, nx.MultiDiGraph) and nxg.number_of_edges() == g.n_edges
    assert CircuitGraph.from_networkx(nxg).edge_keys() == g.edge_keys()

    dense = np.array([[0, 2.0, 0], [-1.5, 0, 0], [0, 0, 0]])
    s = CircuitGraph.from_scipy_sparse(sp.csr_matrix(dense), names=["x", "y", "z"], kind="chemical")
    assert s.edge("y", "x", "chemical").sign == -1
    mat, names = s.to_scipy_sparse(signed=True)
    np.testing.assert_allclose(mat.toarray(), dense)


def test_csv_round_trip_and_malformed_files(tmp_path):
    g = toy_graph().select(kind=["k", "v", "resid"])
    path = tmp_path / "edges.csv"
    g.to_csv(path)
    back = CircuitGraph.from_csv(path)
    assert back.edge_keys() == g.edge_keys()
    assert back.edge("a0.h0", "a1.h1", "k").attrs == {"note": "prev->ind"}

    bad = tmp_path / "bad.csv"
    bad.write_text("src,dst\na,b\n")
    with pytest.raises(GraphFormatError, match="bad.csv.*missing column"):
        CircuitGraph.from_csv(bad)
    neg = tmp_path / "neg.csv"
    neg.write_text("source,target,weight\na,b,-3\n")
    with pytest.raises(GraphFormatError, match="neg.csv, line 2: negative weight"):
        CircuitGraph.from_csv(neg)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"format": "neurocircuits.CircuitGraph", "nodes": []}))
    with pytest.raises(GraphFormatError, match="broken.json.*'edges'"):
        CircuitGraph.from_json(broken)


def test_atomic_write_gives_normal_permissions(tmp_path):
    import os
    import stat

    from neurocircuits.graph import write_atomic

    path = tmp_path / "out.txt"
    write_atomic(path, "hello")
    mask = os.umask(0)
    os.umask(mask)
    assert path.read_text() == "hello"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
