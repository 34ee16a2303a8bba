"""STEP-style spiking transformer (catalog row 69): pluggable parts, energy hand count, training."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers import cache_activations
from neurocircuits.layers.spiking import LIF
from neurocircuits.models import create_model
from neurocircuits.models.spiking import E_AC_PJ, E_MAC_PJ, energy_estimate

CFG = dict(image_size=8, patch_size=4, dim=32, heads=4, depth=1, mlp_ratio=2.0, time_steps=3)


def _types(m):
    return {n: type(x).__name__ for n, x in m.named_modules()}


def test_swapping_neuron_changes_only_neurons():
    base, plif, iff = (create_model("spiking_transformer", neuron=n, **CFG) for n in ("lif", "plif", "if"))
    tb = _types(base)
    for other in (plif, iff):
        to = _types(other)
        assert tb.keys() == to.keys()
        changed = {n for n in tb if tb[n] != to[n]}
        assert changed == set() or all(n.endswith("_sn") or "_sn." in n or n.split(".")[-1].startswith("sn") for n in changed)
    # PLIF: the same modules, neurons now own a learnable decay; all other parameters identical in name and shape
    pb = {k: v.shape for k, v in base.named_parameters()}
    pp = {k: v.shape for k, v in plif.named_parameters() if not k.endswith("decay_logit")}
    assert pb == pp
    assert any(k.endswith("decay_logit") for k, _ in plif.named_parameters())
    assert all(isinstance(m, LIF) and hasattr(m, "decay_logit") for n, m in plif.named_modules() if n.endswith("_sn") or n.split(".")[-1] in ("sn1", "sn2"))


def test_swapping_encoding_changes_only_the_input():
    torch.manual_seed(0)
    a = create_model("spiking_transformer", encoding="direct", **CFG)
    b = create_model("spiking_transformer", encoding="rate", **CFG)
    b.load_state_dict(a.state_dict())  # identical parameters: the encoding owns none
    a.eval(), b.eval()
    x = torch.rand(4, 1, 8, 8)
    with cache_activations(a, ["hook_input"]) as ca:
        a(x)
    with cache_activations(b, ["hook_input"]) as cb:
        b(x)
    assert torch.equal(ca["hook_input"][0], x)
    assert set(cb["hook_input"].unique().tolist()) <= {0.0, 1.0}
    # feeding a's encoder output into b reproduces a exactly: nothing else differs
    seq = ca["hook_input"].contiguous()
    assert torch.allclose(a(seq)[0], b(seq)[0])


def test_energy_estimate_matches_hand_count():
    torch.manual_seed(0)
    net = create_model("spiking_transformer", **CFG).eval()
    x = torch.rand(6, 1, 8, 8)
    T, N, D, H, hid = 3, 4, 32, 4, 64
    dh = D // H
    names = ["embed_sn.hook_spikes", "blocks.0.attn.q_sn.hook_spikes", "blocks.0.attn.k_sn.hook_spikes",
             "blocks.0.attn.attn_sn.hook_spikes", "blocks.0.hook_resid_mid", "blocks.0.mlp.sn1.hook_spikes"]
    with torch.no_grad(), cache_activations(net, names) as c:
        net(x)
    r = {n: float(c[n].mean()) for n in names}
    sop = (3 * r[names[0]] * N * D * D            # q, k, v projections of the embedded spikes
           + r[names[2]] * H * dh * N * dh         # K^T V
           + r[names[1]] * H * N * dh * dh         # Q (K^T V)
           + r[names[3]] * N * D * D               # output projection
           + r[names[4]] * N * D * hid             # MLP fc1 on the residual spike counts
           + r[names[5]] * N * hid * D) * T        # MLP fc2
    mac = (N * 16 * D + D * 10) * T                # analogue patch embedding and read-out head
    rep = energy_estimate(net, x)
    assert rep.snn_energy_pj == pytest.approx(sop * E_AC_PJ + mac * E_MAC_PJ, rel=1e-5)
    assert len(rep.layers) == 10


def test_tiny_spiking_transformer_trains_on_digits():
    from neurocircuits.data.datasets import digits
    from neurocircuits.learning.bptt import BPTTConfig, train_classifier

    d = digits("image")
    torch.manual_seed(0)
    net = create_model("spiking_transformer", **CFG)
    res = train_classifier(net, d.x_train[:512], d.y_train[:512], d.x_test, d.y_test,
                           BPTTConfig(epochs=4, batch_size=64, lr=1e-2, decoder="mean", progress=False))
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < 0.5 * losses[0]
    assert res.test_accuracy > 0.7  # chance is 0.1


@pytest.mark.slow
def test_spiking_transformer_digits_accuracy():
    from neurocircuits.data.datasets import digits
    from neurocircuits.learning.bptt import BPTTConfig, train_classifier

    d = digits("image")
    torch.manual_seed(0)
    net = create_model("spiking_transformer", time_steps=4)
    res = train_classifier(net, d.x_train, d.y_train, d.x_test, d.y_test,
                           BPTTConfig(epochs=15, lr=1e-2, decoder="mean", progress=False))
    assert res.test_accuracy > 0.9, res.history[-1]
