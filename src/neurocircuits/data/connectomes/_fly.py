"""The Drosophila optic-lobe cell-type connectome that ``flyvis`` ships (MIT licence).

Lappalainen et al. 2024, "Connectome-constrained networks predict neural activity across the fly
visual system", Nature 634:1132; synapse counts from the FIB-19/FIB-25 reconstructions (Takemura et
al. 2013, 2015, 2017; Shinomiya et al. 2019). The file ``fib25-fib19_v2.2.json`` in the ``flyvis``
package is read as JSON; nothing of flyvis is imported (its network code needs a GPU stack).

Graph: one node per cell type (65; ``kind="cell_type"``), ``cell_class`` ``"sensory"`` for the
photoreceptors R1-R8 (the model's inputs), ``"output"`` for the 34 output types and ``"inter"``
otherwise, plus ``activation`` and ``bias``. One ``chemical`` edge per connected type pair with
``weight`` = synapses summed over the hexagonal column offsets (average counts, so fractional),
``sign`` = the transmitter sign the authors assigned, and attrs ``offsets`` (``[[du, dv], count]``
per offset) and ``references``.
"""

from __future__ import annotations

import importlib.util
import json
import os

from ...graph import CircuitGraph, GraphFormatError
from ._registry import MissingExtraError, register_connectome

_FILE = ("connectome", "fib25-fib19_v2.2.json")
_PAPER = "Lappalainen et al. 2024, Connectome-constrained networks predict neural activity across the fly visual system, Nature 634:1132"
_LICENCE = "data via flyvis (MIT); connectome from Takemura et al. 2013-2017 and Shinomiya et al. 2019"


def _flyvis_file() -> str:
    spec = importlib.util.find_spec("flyvis")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            "the fly optic-lobe connectome ships with the package 'flyvis', which is not installed. "
            "Install the extra: pip install 'neurocircuits[flyvis]' (only its data file is used)."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], *_FILE)


def read_flyvis_connectome(path: str | os.PathLike[str], name: str = "fly/optic_lobe") -> CircuitGraph:
    """Read a flyvis connectome JSON file (``nodes``, ``edges``, ``input_units``, ``output_units``)."""
    source = str(path)
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except json.JSONDecodeError as err:
        raise GraphFormatError(f"{source}: invalid JSON ({err}).") from err
    missing = [k for k in ("nodes", "edges", "input_units", "output_units") if k not in doc]
    if missing:
        raise GraphFormatError(f"{source}: missing key(s) {missing}; not a flyvis connectome file.")
    inputs, outputs = set(doc["input_units"]), set(doc["output_units"])
    g = CircuitGraph(name=name, attrs={"species": "Drosophila melanogaster", "region": "optic lobe (cell types)",
                                       "paper": _PAPER, "licence": _LICENCE, "source_file": os.path.basename(source)})
    for node in doc["nodes"]:
        n = str(node["name"])
        cls = "sensory" if n in inputs else "output" if n in outputs else "inter"
        g.add_node(n, kind="cell_type", cell_class=cls, activation=str(node.get("activation", "")),
                   bias=float(node.get("bias") or 0.0))
    for i, edge in enumerate(doc["edges"]):
        try:
            offsets = [[[int(o[0][0]), int(o[0][1])], float(o[1])] for o in edge["offsets"]]
            weight = sum(c for _, c in offsets)
            sign = int(edge["alpha"])
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise GraphFormatError(f"{source}: edge {i} is malformed ({err}).") from err
        if any(c < 0 for _, c in offsets):
            raise GraphFormatError(f"{source}: edge {i} ({edge['src']} -> {edge['tar']}) has a negative synapse count.")
        if sign not in (-1, 1):
            raise GraphFormatError(f"{source}: edge {i} has sign {sign}; expected +1 or -1.")
        for end in (edge["src"], edge["tar"]):
            if not g.has_node(str(end)):
                raise GraphFormatError(f"{source}: edge {i} names unknown cell type {end!r}.")
        g.add_edge(str(edge["src"]), str(edge["tar"]), kind="chemical", weight=weight, sign=sign,
                   offsets=offsets, references=list(edge.get("alpha_references") or []))
    return g


@register_connectome("fly/optic_lobe", species="Drosophila optic lobe (65 cell types)", paper=_PAPER,
                     licence=_LICENCE, extra="flyvis")
def load_fly_optic_lobe() -> CircuitGraph:
    """The flyvis optic-lobe cell-type connectome (see the module docstring)."""
    return read_flyvis_connectome(_flyvis_file())
