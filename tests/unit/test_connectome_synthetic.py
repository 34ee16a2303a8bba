"""The larva-sized synthetic connectome generator (row 19) and the connectome RNN's sparse path."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from neurocircuits.data.connectomes import LARVA_MODALITIES, larva_like_connectome
from neurocircuits.data.connectomes._matrix import signed_adjacency
from neurocircuits.models import create_model
from neurocircuits.models.connectome import _spectral_radius


@pytest.fixture(scope="module")
def larva() -> object:
    return larva_like_connectome(seed=0)


def test_larva_like_matches_size_groups_and_counts(larva) -> None:  # noqa: ANN001
    g = larva
    assert (g.n_nodes, g.n_edges) == (3016, 65000)  # Winding et al. 2023: 3016 neurons; catalog: ~65k edges
    classes = Counter(n.attrs["cell_class"] for n in g.nodes)
    assert classes == {"sensory": 480, "inter": 2356, "output": 180}
    mods = Counter(n.attrs["modality"] for n in g.nodes if n.attrs["cell_class"] == "sensory")
    assert set(mods) == set(LARVA_MODALITIES) and len(mods) == 12 and min(mods.values()) == 40
    counts = np.array([e.weight for e in g.edges])
    assert counts.min() >= 1 and np.all(counts == np.round(counts))
    assert abs(counts.sum() - 548_000) / 548_000 < 0.03  # 548,000 synapses (Winding et al. 2023)
    assert np.median(counts) < counts.mean()  # heavy tail (lognormal)
    pairs = {(e.source, e.target) for e in g.edges}
    assert len(pairs) == g.n_edges and not any(s == t for s, t in pairs)  # simple graph, no self-loops


def test_larva_like_signs_obey_dale_and_layout(larva) -> None:  # noqa: ANN001
    g = larva
    node = {n.name: n for n in g.nodes}
    assert all(e.sign == node[e.source].attrs["sign"] for e in g.edges)  # presynaptic sign on every edge
    sign = {c: Counter(n.attrs["sign"] for n in g.nodes if n.attrs["cell_class"] == c) for c in ("sensory", "output")}
    assert sign["sensory"] == {1: 480} and sign["output"] == {1: 180}
    inh = np.mean([n.attrs["sign"] == -1 for n in g.nodes if n.attrs["cell_class"] == "inter"])
    assert 0.27 < inh < 0.33  # inhibitory_fraction 0.3
    flow = Counter((node[e.source].attrs["cell_class"], node[e.target].attrs["cell_class"]) for e in g.edges)
    # feed-forward bias: sensory mostly onto inter neurons; inter -> output dominates output -> inter per pair;
    # and recurrence plus feedback exist
    assert flow["sensory", "inter"] > 10 * flow["sensory", "output"]
    assert flow["inter", "output"] / 180 > flow["output", "inter"] / 180
    assert flow["inter", "inter"] > 0 and flow["output", "inter"] > 0 and flow["inter", "sensory"] > 0


def test_larva_like_is_seeded_and_validates() -> None:
    small = {"n_neurons": 200, "n_edges": 2000, "n_synapses": 10000, "n_sensory": 24, "n_output": 12}
    a, b, c = (larva_like_connectome(seed=s, **small) for s in (1, 1, 2))
    edges = lambda g: sorted((e.source, e.target, e.weight) for e in g.edges)  # noqa: E731
    assert edges(a) == edges(b) and edges(a) != edges(c)
    with pytest.raises(ValueError, match="n_sensory"):
        larva_like_connectome(n_neurons=200, n_edges=2000, n_sensory=5, n_output=10)
    with pytest.raises(ValueError, match="n_synapses"):
        larva_like_connectome(**{**small, "n_synapses": 100})


def test_sparse_recurrence_and_arpack_radius_match_dense(larva) -> None:  # noqa: ANN001
    adj, _ = signed_adjacency(larva, transform="sqrt")
    sub = adj[:700, :700]
    assert _spectral_radius(sub) == pytest.approx(float(np.abs(np.linalg.eigvals(sub)).max()), rel=1e-6)
    net = create_model("connectome_rnn", graph=larva, trainable="io", weight_transform="sqrt", spectral_radius=0.5,
                       update="residual", activation="relu", output_classes=("output",))
    assert hasattr(net, "rec_weight_t_csr")
    x = torch.randn(5, 64)
    y_sparse = net(x)[0]
    del net.rec_weight_t_csr  # fall back to the dense product
    y_dense = net(x)[0]
    torch.testing.assert_close(y_sparse, y_dense, rtol=1e-4, atol=1e-5)
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == 64 * 480 + 480 + 180 * 10 + 10  # only the I/O projections
    with net.ablated("olfactory"):
        assert int((net.input_gate == 0).sum()) == 40
