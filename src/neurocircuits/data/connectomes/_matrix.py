"""Dense matrices from a connectome CircuitGraph (shared by the models and the generators)."""

from __future__ import annotations

import numpy as np

from ...graph import CircuitGraph


COUNT_TRANSFORMS = {
    "count": lambda c: c,
    "sqrt": np.sqrt,
    "log1p": np.log1p,
    "binary": lambda c: (c > 0).astype(float),
}
"""How a synapse count ``c >= 0`` becomes a weight magnitude (``f(c)`` in :func:`signed_adjacency`)."""


def signed_adjacency(graph: CircuitGraph, unknown_sign: int = 1, gap_scale: float = 1.0,
                     transform: str = "count") -> tuple[np.ndarray, list[str]]:
    """``C_signed + g * L_gap`` as a dense ``[pre, post]`` array and the node order.

    ``C_signed[i, j] = s_i * f(count_ij)`` (``s_i`` the edge sign, ``unknown_sign`` when unknown),
    ``L_gap = G - diag(G 1)`` with ``G = f(gap counts)`` symmetrised (diffusive coupling), and
    ``f`` one of :data:`COUNT_TRANSFORMS` (``"count"``: the raw count, ``"sqrt"``, ``"log1p"``,
    ``"binary"``: 1 on every edge), applied to the summed count of each neuron pair.
    """
    if transform not in COUNT_TRANSFORMS:
        raise ValueError(f"transform must be one of {sorted(COUNT_TRANSFORMS)}, not {transform!r}.")
    f = COUNT_TRANSFORMS[transform]
    names = graph.node_names()
    index = {n: i for i, n in enumerate(names)}
    n = len(names)
    chem = np.zeros((n, n))
    sign = np.zeros((n, n))
    gap = np.zeros((n, n))
    for e in graph.edges:
        w = 1.0 if e.weight is None else float(e.weight)
        i, j = index[e.source], index[e.target]
        if e.kind == "electrical":
            gap[i, j] = max(gap[i, j], w)
        else:
            s = e.sign if e.sign in (1, -1) else unknown_sign
            chem[i, j] += s * w
    # the transform acts on the pair's net signed count (a pair has one presynaptic sign)
    chem = np.sign(chem) * f(np.abs(chem))
    gap = f(np.maximum(gap, gap.T))
    lap = gap - np.diag(gap.sum(axis=1))
    return chem + gap_scale * lap, names


def connectome_mask(graph: CircuitGraph, include_self: bool = False) -> np.ndarray:
    """``M[pre, post] = 1`` where any edge (chemical or electrical) joins pre to post."""
    index = {n: i for i, n in enumerate(graph.node_names())}
    mask = np.zeros((len(index), len(index)))
    for e in graph.edges:
        mask[index[e.source], index[e.target]] = 1.0
    if include_self:
        np.fill_diagonal(mask, 1.0)
    return mask
