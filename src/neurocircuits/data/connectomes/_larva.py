"""The Drosophila larva mushroom body (left and right) from the data files ``graspologic`` ships.

Eichler et al. 2017, "The complete connectome of a learning and memory centre in an insect brain",
Nature 548:175. ``graspologic`` (MIT) ships the adjacency matrices (``A[pre, post]`` = synapse
count) and one label per neuron: ``K`` Kenyon cells, ``P`` olfactory projection neurons (the
input), ``O`` mushroom-body output neurons, ``I`` modulatory input neurons. The files are read with
numpy; graspologic itself is never imported (it pins numpy<2), so installing its wheel without
dependencies (``pip install --no-deps graspologic``) is enough.

Graph: nodes ``K0``, ``K1``, ..., ``P0``, ... (label + running index, in file order) with
``cell_class`` ``"inter"`` (K), ``"sensory"`` (P), ``"output"`` (O), ``"modulatory"`` (I); chemical
edges with ``weight`` = synapse count and unknown sign.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from ...graph import CircuitGraph, GraphFormatError
from ._registry import MissingExtraError, register_connectome

_PAPER = "Eichler et al. 2017, The complete connectome of a learning and memory centre in an insect brain, Nature 548:175"
_LICENCE = "data via graspologic (MIT); original data (c) Eichler et al. 2017"
_CLASSES = {"K": "inter", "P": "sensory", "O": "output", "I": "modulatory"}


def _data_dir() -> str:
    spec = importlib.util.find_spec("graspologic")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "the larva mushroom body ships with the package 'graspologic', which is not installed. "
            "Install its wheel (only its data files are used): pip install --no-deps 'graspologic==3.4.4'."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "datasets", "drosophila")


def read_labelled_adjacency(adjacency_path: str | os.PathLike[str], labels_path: str | os.PathLike[str],
                            name: str, attrs: dict[str, str] | None = None) -> CircuitGraph:
    """A CircuitGraph from a whitespace-separated ``A[pre, post]`` count matrix and one label per line."""
    try:
        adj = np.loadtxt(adjacency_path, ndmin=2)
    except ValueError as err:
        raise GraphFormatError(f"{adjacency_path}: not a numeric matrix ({err}).") from err
    with open(labels_path, encoding="utf-8") as fh:
        labels = fh.read().split()
    if adj.shape[0] != adj.shape[1]:
        raise GraphFormatError(f"{adjacency_path}: adjacency must be square, got shape {adj.shape}.")
    if len(labels) != adj.shape[0]:
        raise GraphFormatError(f"{labels_path}: {len(labels)} labels for a {adj.shape[0]}-neuron adjacency.")
    if (adj < 0).any():
        i, j = np.argwhere(adj < 0)[0]
        raise GraphFormatError(f"{adjacency_path}: negative synapse count {adj[i, j]} at row {i}, column {j}.")
    unknown = sorted(set(labels) - set(_CLASSES))
    if unknown:
        raise GraphFormatError(f"{labels_path}: unknown cell label(s) {unknown}; expected {sorted(_CLASSES)}.")
    counters: dict[str, int] = {}
    names = []
    for lab in labels:
        names.append(f"{lab}{counters.get(lab, 0)}")
        counters[lab] = counters.get(lab, 0) + 1
    g = CircuitGraph(name=name, attrs=dict(attrs or {}))
    for n, lab in zip(names, labels):
        g.add_node(n, kind="neuron", cell_class=_CLASSES[lab], label=lab)
    for i, j in zip(*np.nonzero(adj)):
        g.add_edge(names[i], names[j], kind="chemical", weight=float(adj[i, j]), sign=None)
    return g


def _loader(side: str):  # noqa: ANN202
    def load() -> CircuitGraph:
        d = _data_dir()
        return read_labelled_adjacency(
            os.path.join(d, f"{side}_adjacency.csv"), os.path.join(d, f"{side}_cell_labels.csv"),
            name=f"larva/mushroom_body_{side}",
            attrs={"species": "Drosophila melanogaster larva", "region": f"mushroom body ({side})",
                   "paper": _PAPER, "licence": _LICENCE},
        )

    load.__name__ = f"load_larva_mushroom_body_{side}"
    load.__doc__ = f"The {side} larva mushroom body (Eichler et al. 2017) from graspologic's data files."
    return load


for _side in ("left", "right"):
    register_connectome(f"larva/mushroom_body_{_side}", species="Drosophila larva mushroom body", paper=_PAPER,
                        licence=_LICENCE, extra="larva")(_loader(_side))
