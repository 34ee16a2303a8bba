"""Recording type, NWB round trip and errors, shipped samples, synthetic ground truth."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from neurocircuits.data import recordings as R
from neurocircuits.data.recordings import Recording, RecordingError


def _spikes() -> Recording:
    return Recording(("a", "b", "c"), spikes=([0.01, 0.5, 0.9], [], [0.2]), duration_s=1.0, name="toy",
                     attrs={"unit": "s", "note": [1, 2]})


def test_binning_counts_every_spike_in_its_bin() -> None:
    rec = _spikes()
    binned = rec.binned(0.25)
    assert binned.kind == "continuous" and binned.rate_hz == 4.0 and binned.data.shape == (4, 3)
    np.testing.assert_array_equal(binned.data[:, 0], [1, 0, 1, 1])
    np.testing.assert_array_equal(binned.data.sum(0), [3, 0, 1])
    np.testing.assert_allclose(rec.firing_rates_hz(), [3.0, 0.0, 1.0])


def test_align_to_connectome_order_marks_missing() -> None:
    rec = Recording(("AVAL", "AVAR"), data=np.arange(6.0).reshape(3, 2), rate_hz=2.0)
    al = rec.align(["AVAR", "ASEL", "AVAL"])
    assert al.channels == ("AVAR", "ASEL", "AVAL") and al.attrs["recorded"] == [True, False, True]
    np.testing.assert_array_equal(al.data[:, 0], [1, 3, 5])
    assert np.isnan(al.data[:, 1]).all()
    assert tuple(al.to_tensor().shape) == (3, 3)


@pytest.mark.parametrize("kwargs, problem", [
    (dict(channels=("a", "a"), spikes=([], [])), "unique"),
    (dict(channels=("a",), spikes=([0.3, 0.1],)), "sorted"),
    (dict(channels=("a", "b"), data=np.zeros((4, 3)), rate_hz=10.0), r"\[time, channel\] with 2 channels"),
    (dict(channels=("a",), data=np.zeros((4, 1))), "rate_hz > 0"),
    (dict(channels=("a",)), "exactly one of"),
])
def test_inconsistent_recordings_raise(kwargs: dict, problem: str) -> None:
    with pytest.raises(RecordingError, match=problem):
        Recording(**kwargs)


# -- NWB --------------------------------------------------------------------------------------------
needs_pynwb = pytest.mark.skipif(importlib.util.find_spec("pynwb") is None, reason="the [nwb] extra provides pynwb")


@needs_pynwb
def test_nwb_round_trip_spikes_loses_nothing(tmp_path) -> None:
    rec = _spikes()
    R.write_nwb(rec, tmp_path / "s.nwb")
    assert R.read_nwb(tmp_path / "s.nwb") == rec


@needs_pynwb
def test_nwb_round_trip_continuous_loses_nothing(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rec = Recording(("x", "y"), data=rng.standard_normal((50, 2)), rate_hz=30.0, start_s=1.5, name="ca",
                    attrs={"unit": "dF/F"})
    R.write_nwb(rec, tmp_path / "c.nwb")
    back = R.read_nwb(tmp_path / "c.nwb")
    assert back == rec and back.data.dtype == np.float64


@needs_pynwb
def test_truncated_nwb_names_the_file(tmp_path) -> None:
    path = tmp_path / "t.nwb"
    R.write_nwb(_spikes(), path)
    raw = path.read_bytes()
    bad = tmp_path / "truncated.nwb"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(R.NWBFormatError, match="truncated.nwb: not a readable NWB file"):
        R.read_nwb(bad)
    with pytest.raises(FileNotFoundError, match="missing.nwb"):
        R.read_nwb(tmp_path / "missing.nwb")


# -- shipped samples ----------------------------------------------------------------------------------
def test_grasshopper_sample_from_nitime() -> None:
    pytest.importorskip("nitime", reason="nitime ships the grasshopper sample")
    spikes, stim = R.grasshopper(1)
    assert spikes.n_channels == 1 and len(spikes.spikes[0]) == 929  # spike count in nitime's file
    assert stim.rate_hz == 20000.0 and stim.n_samples == 200000 and stim.duration_s == pytest.approx(10.0)
    assert 80 < spikes.firing_rates_hz()[0] < 110  # the recording targeted 100 Hz
    # a spike-triggered average of a receptor driven by the stimulus differs from the mean stimulus
    idx = (spikes.spikes[0] * stim.rate_hz).astype(int)
    idx = idx[idx > 200]
    sta = np.mean([stim.data[i - 200:i, 0] for i in idx], axis=0)
    assert np.ptp(sta) > 5 * stim.data[:, 0].std() / np.sqrt(len(idx))


def test_worm_functional_atlas_aligns_to_connectome() -> None:
    pytest.importorskip("cect", reason="the [connectomes] extra ships the atlas")
    pytest.importorskip("h5py")
    from neurocircuits.data import connectome

    worm = connectome("celegans/cook2019_herm")
    atlas = R.worm_functional_atlas("wt")
    assert len(atlas.names) == 300 and atlas.dff.shape == (300, 300)
    aligned = atlas.align(worm.node_names())
    assert aligned.names == tuple(worm.node_names()) and aligned.dff.shape == (302, 302)
    i, j = atlas.names.index("AVAL"), atlas.names.index("AVAR")
    a, b = worm.node_names().index("AVAL"), worm.node_names().index("AVAR")
    assert aligned.n_obs[a, b] == atlas.n_obs[i, j]
    np.testing.assert_equal(aligned.dff[a, b], atlas.dff[i, j])
    assert int((aligned.n_obs > 0).sum()) > 20000  # most measured pairs are connectome neurons


# -- synthetic ground truth ---------------------------------------------------------------------------
def test_glm_planted_couplings_are_recoverable() -> None:
    from sklearn.metrics import roc_auc_score

    rec, truth = R.glm_spikes(n_neurons=12, duration_s=60.0, seed=1)
    counts = rec.binned(0.001).data
    z = counts - counts.mean(0)
    score = sum(z[:-lag].T @ z[lag:] for lag in range(1, 16))  # [pre, post] lagged cross-covariance
    names = list(rec.channels)
    sign = np.zeros_like(score)
    for e in truth.edges:
        sign[names.index(e.source), names.index(e.target)] = e.sign
    off = ~np.eye(len(names), dtype=bool)
    assert truth.n_edges > 5
    assert roc_auc_score(sign[off] == 1, score[off]) > 0.85
    assert roc_auc_score(sign[off] == -1, -score[off]) > 0.85


def test_lif_rates_and_calcium_kernel() -> None:
    rec, truth = R.lif_spikes(n_neurons=8, duration_s=2.0, coupling=0.0, seed=0)
    assert truth.n_edges == 0  # zero coupling plants no edge
    rates = rec.firing_rates_hz()
    assert np.all(rates > 5) and np.all(rates < 200)
    coupled, planted = R.lif_spikes(n_neurons=8, duration_s=2.0, coupling=0.3, density=0.3, seed=0)
    assert planted.n_edges > 0 and all(e.sign in (1, -1) for e in planted.edges)
    one = Recording(("n",), spikes=([0.1],), duration_s=1.0)
    ca = R.calcium_from_spikes(one, rate_hz=100.0, tau_s=0.2, noise=0.0)
    k = int(0.1 * 100)
    np.testing.assert_allclose(ca.data[k:k + 20, 0], np.exp(-np.arange(20) / (100.0 * 0.2)))
    assert ca.data[:k].sum() == 0


@needs_pynwb
def test_read_foreign_nwb_units_and_timeseries(tmp_path) -> None:
    """Files written by plain pynwb (no neurocircuits metadata) still read."""
    from datetime import datetime, timezone

    import pynwb

    nwb = pynwb.NWBFile(session_description="foreign", identifier="x1",
                        session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    nwb.add_unit(spike_times=[0.1, 0.4])
    nwb.add_unit(spike_times=[0.2])
    with pynwb.NWBHDF5IO(str(tmp_path / "units.nwb"), "w") as io:
        io.write(nwb)
    rec = R.read_nwb(tmp_path / "units.nwb")
    assert rec.kind == "spikes" and rec.n_channels == 2
    np.testing.assert_array_equal(rec.spikes[0], [0.1, 0.4])

    nwb = pynwb.NWBFile(session_description="foreign", identifier="x2",
                        session_start_time=datetime(2020, 1, 1, tzinfo=timezone.utc))
    nwb.add_acquisition(pynwb.TimeSeries(name="lfp", data=np.arange(12.0).reshape(6, 2), unit="V", rate=100.0))
    with pynwb.NWBHDF5IO(str(tmp_path / "ts.nwb"), "w") as io:
        io.write(nwb)
    ts = R.read_nwb(tmp_path / "ts.nwb")
    assert ts.kind == "continuous" and ts.rate_hz == 100.0 and ts.channels == ("ch0", "ch1")
    np.testing.assert_array_equal(ts.data[:, 1], [1, 3, 5, 7, 9, 11])
