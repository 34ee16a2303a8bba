"""C. elegans connectomes from the ``cect`` package (C. elegans Connectome Toolbox, MIT licence).

``cect`` ships every data set in its wheel (JSON caches of its readers), so nothing is downloaded.
Each data set becomes a :class:`~neurocircuits.graph.CircuitGraph`:

* nodes: neurons (``kind="neuron"``) with attrs ``cell_class`` (``"sensory"``, ``"inter"``,
  ``"motor"``, ``"polymodal"`` for the pharyngeal polymodal neurons, ``"unknown"`` for CANL/R),
  ``modality`` (Cook et al. 2019's sensory categories ``SN1``..``SN6``, empty otherwise),
  ``neurotransmitter`` (``"+"``-joined, empty when unknown) and ``sign``. With ``cells="all"``,
  muscles (``kind="muscle"``) and other cells (``kind="other"``) are kept too.
* edges: ``kind="chemical"`` (directed, ``weight`` = synapse count, or the data set's weight,
  e.g. EM serial sections) and ``kind="electrical"`` (gap junctions, stored in both directions
  with equal weight, ``sign=None``).

Signs: a chemical edge gets the sign of its presynaptic neuron's classical neurotransmitter, read
from the neurotransmitter table that ``cect`` ships (``Modified celegans db dump.csv``, WormAtlas
assignments collected by OpenWorm): acetylcholine +1, GABA -1. Glutamate acts through both
excitatory (AMPA/kainate-like) and inhibitory (GluCl) receptors, so its sign is ``None`` unless the
caller chooses one (``glutamate_sign=``); monoamines are ``None``. A neuron with both GABA and a
+1 transmitter gets ``None``.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from typing import Any

import numpy as np

from ...graph import CircuitGraph
from ._registry import register_connectome, require

EXTRA = "connectomes"
CECT_LICENCE = "data via cect (MIT); original data (c) the authors of the source paper"

NT_SIGN: dict[str, int | None] = {
    "Acetylcholine": 1,
    "GABA": -1,
    "Glutamate": None,
    "Dopamine": None,
    "Serotonin": None,
    "Octopamine": None,
    "Tyramine": None,
}
"""Sign of each classical neurotransmitter (see the module docstring for the sources)."""

CELL_CLASSES = ("sensory", "inter", "motor", "polymodal", "unknown")

_NUMBERED = re.compile(r"^([A-Z]{2,3})0+(\d+)$")


def normalise_neuron_name(name: str) -> str:
    """Canonical C. elegans cell name: stripped, zero-padding dropped (``"DB07"`` -> ``"DB7"``)."""
    name = str(name).strip()
    m = _NUMBERED.match(name)
    return f"{m.group(1)}{m.group(2)}" if m else name


def _cect(what: str) -> Any:
    require("cect", EXTRA, what)
    import cect.Cells as cells

    return cells


@functools.cache
def _cell_tables() -> tuple[dict[str, str], dict[str, str], frozenset[str], frozenset[str]]:
    """(cell -> class, cell -> sensory modality, neuron names, muscle names) from cect."""
    C = _cect("the C. elegans connectomes")
    cls: dict[str, str] = {}
    for group, names in (
        ("sensory", C.SENSORY_NEURONS_COOK + C.MALE_HEAD_SENSORY_NEURONS + C.MALE_NON_HEAD_SENSORY_NEURONS),
        ("inter", C.INTERNEURONS_COOK + C.MALE_HEAD_INTERNEURONS + C.MALE_NON_HEAD_INTERNEURONS),
        ("motor", C.MOTORNEURONS_COOK),
        ("polymodal", C.PHARYNGEAL_POLYMODAL_NEURONS),
        ("unknown", C.UNKNOWN_FUNCTION_NEURONS),
    ):
        for n in names:
            cls.setdefault(n, group)
    modality = {n: cat for cat, names in C.SENSORY_NEURONS_COOK_CATEGORIES.items() for n in names}
    neurons = frozenset(C.ALL_PREFERRED_NEURON_NAMES)
    muscles = frozenset(C.PREFERRED_MUSCLE_NAMES)
    return cls, modality, neurons, muscles


@functools.cache
def neurotransmitters() -> dict[str, tuple[str, ...]]:
    """Neuron -> classical neurotransmitters, from the table ``cect`` ships (WormAtlas via OpenWorm)."""
    _cect("the C. elegans neurotransmitter table")
    import cect

    path = os.path.join(os.path.dirname(cect.__file__), "data", "Modified celegans db dump.csv")
    table: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("Relationship") == "Neurotransmitter":
                table.setdefault(normalise_neuron_name(row["Entity1"]), []).append(row["Entity2"].strip())
    return {k: tuple(sorted(set(v))) for k, v in table.items()}


def neuron_sign(nts: tuple[str, ...], glutamate_sign: int | None = None) -> int | None:
    """+1 / -1 / None for a neuron releasing ``nts`` (see the module docstring)."""
    signs = {glutamate_sign if nt == "Glutamate" else NT_SIGN.get(nt) for nt in nts}
    signs.discard(None)
    return signs.pop() if len(signs) == 1 else None


def _load_cect_dataset(reader: str) -> tuple[list[str], dict[str, np.ndarray]]:
    _cect("the C. elegans connectomes")
    from cect.ConnectomeDataset import get_cache_filename, load_connectome_dataset_file

    ds = load_connectome_dataset_file(get_cache_filename(reader))
    return [str(n) for n in ds.nodes], {k: np.asarray(v) for k, v in ds.connections.items()}


def celegans_graph(
    reader: str, name: str, cells: str = "neurons", glutamate_sign: int | None = None,
    attrs: dict[str, Any] | None = None,
) -> CircuitGraph:
    """Build a CircuitGraph from one ``cect`` reader's cached data set.

    Args:
        reader: the cect reader name, e.g. ``"Cook2019HermReader"``.
        name: the graph's name.
        cells: ``"neurons"`` (default) or ``"all"`` (also muscles and other cells).
        glutamate_sign: sign given to glutamatergic neurons (``None``, ``1`` or ``-1``).
        attrs: graph attrs (species, paper, licence, ...).
    """
    if cells not in ("neurons", "all"):
        raise ValueError(f"cells must be 'neurons' or 'all', not {cells!r}.")
    if glutamate_sign not in (None, 1, -1):
        raise ValueError(f"glutamate_sign must be None, 1 or -1, not {glutamate_sign!r}.")
    nodes, conns = _load_cect_dataset(reader)
    cls, modality, neuron_names, muscle_names = _cell_tables()
    nts = neurotransmitters()
    names = [normalise_neuron_name(n) for n in nodes]
    keep = [i for i, n in enumerate(names) if cells == "all" or n in neuron_names]
    g = CircuitGraph(name=name, attrs={"reader": reader, **(attrs or {})})
    sign_of: dict[str, int | None] = {}
    for i in keep:
        n = names[i]
        if n in neuron_names:
            nt = nts.get(n, ())
            sign_of[n] = neuron_sign(nt, glutamate_sign)
            g.add_node(n, kind="neuron", cell_class=cls.get(n, "unknown"), modality=modality.get(n, ""),
                       neurotransmitter="+".join(nt), sign=0 if sign_of[n] is None else sign_of[n])
        else:
            sign_of[n] = None
            g.add_node(n, kind="muscle" if n in muscle_names else "other", cell_class="muscle" if n in muscle_names else "other")
    idx = np.asarray(keep)
    for cid, kind in (("Generic_CS", "chemical"), ("Generic_GJ", "electrical")):
        if cid not in conns:
            continue
        mat = conns[cid][np.ix_(idx, idx)]
        for a, b in zip(*np.nonzero(mat)):
            pre, post = names[idx[a]], names[idx[b]]
            w = float(mat[a, b])
            sign = sign_of[pre] if kind == "chemical" else None
            g.add_edge(pre, post, kind=kind, weight=w, sign=sign)
    return g


_DATASETS: tuple[tuple[str, str, str, str, str], ...] = (
    # (registry name, cect reader, sex/stage, paper, doi)
    ("celegans/cook2019_herm", "Cook2019HermReader", "hermaphrodite adult",
     "Cook et al. 2019, Whole-animal connectomes of both C. elegans sexes, Nature 571:63", "10.1038/s41586-019-1352-7"),
    ("celegans/cook2019_male", "Cook2019MaleReader", "male adult",
     "Cook et al. 2019, Whole-animal connectomes of both C. elegans sexes, Nature 571:63", "10.1038/s41586-019-1352-7"),
    ("celegans/white1986", "White_whole", "hermaphrodite adult",
     "White et al. 1986, The structure of the nervous system of C. elegans, Phil Trans R Soc B 314:1", "10.1098/rstb.1986.0056"),
    ("celegans/varshney2011", "VarshneyDataReader", "hermaphrodite adult",
     "Varshney et al. 2011, Structural properties of the C. elegans neuronal network, PLoS Comput Biol 7:e1001066", "10.1371/journal.pcbi.1001066"),
) + tuple(
    (f"celegans/witvliet2021_{i}", f"WitvlietDataReader{i}", stage,
     "Witvliet et al. 2021, Connectomes across development reveal principles of brain maturation, Nature 596:257",
     "10.1038/s41586-021-03778-8")
    for i, stage in enumerate(("L1 0h", "L1 5h", "L1 8h", "L1 16h", "L2 23h", "L3 27h", "adult 45h", "adult 45h"), start=1)
)


def _make_loader(name: str, reader: str, stage: str, paper: str, doi: str) -> Any:
    def load(cells: str = "neurons", glutamate_sign: int | None = None) -> CircuitGraph:
        return celegans_graph(reader, name, cells=cells, glutamate_sign=glutamate_sign, attrs={
            "species": "Caenorhabditis elegans", "stage": stage, "paper": paper, "doi": doi,
            "licence": CECT_LICENCE, "sign_source": "cect 'Modified celegans db dump.csv' (WormAtlas)",
        })

    load.__name__ = f"load_{name.replace('/', '_')}"
    load.__doc__ = f"{paper} ({stage}); loaded from cect reader {reader}."
    return load


for _name, _reader, _stage, _paper, _doi in _DATASETS:
    register_connectome(_name, species="C. elegans " + _stage, paper=_paper, licence=CECT_LICENCE,
                        extra=EXTRA)(_make_loader(_name, _reader, _stage, _paper, _doi))
