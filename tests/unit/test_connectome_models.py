"""E/I sign constraints, the fixed-connectome RNN (row 19) and the connectome next-step model (row 104)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from neurocircuits.graph import CircuitGraph
from neurocircuits.layers import constrain_signs, dale_signs
from neurocircuits.models import create_model
from neurocircuits.models.connectome import ConnectomeRNNConfig, fit_next_step


# -- sign constraints ---------------------------------------------------------------------------------
@pytest.mark.parametrize("magnitude", ["abs", "softplus"])
def test_dale_signs_survive_training(magnitude: str) -> None:
    torch.manual_seed(0)
    lin = nn.Linear(5, 4)
    pre = [1, -1, 1, 0, -1]
    constrain_signs(lin, "weight", dale_signs(pre, out_features=4), magnitude=magnitude)
    opt = torch.optim.SGD(lin.parameters(), lr=1.0)
    x = torch.randn(64, 5)
    target = -3 * x[:, :4]  # pushes every weight towards a sign the constraint forbids for some
    for _ in range(50):
        loss = ((lin(x) - target) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    w = lin.weight.detach()
    assert (w[:, [0, 2]] >= 0).all() and (w[:, [1, 4]] <= 0).all() and (w[:, 3] == 0).all()
    if magnitude == "abs":  # the allowed direction is learnt: output 1 copies -3 x_1
        assert w[1, 1] < -2.5


def test_constraint_right_inverse_and_errors() -> None:
    lin = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, -0.2, 0.1], [1.0, -1.0, 0.3]]))
    constrain_signs(lin, "weight", dale_signs([1, -1, 1], 2), magnitude="softplus")
    np.testing.assert_allclose(lin.weight.detach().numpy(), [[0.5, -0.2, 0.1], [1.0, -1.0, 0.3]], atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        constrain_signs(nn.Linear(3, 2), "weight", dale_signs([1, 1], 2))
    with pytest.raises(ValueError, match="magnitude"):
        constrain_signs(nn.Linear(3, 2), "weight", dale_signs([1, 1, 1], 2), magnitude="square")


# -- connectome RNN ------------------------------------------------------------------------------------
def toy_graph() -> CircuitGraph:
    """s1, s2 sensory -> i (inter, inhibitory to m2) -> m1, m2 motor; a gap junction i <-> m1."""
    g = CircuitGraph(name="toy")
    for n, c in [("s1", "sensory"), ("s2", "sensory"), ("i", "inter"), ("m1", "motor"), ("m2", "motor")]:
        g.add_node(n, kind="neuron", cell_class=c, modality="SNa" if n == "s1" else "")
    g.add_edge("s1", "i", kind="chemical", weight=3.0, sign=1)
    g.add_edge("s2", "i", kind="chemical", weight=1.0, sign=1)
    g.add_edge("i", "m2", kind="chemical", weight=2.0, sign=-1)
    g.add_edge("s2", "m1", kind="chemical", weight=1.0, sign=None)
    g.add_edge("i", "m1", kind="electrical", weight=1.0)
    g.add_edge("m1", "i", kind="electrical", weight=1.0)
    return g


def test_rnn_wiring_is_the_signed_connectome() -> None:
    m = create_model("connectome_rnn", graph=toy_graph(), in_features=3, out_features=2, trainable="io",
                     spectral_radius=1.0)
    w = m.recurrent_weight
    idx = {n: i for i, n in enumerate(m.names)}
    scale = w[idx["s1"], idx["i"]] / 3.0
    assert scale > 0
    assert torch.isclose(w[idx["i"], idx["m2"]], -2.0 * scale)        # inhibitory, Dale
    assert torch.isclose(w[idx["s2"], idx["m1"]], 1.0 * scale)         # unknown sign -> +1
    assert torch.isclose(w[idx["i"], idx["m1"]], w[idx["m1"], idx["i"]])  # gap junction symmetric
    assert w[idx["m1"], idx["m1"]] < 0                                  # diffusive (Laplacian) leak
    assert w[idx["m2"], idx["s1"]] == 0                                 # no edge, no weight
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"w_in", "b_in", "readout.weight", "readout.bias"}
    assert "rec_weight" in dict(m.named_buffers())
    assert m.in_index.tolist() == [idx["s1"], idx["s2"]] and m.out_index.tolist() == [idx["m1"], idx["m2"]]


@pytest.mark.parametrize("transform, f", [("sqrt", np.sqrt), ("log1p", np.log1p), ("binary", lambda c: 1.0)])
def test_rnn_weight_transform_maps_synapse_counts(transform: str, f) -> None:
    m = create_model("connectome_rnn", graph=toy_graph(), in_features=3, out_features=2, trainable="io",
                     spectral_radius=1.0, weight_transform=transform)
    w = m.recurrent_weight.double()
    idx = {n: i for i, n in enumerate(m.names)}
    scale = w[idx["s2"], idx["i"]] / f(1.0)                              # count 1
    assert scale > 0
    assert torch.isclose(w[idx["s1"], idx["i"]], f(3.0) * scale)          # count 3
    assert torch.isclose(w[idx["i"], idx["m2"]], -f(2.0) * scale)         # count 2, inhibitory
    assert torch.isclose(w[idx["i"], idx["m1"]], f(1.0) * scale)          # gap junction, count 1
    assert torch.isclose(w[idx["m1"], idx["m1"]], -f(1.0) * scale)        # its Laplacian diagonal
    with pytest.raises(ValueError, match="weight_transform"):
        ConnectomeRNNConfig(weight_transform="square")


def test_rnn_residual_update_is_the_bpu_recursion() -> None:
    torch.manual_seed(0)
    m = create_model("connectome_rnn", graph=toy_graph(), in_features=3, out_features=2, trainable="io", steps=3,
                     activation="relu", update="residual", spectral_radius=0.8)
    x = torch.randn(4, 3)
    y, state = m(x)
    w, u = m.recurrent_weight, torch.zeros(4, 5)
    u[:, m.in_index] = x @ m.w_in + m.b_in
    h = torch.zeros(4, 5)
    for _ in range(3):                               # h <- relu(h W + u + h), input held
        h = torch.relu(h @ w + u + h)
    torch.testing.assert_close(state.h, h)
    torch.testing.assert_close(y[:, -1], m.readout(h[:, m.out_index]))
    with pytest.raises(ValueError, match="update"):
        ConnectomeRNNConfig(update="euler")


def test_rnn_forward_ablation_and_expansion() -> None:
    torch.manual_seed(0)
    m = create_model("connectome_rnn", graph=toy_graph(), in_features=3, out_features=2, steps=5)
    x = torch.randn(4, 3)
    y, state = m(x)
    assert y.shape == (4, 5, 2) and state.h.shape == (4, 5)
    y2, _ = m(torch.randn(4, 7, 3), state)
    assert y2.shape == (4, 7, 2)
    with m.ablated("SNa"):
        ya, sa = m(x)
        assert sa.h[:, 0].abs().max() == 0  # s1 receives no input and no synapse
    assert not torch.allclose(ya, y)
    assert torch.allclose(m(x)[0], y)  # the ablation is undone on exit
    with pytest.raises(ValueError, match="unknown group"):
        with m.ablated("SNz"):
            pass
    big = create_model("connectome_rnn", graph=toy_graph(), in_features=3, out_features=2, expansion=3)
    assert len(big.unit_names) == 15 and big.w_in.shape == (3, 6) and big(x)[0].shape == (4, 4, 2)
    with pytest.raises(ValueError, match="expected input"):
        m(torch.randn(4, 5))
    with pytest.raises(ValueError, match="trainable must be"):
        ConnectomeRNNConfig(trainable="rec")


def test_trainable_all_keeps_signs() -> None:
    torch.manual_seed(0)
    m = create_model("connectome_rnn", graph=toy_graph(), in_features=3, out_features=2, trainable="all")
    sign0 = torch.sign(m.recurrent_weight.detach())
    opt = torch.optim.Adam(m.parameters(), lr=0.5)
    for _ in range(20):
        loss = m(torch.randn(8, 3))[0].pow(2).mean() * -1
        opt.zero_grad(); loss.backward(); opt.step()
    w = m.recurrent_weight.detach()
    assert torch.equal(torch.sign(w), sign0)


def test_celegans_rnn_groups() -> None:
    pytest.importorskip("cect", reason="[connectomes] extra")
    from neurocircuits.data import connectome

    worm = connectome("celegans/cook2019_herm")
    m = create_model("connectome_rnn", graph=worm, trainable="io")
    assert len(m.in_index) == 83 and len(m.out_index) == 123
    assert set(m.groups) >= {"SN1", "SN6", "sensory", "inter", "motor", "AVAL"}
    assert m(torch.randn(2, 64))[0].shape == (2, 4, 10)


# -- next-step prediction on a synthetic sample ---------------------------------------------------------
def test_connectome_model_predicts_next_step_better_than_mean() -> None:
    pytest.importorskip("cect", reason="[connectomes] extra")
    from neurocircuits.data import connectome
    from neurocircuits.data.recordings import connectome_activity

    worm = connectome("celegans/cook2019_herm").select_nodes(cell_class=["inter", "sensory"])
    rec, _ = connectome_activity(worm, n_steps=900, noise=0.1, seed=0)
    x = rec.align(worm.node_names()).to_tensor()
    train, test = x[:600], x[600:]
    torch.manual_seed(0)
    model = create_model("connectome_ar", graph=worm)
    losses = fit_next_step(model, train, epochs=150, lr=2e-2)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        mse = torch.mean((model(test[:-1].unsqueeze(0))[0][0] - test[1:]) ** 2).item()
    mean_baseline = torch.mean((train.mean(0) - test[1:]) ** 2).item()
    last_value = torch.mean((test[:-1] - test[1:]) ** 2).item()
    assert mse < 0.85 * mean_baseline and mse < 0.85 * last_value
    assert mse > 0.5 * 0.1 ** 2  # cannot beat the injected noise floor (sigma^2 = 0.01)
