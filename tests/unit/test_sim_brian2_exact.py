"""Spike-for-spike agreement with a Brian2 raster (tests/golden/sim_brian2_reference.npz, written by
scripts/make_brian2_reference.py with Brian2 2.9, float64, method='exact')."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from neurocircuits import sim

REF = np.load(Path(__file__).parents[1] / "golden" / "sim_brian2_reference.npz")
META = json.loads(str(REF["meta"]))


def simulate(dtype=torch.float64, method="exact", delay_shift=0, tau_scale=1.0, backend="auto"):
    net = sim.Network(dt_ms=META["dt_ms"], dtype=dtype, backend=backend)
    g = net.add(sim.NeuronGroup(
        META["n"], "lif", method=method, tau_mem_ms=META["tau_mem_ms"] * tau_scale, v_rest_mv=META["v_rest_mv"],
        v_thresh_mv=META["v_thresh_mv"], v_reset_mv=META["v_reset_mv"], refractory_ms=META["refractory_ms"],
        input_current=REF["i_ext_mv"], v_init_mv=REF["v0_mv"]))
    exc = REF["pre"] < META["n_exc"]
    for mask, tau in ((exc, META["tau_e_ms"]), (~exc, META["tau_i_ms"])):
        net.add(sim.Projection(g, g, pre=REF["pre"][mask], post=REF["post"][mask], weight_mv=REF["w_mv"][mask],
                               delay_ms=(REF["delay_steps"][mask] + delay_shift) * META["dt_ms"],
                               synapse="exp_current", tau_syn_ms=tau))
    mon = net.add(sim.SpikeMonitor(g))
    net.run(META["duration_ms"])
    order = np.lexsort((mon.i, mon.steps))
    return mon.steps[order], mon.i[order]


def same_raster(steps, idx):
    return np.array_equal(steps, REF["spike_steps"]) and np.array_equal(idx, REF["spike_neurons"])


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_float64_exact_raster_equals_brian2_spike_for_spike(backend):
    if backend == "numba":
        pytest.importorskip("numba")
    steps, idx = simulate(backend=backend)
    assert REF["spike_steps"].size > 1000
    assert same_raster(steps, idx)


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_float32_same_counts_and_spikes_within_one_step(backend):
    """float32 rounding perturbs the chaotic network: measured here, every spike within one step on the numba
    path; on the torch path one of 2,200 spikes drifts by two steps near t = 976 ms."""
    if backend == "numba":
        pytest.importorskip("numba")
    steps, idx = simulate(dtype=torch.float32, backend=backend)
    ref_counts = np.bincount(REF["spike_neurons"], minlength=META["n"])
    assert np.array_equal(np.bincount(idx, minlength=META["n"]), ref_counts)
    off = []
    for n in range(META["n"]):
        mine, ref = np.sort(steps[idx == n]), np.sort(REF["spike_steps"][REF["spike_neurons"] == n])
        off.append(np.abs(mine - ref))
        assert np.all(np.abs(mine - ref)[ref < 9000] <= 1)  # first 900 ms: within one step
    off = np.concatenate(off)
    assert off.max() <= 2 and np.mean(off <= 1) >= 0.999


@pytest.mark.parametrize("bug", [dict(method="euler"), dict(delay_shift=1), dict(tau_scale=1.1)])
def test_raster_comparison_exposes_typical_simulator_bugs(bug):
    steps, idx = simulate(**bug)
    assert not same_raster(steps, idx)
    n = min(steps.size, REF["spike_steps"].size)
    first = np.nonzero((steps[:n] != REF["spike_steps"][:n]) | (idx[:n] != REF["spike_neurons"][:n]))[0]
    assert first.size == 0 or steps[first[0]] * META["dt_ms"] < 50.0  # caught within 50 ms
