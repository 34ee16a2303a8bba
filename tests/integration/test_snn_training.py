"""Training, checkpoint/resume, energy estimate and CLI of the spiking stack (snn area)."""

from __future__ import annotations

import math

import pytest
import torch

from neurocircuits.data.datasets import digits, load_dataset
from neurocircuits.learning.bptt import BPTTConfig, TrainingDivergedError, train_classifier
from neurocircuits.models import create_model, list_models
from neurocircuits.models.spiking import E_AC_PJ, E_MAC_PJ, energy_estimate


def test_spiking_models_registered_and_run_forward_backward():
    assert {"spiking_mlp", "spiking_conv"} <= set(list_models("spiking"))
    for name, x in (("spiking_mlp", torch.rand(3, 64)), ("spiking_conv", torch.rand(3, 1, 8, 8))):
        net = create_model(name, time_steps=4, encoding="rate")
        out, state = net(x)
        assert out.shape == (4, 3, 10)
        assert set(out.unique().tolist()) <= {0.0, 1.0}
        net.scores(out).sum().backward()
        assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def test_energy_estimate_matches_hand_count():
    """Two-layer MLP: layer 1 gets analogue input (T*MAC at E_MAC), layer 2 spikes (rate*T*MAC at E_AC)."""
    torch.manual_seed(0)
    net = create_model("spiking_mlp", in_features=64, hidden=[32], out_features=10, time_steps=6, encoding="direct")
    x = torch.rand(5, 64)
    out, _ = net(x)
    with torch.no_grad():
        from neurocircuits.layers import cache_activations

        with cache_activations(net, ["layers.0.neuron.hook_spikes"]) as c:
            net(x)
    rate = float(c["layers.0.neuron.hook_spikes"].mean())
    rep = energy_estimate(net, x)
    expect = 6 * 64 * 32 * E_MAC_PJ + rate * 6 * 32 * 10 * E_AC_PJ
    assert rep.snn_energy_pj == pytest.approx(expect, rel=1e-6)
    assert rep.ann_energy_pj == pytest.approx((64 * 32 + 32 * 10) * E_MAC_PJ)
    assert [l.spiking_input for l in rep.layers] == [False, True]


def test_checkpoint_resume_reproduces_uninterrupted_run(tmp_path):
    d = digits()
    xs, ys, xt, yt = d.x_train[:256], d.y_train[:256], d.x_test[:100], d.y_test[:100]
    cfg = dict(in_features=64, hidden=[32], out_features=10, time_steps=5)
    torch.manual_seed(0)
    full = create_model("spiking_mlp", **cfg)
    init = {k: v.clone() for k, v in full.state_dict().items()}
    r_full = train_classifier(full, xs, ys, xt, yt, BPTTConfig(epochs=3, batch_size=64, progress=False))
    part = create_model("spiking_mlp", **cfg)
    part.load_state_dict(init)
    ck = tmp_path / "ck.pt"
    train_classifier(part, xs, ys, xt, yt, BPTTConfig(epochs=2, batch_size=64, progress=False), checkpoint=ck)
    resumed = create_model("spiking_mlp", **cfg)
    r_res = train_classifier(resumed, xs, ys, xt, yt, BPTTConfig(epochs=3, batch_size=64, progress=False), checkpoint=ck, resume=True)
    assert len(r_res.history) == 3
    for k, v in full.state_dict().items():
        assert torch.allclose(v, resumed.state_dict()[k], atol=1e-6), k
    assert r_res.history[-1]["test_acc"] == r_full.history[-1]["test_acc"]
    assert not list(tmp_path.glob("*.tmp"))


def test_divergence_is_named():
    net = create_model("spiking_mlp", in_features=4, hidden=[4], out_features=2, time_steps=3, readout="membrane",
                       decoder="max_membrane")
    x = torch.rand(8, 4)
    with torch.no_grad():
        net.out["fc"].bias.fill_(float("inf"))
    with pytest.raises(TrainingDivergedError, match="epoch 1"):
        train_classifier(net, x, torch.zeros(8, dtype=torch.long), x, torch.zeros(8, dtype=torch.long),
                         BPTTConfig(epochs=1, progress=False, decoder="max_membrane"))


def test_datasets_have_planted_structure():
    mb = load_dataset("moving_bars", n=40)
    assert mb.x_train.shape[1:] == (30, 16) and mb.time_first
    # direction is not in the per-pixel event counts' mean (symmetric sweep), only in timing
    sm = load_dataset("spiking_motifs", n=30)
    assert sm.n_classes == 3 and sm.x_train.dim() == 3
    sd = load_dataset("sequential_digits")
    assert sd.x_train.shape[0] == 8 and sd.x_train.shape[2] == 8


@pytest.mark.slow
def test_spiking_mlp_digits_reaches_95_percent():
    d = digits()
    torch.manual_seed(0)
    net = create_model("spiking_mlp", in_features=64, hidden=[128], out_features=10, neuron="lif", encoding="direct", time_steps=25)
    res = train_classifier(net, d.x_train, d.y_train, d.x_test, d.y_test, BPTTConfig(epochs=15, progress=False))
    assert res.test_accuracy >= 0.95, res.history


def test_cli_train_runs(tmp_path):
    from typer.testing import CliRunner

    from neurocircuits.cli import app

    r = CliRunner().invoke(app, ["train", "spiking_mlp", "--data", "digits", "--epochs", "1", "--time-steps", "4",
                                 "--hidden", "16", "--checkpoint", str(tmp_path / "c.pt")])
    assert r.exit_code == 0, r.output
    assert "test accuracy" in r.output and "energy per inference" in r.output and "spike rates" in r.output
    assert (tmp_path / "c.pt").exists()
