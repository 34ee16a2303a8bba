"""Null-model connectomes: degree-preserving rewiring of the chemical synapses.

Directed double-edge swaps (Maslov & Sneppen 2002): two chemical edges ``a -> b`` and ``c -> d`` become
``a -> d`` and ``c -> b`` when neither exists yet and no self-loop forms. Every neuron keeps its in- and
out-degree, its outgoing synapse counts and its (presynaptic, Dale) sign; only who talks to whom is
randomised. Gap junctions and nodes are kept as they are. The null model asks whether a
connectome-constrained network's result comes from the wiring itself or only from its degree
sequence, weights and signs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ...graph import CircuitGraph


def degree_preserving_shuffle(graph: CircuitGraph, seed: int = 0, swaps_per_edge: float = 10.0,
                              kind: str = "chemical") -> CircuitGraph:
    """A copy of ``graph`` whose ``kind`` edges are rewired by directed double-edge swaps.

    Args:
        graph: the connectome.
        seed: random seed (the same seed gives the same graph).
        swaps_per_edge: attempted swaps per edge (10 randomises a sparse graph thoroughly).
        kind: the edge kind to rewire; other edges are copied unchanged.

    Returns:
        A new CircuitGraph named ``"<name>/shuffled_seed<seed>"``.
    """
    if swaps_per_edge <= 0:
        raise ValueError(f"swaps_per_edge must be > 0, got {swaps_per_edge}.")
    edges = [e for e in graph.edges if e.kind == kind]
    if len(edges) < 2:
        raise ValueError(f"graph {graph.name!r} has {len(edges)} {kind!r} edges; a swap needs at least 2 "
                         f"(kinds present: {sorted({e.kind for e in graph.edges})}).")
    src = [e.source for e in edges]
    dst = [e.target for e in edges]
    present = set(zip(src, dst))
    rng = np.random.default_rng(seed)
    n_swaps = int(swaps_per_edge * len(edges))
    picks = rng.integers(0, len(edges), size=(n_swaps, 2))
    for i, j in picks:
        a, b, c, d = src[i], dst[i], src[j], dst[j]
        if i == j or a == d or c == b or (a, d) in present or (c, b) in present:
            continue
        present.difference_update({(a, b), (c, d)})
        present.update({(a, d), (c, b)})
        dst[i], dst[j] = d, b
    rewired = [dataclasses.replace(e, target=t) for e, t in zip(edges, dst)]
    others = [e for e in graph.edges if e.kind != kind]
    return CircuitGraph(graph.nodes, others + rewired, name=f"{graph.name}/shuffled_seed{seed}",
                        attrs={**graph.attrs, "shuffled_from": graph.name, "shuffle_seed": seed})
