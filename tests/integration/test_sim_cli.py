"""`neurocircuits simulate`: runs CUBA, prints statistics, writes raster, spikes and a summary."""

import json

import numpy as np
from typer.testing import CliRunner

from neurocircuits.cli import app
from neurocircuits.sim import spike_statistics


def test_simulate_cuba_writes_raster_spikes_and_summary(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["simulate", "cuba", "--n-neurons", "800", "--duration-ms", "200",
                                   "--seed", "1", "--out", str(out), "--raster-format", "svg"])
    assert res.exit_code == 0, res.output
    assert "rate_hz" in res.output and "cv_isi" in res.output
    summary = json.loads((out / "summary.json").read_text())
    spikes = np.load(out / "spikes.npz")
    assert summary["spike_count"] == spikes["i"].size > 0
    assert summary["rate_hz"] == spike_statistics(spikes["t_ms"], spikes["i"], 800, 200.0)["rate_hz"]
    assert (out / "raster.svg").read_text().startswith("<?xml")


def test_simulate_model_file(tmp_path):
    model = tmp_path / "net.py"
    model.write_text(
        "from neurocircuits import sim\n"
        "def build(n_neurons, seed, device, dtype):\n"
        "    net = sim.Network(seed=seed, device=device, dtype=dtype)\n"
        "    g = net.add(sim.NeuronGroup(n_neurons, 'lif', input_current=15.0, refractory_ms=2.0))\n"
        "    return net, net.add(sim.SpikeMonitor(g))\n"
    )
    res = CliRunner().invoke(app, ["simulate", str(model), "--n-neurons", "10", "--duration-ms", "100",
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    # a lone LIF at x = 15 mV, tau 20 ms, 10 mV to threshold, 2 ms refractory: T = 2 + 20 ln 3 = 23.97 ms
    assert s["spike_count"] == 10 * 4
