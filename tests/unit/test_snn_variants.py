"""MPBN fold-into-threshold (row 120), MPR (row 119), RMP-Loss (row 56)."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers.spiking import MPBNLIF, MPRLIF, make_neuron, quantization_error, rmp_loss


def test_mpbn_folded_neuron_gives_identical_outputs():
    torch.manual_seed(0)
    n = MPBNLIF(8).double()
    with torch.no_grad():
        n.bn.weight.uniform_(0.5, 2.0)
        n.bn.bias.uniform_(-0.5, 0.5)
    for _ in range(5):  # gather running statistics in training mode
        n(torch.rand(6, 32, 8, dtype=torch.float64) * 2)
    n.eval()
    folded = n.fold().double()
    x = torch.rand(12, 64, 8, dtype=torch.float64) * 2
    s1, st1 = n(x)
    s2, st2 = folded(x)
    assert s1.sum() > 0 and (1 - s1).sum() > 0
    assert torch.equal(s1, s2)
    assert torch.allclose(st1.v, st2.v)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.modules())
    with torch.no_grad():
        n.bn.weight[3] = -1.0
    with pytest.raises(ValueError, match="channels \\[3\\]"):
        n.fold()


def test_mpbn_conv_shaped_features_fold():
    torch.manual_seed(1)
    n = MPBNLIF((4, 3, 3))
    n(torch.rand(5, 16, 4, 3, 3) * 2)
    n.eval()
    x = torch.rand(7, 8, 4, 3, 3) * 2
    assert torch.equal(n(x)[0], n.fold()(x)[0])


def test_mpr_rectifier_properties_and_firing_point():
    n = MPRLIF(3, threshold=1.0, k=4.0)
    u = torch.linspace(-0.5, 1.5, 201)
    phi = n.rectify(u)
    # the paper's phi is the identity outside [0, theta] (an earlier version clamped there, which
    # zeroed the gradient of every neuron below 0 or above theta)
    outside = (u < 0) | (u > 1)
    assert torch.equal(phi[outside], u[outside])
    assert phi[~outside].min() >= 0 and phi[~outside].max() <= 1
    assert torch.all(phi[1:] >= phi[:-1])
    assert n.rectify(torch.tensor(0.5)).item() == pytest.approx(0.5)
    # phi pushes values toward the spike levels: smaller distance to {0, 1} than u itself
    inside = u[(u > 0) & (u < 1)]
    assert quantization_error(n.rectify(inside)) < quantization_error(inside)
    s, _ = n(torch.full((1, 1, 3), 0.49))
    assert s.sum() == 0
    s, _ = n(torch.full((1, 1, 3), 0.51))
    assert s.sum() == 3
    assert "mpr_lif" in make_neuron.__doc__


def test_rmp_loss_lowers_quantization_error_at_equal_accuracy():
    """RMP-Loss (row 56) moves membrane mass toward the spike levels without hurting accuracy."""
    from neurocircuits.data.datasets import digits
    from neurocircuits.layers import cache_activations
    from neurocircuits.learning.bptt import BPTTConfig, evaluate, train_classifier
    from neurocircuits.models import create_model

    d = digits()
    name = "layers.0.neuron.hook_membrane"
    results = {}
    for weight in (0.0, 1.0):
        torch.manual_seed(0)
        net = create_model("spiking_mlp", in_features=64, hidden=[64], out_features=10, time_steps=8)

        def reg(model, xb, out, weight=weight):
            if weight == 0:
                return out.new_zeros(())
            with cache_activations(model, [name], detach=False) as c:
                model(xb)
            return weight * rmp_loss(c[name])

        train_classifier(net, d.x_train, d.y_train, d.x_test, d.y_test, BPTTConfig(epochs=6, progress=False), regularizer=reg)
        acc, _ = evaluate(net, d.x_test, d.y_test)
        with torch.no_grad(), cache_activations(net, [name]) as c:
            net.eval()
            net(d.x_test)
        results[weight] = (acc, float(quantization_error(c[name])))
    (acc0, q0), (acc1, q1) = results[0.0], results[1.0]
    assert q1 < 0.8 * q0, results
    assert acc1 >= acc0 - 0.03, results
