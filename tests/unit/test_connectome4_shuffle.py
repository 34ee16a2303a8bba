"""Degree-preserving null-model connectomes (the control for row 19: does the wiring itself matter?)."""

from __future__ import annotations

import collections

import pytest

from neurocircuits.data.connectomes import degree_preserving_shuffle
from neurocircuits.graph import CircuitGraph


def _ring(n: int = 12) -> CircuitGraph:
    g = CircuitGraph(name="ring")
    for i in range(n):
        g.add_node(f"n{i}", kind="neuron")
    for i in range(n):
        for step in (1, 2, 3):
            g.add_edge(f"n{i}", f"n{(i + step) % n}", kind="chemical", weight=float(step + i), sign=1 if i % 3 else -1)
    g.add_edge("n0", "n6", kind="electrical", weight=2.0)
    g.add_edge("n6", "n0", kind="electrical", weight=2.0)
    return g


def _chem(g: CircuitGraph):
    return [e for e in g.edges if e.kind == "chemical"]


def test_shuffle_keeps_degrees_weights_signs_and_gap_junctions() -> None:
    g = _ring()
    s = degree_preserving_shuffle(g, seed=3)
    before, after = _chem(g), _chem(s)
    assert len(after) == len(before) == 36 and s.node_names() == g.node_names()
    out_deg = lambda es: collections.Counter(e.source for e in es)  # noqa: E731
    in_deg = lambda es: collections.Counter(e.target for e in es)  # noqa: E731
    assert out_deg(after) == out_deg(before) and in_deg(after) == in_deg(before)
    # each neuron keeps its outgoing synapse counts and its (presynaptic) sign
    outgoing = lambda es: sorted((e.source, e.weight, e.sign) for e in es)  # noqa: E731
    assert outgoing(after) == outgoing(before)
    assert not any(e.source == e.target for e in after)                       # no self-loops created
    assert len({(e.source, e.target) for e in after}) == len(after)           # no duplicate edges
    kept = {(e.source, e.target) for e in before} & {(e.source, e.target) for e in after}
    assert len(kept) < 0.5 * len(before)                                      # the wiring really moved
    assert {e.key for e in s.edges if e.kind == "electrical"} == {e.key for e in g.edges if e.kind == "electrical"}
    assert degree_preserving_shuffle(g, seed=3) == s and degree_preserving_shuffle(g, seed=4) != s


def test_shuffle_rejects_graphs_without_edges_to_swap() -> None:
    g = CircuitGraph(name="tiny")
    g.add_node("a")
    g.add_node("b")
    g.add_edge("a", "b", kind="chemical", weight=1.0)
    with pytest.raises(ValueError, match="at least 2"):
        degree_preserving_shuffle(g)
    with pytest.raises(ValueError, match="swaps_per_edge"):
        degree_preserving_shuffle(_ring(), swaps_per_edge=0)
