"""Connectivity rules and CSR storage for projections.

Every rule returns synapses as ``(pre, post)`` index arrays drawn from a numpy ``Generator`` (so a seeded
network is bit-for-bit reproducible); :class:`CSR` then sorts them by presynaptic neuron so that a spike
touches only its own row (event-driven propagation: work is spikes x fan-out, never N^2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


class ConnectivityError(ValueError):
    """A connectivity rule was given impossible or inconsistent arguments."""


def _sample_distinct(rng: np.random.Generator, counts: np.ndarray, n_choices: int,
                     exclude_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """For row r draw ``counts[r]`` distinct values in ``[0, n_choices)`` (excluding ``r`` if asked).

    Vectorised: draw with replacement, then redraw duplicates until none remain (fast for sparse rows).
    """
    pool = n_choices - 1 if exclude_self else n_choices
    if np.any(counts > pool):
        raise ConnectivityError(
            f"asked for {int(counts.max())} distinct partners out of only {pool} candidates; "
            "lower the degree (or allow autapses)."
        )
    rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    vals = rng.integers(0, pool, size=rows.size, dtype=np.int64)
    while True:
        order = np.lexsort((vals, rows))
        rows, vals = rows[order], vals[order]
        dup = np.zeros(rows.size, dtype=bool)
        if rows.size > 1:
            dup[1:] = (rows[1:] == rows[:-1]) & (vals[1:] == vals[:-1])
        n_dup = int(dup.sum())
        if n_dup == 0:
            break
        vals[dup] = rng.integers(0, pool, size=n_dup, dtype=np.int64)
    if exclude_self:
        vals = vals + (vals >= rows)
    return rows, vals


def connect_probability(rng: np.random.Generator, n_pre: int, n_post: int, p: float,
                        autapses: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each pair (i, j) independently with probability ``p`` (Bernoulli; row sizes are binomial)."""
    if not 0.0 <= p <= 1.0:
        raise ConnectivityError(f"connection probability p must be in [0, 1], got {p}.")
    exclude = not autapses
    pool = n_post - 1 if exclude else n_post
    counts = rng.binomial(pool, p, size=n_pre)
    return _sample_distinct(rng, counts, n_post, exclude)


def connect_fixed_in_degree(rng: np.random.Generator, n_pre: int, n_post: int, k: int,
                            autapses: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every postsynaptic neuron receives exactly ``k`` distinct presynaptic partners."""
    posts, pres = _sample_distinct(rng, np.full(n_post, int(k), dtype=np.int64), n_pre, not autapses)
    return pres, posts


def connect_fixed_out_degree(rng: np.random.Generator, n_pre: int, n_post: int, k: int,
                             autapses: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every presynaptic neuron projects to exactly ``k`` distinct targets."""
    return _sample_distinct(rng, np.full(n_pre, int(k), dtype=np.int64), n_post, not autapses)


def connect_one_to_one(n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """Neuron i to neuron i; both populations must have the same size."""
    if n_pre != n_post:
        raise ConnectivityError(f"one_to_one needs equal sizes, got {n_pre} -> {n_post}.")
    idx = np.arange(n_pre, dtype=np.int64)
    return idx, idx.copy()


def from_sparse(matrix: Any, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synapses and signed weights from a scipy.sparse (or dense) matrix of shape ``[n_pre, n_post]``."""
    import scipy.sparse as sp

    m = sp.coo_matrix(matrix)
    if m.shape != (n_pre, n_post):
        raise ConnectivityError(
            f"matrix has shape {m.shape} but the projection is {n_pre} -> {n_post}; rows are presynaptic."
        )
    keep = m.data != 0
    return m.row[keep].astype(np.int64), m.col[keep].astype(np.int64), m.data[keep].astype(np.float64)


def from_circuit_graph(graph: Any, pre_names: list[str] | None, post_names: list[str] | None,
                       weight_column: str = "weight") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synapses from a :class:`~neurocircuits.graph.CircuitGraph`: node names map to neuron indices.

    ``pre_names``/``post_names`` give the order of neurons in the source/target groups (default: the graph's
    node order). Edges whose endpoints are not in those lists are skipped; the weight comes from
    ``weight_column`` (signed; 1.0 when the edge has none).
    """
    nodes = graph.node_names()
    pre_index = {n: i for i, n in enumerate(pre_names or nodes)}
    post_index = {n: i for i, n in enumerate(post_names or nodes)}
    pre, post, w = [], [], []
    for e in graph.edges:
        if e.source in pre_index and e.target in post_index:
            pre.append(pre_index[e.source])
            post.append(post_index[e.target])
            val = getattr(e, weight_column, None) if weight_column in ("weight", "score") else None
            if val is None:
                val = (e.attrs or {}).get(weight_column, 1.0)
            val = float(val) if val is not None else 1.0
            if e.sign is not None and e.sign < 0 and val > 0:
                val = -val  # an inhibitory edge stored as a positive count/conductance
            w.append(val)
    return np.asarray(pre, dtype=np.int64), np.asarray(post, dtype=np.int64), np.asarray(w, dtype=np.float64)


@dataclass
class CSR:
    """Synapses sorted by presynaptic neuron.

    Attributes:
        indptr: ``[n_pre + 1]``; row i is ``indptr[i]:indptr[i+1]``.
        post: ``[n_syn]`` postsynaptic index of each synapse.
        pre: ``[n_syn]`` presynaptic index (kept for plasticity and tables).
        order: permutation that sorted the synapses given to :meth:`build`.
    """

    indptr: np.ndarray
    pre: np.ndarray
    post: np.ndarray
    order: np.ndarray

    @staticmethod
    def build(pre: np.ndarray, post: np.ndarray, n_pre: int) -> CSR:
        order = np.lexsort((post, pre))
        pre_s, post_s = pre[order], post[order]
        indptr = np.zeros(n_pre + 1, dtype=np.int64)
        np.cumsum(np.bincount(pre_s, minlength=n_pre), out=indptr[1:])
        return CSR(indptr, pre_s, post_s, order)

    @property
    def n_synapses(self) -> int:
        return int(self.post.size)
