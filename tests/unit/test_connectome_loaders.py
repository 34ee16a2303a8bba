"""Connectome loaders: published counts, symmetric gap junctions, lossless GraphML round trip,
and clear errors for bad files."""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("cect", reason="the [connectomes] extra (cect) provides the C. elegans data")

from neurocircuits import data  # noqa: E402
from neurocircuits.data.connectomes import (  # noqa: E402
    ConnectomeFileError,
    connectome,
    connectome_svg,
    list_connectomes,
    normalise_neuron_name,
    read_connectome_csv,
)
from neurocircuits.graph import CircuitGraph  # noqa: E402


@pytest.fixture(scope="module")
def worm() -> CircuitGraph:
    return connectome("celegans/cook2019_herm")


def test_cook2019_herm_has_302_neurons_in_published_classes(worm: CircuitGraph) -> None:
    assert worm.n_nodes == 302  # Cook et al. 2019: 302 hermaphrodite neurons
    classes = Counter(n.attrs["cell_class"] for n in worm.nodes)
    # Cook et al. 2019 (as tabulated by cect): 83 sensory, 89 inter, 123 motor, 5 pharyngeal
    # polymodal (MI, NSML/R, MCL/R), 2 of unknown function (CANL/R).
    assert classes == {"sensory": 83, "inter": 89, "motor": 123, "polymodal": 5, "unknown": 2}
    assert all(n.kind == "neuron" for n in worm.nodes)
    assert {"AVAL", "AVAR", "ASEL", "DB7", "VA12"} <= set(worm.node_names())


def test_cook2019_herm_edge_counts_match_cect(worm: CircuitGraph) -> None:
    chem = [e for e in worm.edges if e.kind == "chemical"]
    elec = [e for e in worm.edges if e.kind == "electrical"]
    # Golden values: the neuron-to-neuron entries of cect 0.3.5's Cook2019Herm matrices.
    assert len(chem) == 3709 and sum(e.weight for e in chem) == 20965.0
    assert len(elec) == 2196 and sum(e.weight for e in elec) == 11523.0
    assert all(e.weight > 0 for e in worm.edges)


def test_gap_junctions_are_symmetric(worm: CircuitGraph) -> None:
    gj = {(e.source, e.target): e.weight for e in worm.edges if e.kind == "electrical"}
    assert gj and all(gj.get((b, a)) == w for (a, b), w in gj.items())
    assert all(e.sign is None for e in worm.edges if e.kind == "electrical")


def test_signs_follow_presynaptic_neurotransmitter(worm: CircuitGraph) -> None:
    # DD/VD motor neurons are GABAergic (inhibitory), DA/DB/VA/VB cholinergic (excitatory).
    assert worm.node("VD3").attrs["neurotransmitter"] == "GABA" and worm.node("VD3").attrs["sign"] == -1
    assert worm.node("DB3").attrs["neurotransmitter"] == "Acetylcholine" and worm.node("DB3").attrs["sign"] == 1
    for e in worm.edges:
        if e.kind == "chemical" and e.source in ("VD3", "DB3"):
            assert e.sign == worm.node(e.source).attrs["sign"]
    # glutamate is ambiguous by default, and becomes what the caller says
    assert worm.node("AIBL").attrs["neurotransmitter"] == "Glutamate" and worm.node("AIBL").attrs["sign"] == 0
    inh = connectome("celegans/cook2019_herm", glutamate_sign=-1)
    assert inh.node("AIBL").attrs["sign"] == -1
    assert all(e.sign == -1 for e in inh.edges if e.kind == "chemical" and e.source == "AIBL")


def test_select_chemical_to_networkx(worm: CircuitGraph) -> None:
    g = worm.select(kind="chemical").to_networkx()
    assert g.number_of_nodes() == 302 and g.number_of_edges() == 3709


def test_graphml_round_trip_loses_nothing(worm: CircuitGraph, tmp_path) -> None:
    path = tmp_path / "worm.graphml"
    worm.to_graphml(path)
    assert CircuitGraph.from_graphml(path) == worm


def test_other_datasets_and_listing() -> None:
    rows = {r.name: r for r in list_connectomes()}
    assert {"celegans/cook2019_herm", "celegans/cook2019_male", "celegans/white1986",
            "celegans/varshney2011", "celegans/witvliet2021_8"} <= set(rows)
    assert rows["celegans/cook2019_herm"].n_neurons == 302
    assert rows["celegans/white1986"].n_neurons == 300  # CANL/R have no synapses in White 1986
    assert rows["celegans/varshney2011"].n_neurons == 280
    assert all(r.licence and r.paper for r in rows.values())
    male = connectome("celegans/cook2019_male")
    assert male.has_node("CEMDL") and not male.has_node("HSNL")  # male-specific in, herm-specific out
    full = connectome("celegans/cook2019_herm", cells="all")
    assert full.n_nodes > 302 and any(n.kind == "muscle" for n in full.nodes)


def test_public_api_names() -> None:
    assert data.connectome is connectome and data.list_connectomes is list_connectomes


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(KeyError, match="celegans/cook2019_herm"):
        connectome("celegans/cook2019_hrem")


def test_normalise_names() -> None:
    assert normalise_neuron_name(" DB07 ") == "DB7" and normalise_neuron_name("AVAL") == "AVAL"


def test_svg_has_every_neuron(worm: CircuitGraph, tmp_path) -> None:
    text = connectome_svg(worm, tmp_path / "w.svg", max_edges=100)
    assert text.count("<circle") == 302 and text.count("<path") == 100
    assert (tmp_path / "w.svg").read_text() == text


# -- user files ----------------------------------------------------------------------------------
def _write(tmp_path, text: str):
    p = tmp_path / "conn.csv"
    p.write_text(text)
    return p


def test_read_csv_symmetrises_gap_junctions(tmp_path, worm: CircuitGraph) -> None:
    p = _write(tmp_path, "pre,post,type,count,sign\nAVAL,DA01,chemical,5,+1\nAVAL,AVAR,electrical,2,\n"
                         "AVAR,AVAL,gap,2,\n")
    g = read_connectome_csv(p, neurons=worm.node_names())
    assert g.n_nodes == 302
    assert g.edge("AVAL", "DA1", "chemical").weight == 5 and g.edge("AVAL", "DA1", "chemical").sign == 1
    assert g.edge("AVAR", "AVAL", "electrical").weight == 2 and g.n_edges == 3


@pytest.mark.parametrize("text, problem", [
    ("pre,post,count\nAVAL,AVAR,3\n", r"missing column\(s\) \['type'\]"),
    ("pre,post,type,count\nAVAL,AVXR,chemical,3\n", r"line 2: unknown neuron name 'AVXR'\. Did you mean"),
    ("pre,post,type,count\nAVAL,AVAR,chemical,-3\n", r"line 2: negative or NaN synapse count"),
    ("pre,post,type,count\nAVAL,AVAR,chemical,many\n", r"line 2: count 'many' is not a number"),
    ("pre,post,type,count\nAVAL,AVAR,neuropeptide,1\n", r"line 2: unknown connection type"),
    ("pre,post,type,count\nAVAL,AVAR,electrical,1\nAVAR,AVAL,electrical,2\n", r"line 3: .*must be symmetric"),
])
def test_bad_files_name_file_and_problem(tmp_path, worm: CircuitGraph, text: str, problem: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConnectomeFileError, match=problem) as info:
        read_connectome_csv(p, neurons=worm.node_names())
    assert str(p) in str(info.value)


# -- fly optic lobe (flyvis data file) ------------------------------------------------------------------
def test_fly_optic_lobe_from_flyvis(tmp_path) -> None:
    import importlib.util

    if importlib.util.find_spec("flyvis") is None:
        # Justified skip: `make test` installs flyvis (data only); plain pytest without it skips.
        pytest.skip("the [flyvis] extra ships the optic-lobe connectome")  # justified: make test installs it
    fly = connectome("fly/optic_lobe")
    # Lappalainen et al. 2024: 65 cell types, 8 photoreceptor inputs, 34 output types, 605 type pairs
    assert fly.n_nodes == 65 and fly.n_edges == 605
    classes = Counter(n.attrs["cell_class"] for n in fly.nodes)
    assert classes == {"sensory": 8, "output": 34, "inter": 23}
    assert Counter(e.sign for e in fly.edges) == {1: 377, -1: 228}
    r1_l1 = fly.edge("R1", "L1", "chemical")
    assert r1_l1.sign == -1 and r1_l1.weight == 40.0 and r1_l1.attrs["offsets"] == [[[0, 0], 40.0]]
    fly.to_graphml(tmp_path / "fly.graphml")
    assert CircuitGraph.from_graphml(tmp_path / "fly.graphml") == fly
    from neurocircuits.models import create_model

    net = create_model("connectome_rnn", graph=fly, in_features=4, out_features=3, output_classes=("output",))
    assert len(net.in_index) == 8 and len(net.out_index) == 34


def test_bad_flyvis_file_names_file_and_problem(tmp_path) -> None:
    import json

    from neurocircuits.data.connectomes import read_flyvis_connectome
    from neurocircuits.graph import GraphFormatError

    p = tmp_path / "fly.json"
    p.write_text(json.dumps({"nodes": [{"name": "A"}], "edges": []}))
    with pytest.raises(GraphFormatError, match=r"fly.json: missing key\(s\) \['input_units', 'output_units'\]"):
        read_flyvis_connectome(p)
    p.write_text(json.dumps({"nodes": [{"name": "A"}], "input_units": [], "output_units": [],
                             "edges": [{"src": "A", "tar": "B", "offsets": [[[0, 0], 2]], "alpha": 1}]}))
    with pytest.raises(GraphFormatError, match="unknown cell type 'B'"):
        read_flyvis_connectome(p)
    p.write_text(json.dumps({"nodes": [{"name": "A"}], "input_units": [], "output_units": [],
                             "edges": [{"src": "A", "tar": "A", "offsets": [[[0, 0], -2]], "alpha": 1}]}))
    with pytest.raises(GraphFormatError, match="negative synapse count"):
        read_flyvis_connectome(p)


# -- larva mushroom body (graspologic data files) ---------------------------------------------------------
def test_larva_mushroom_body_counts() -> None:
    import importlib.util

    if importlib.util.find_spec("graspologic") is None:
        # Justified skip: `make test` installs graspologic (data only); plain pytest without it skips.
        pytest.skip("graspologic's wheel ships the larva mushroom body")  # justified: make test installs it
    left, right = connectome("larva/mushroom_body_left"), connectome("larva/mushroom_body_right")
    # Eichler et al. 2017 as shipped by graspologic: left 209 neurons, right 213
    assert (left.n_nodes, right.n_nodes) == (209, 213)
    assert Counter(n.attrs["label"] for n in left.nodes) == {"K": 101, "P": 58, "O": 29, "I": 21}
    assert left.n_edges == 7425 and sum(e.weight for e in left.edges) == 25322.0
    # rows are presynaptic: projection neurons feed Kenyon cells, never the reverse
    assert any(e.source.startswith("P") and e.target.startswith("K") for e in left.edges)
    assert not any(e.source.startswith("K") and e.target.startswith("P") for e in left.edges)


def test_bad_labelled_adjacency_names_file_and_problem(tmp_path) -> None:
    from neurocircuits.data.connectomes import read_labelled_adjacency
    from neurocircuits.graph import GraphFormatError

    (tmp_path / "a.csv").write_text("0 1\n-2 0\n")
    (tmp_path / "l.csv").write_text("K\nP\n")
    with pytest.raises(GraphFormatError, match=r"a.csv: negative synapse count -2.0 at row 1, column 0"):
        read_labelled_adjacency(tmp_path / "a.csv", tmp_path / "l.csv", "x")
    (tmp_path / "a.csv").write_text("0 1\n2 0\n")
    (tmp_path / "l.csv").write_text("K\n")
    with pytest.raises(GraphFormatError, match=r"l.csv: 1 labels for a 2-neuron adjacency"):
        read_labelled_adjacency(tmp_path / "a.csv", tmp_path / "l.csv", "x")
