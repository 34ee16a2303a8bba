"""The numba fast path against the torch path on a network that exercises every branch of its kernel.

The kernel specialises on what it is given (parameters equal over the network arrive as scalars, varying
ones as per-neuron arrays; uniform weights and delays are one number per pathway) and visits neurons in
blocks; none of that may change a single bit. Here: two populations with different parameters (one with a
per-neuron membrane time constant and drive, the other with soft reset), exponential/alpha/delta current
and exponential conductance synapses, heterogeneous and uniform delays, a projection from a subgroup, more
neurons than one block, and a monitor on each population.
"""

import numpy as np
import pytest
import torch

from neurocircuits import sim

pytest.importorskip("numba")


def mixed_network(backend: str, alpha_and_conductance: bool, dtype: torch.dtype = torch.float64) -> tuple:
    rng = np.random.default_rng(0)
    net = sim.Network(dt_ms=0.1, dtype=dtype, seed=5, backend=backend)
    n_a = 8300  # more than one kernel block (8192 neurons)
    a = net.add(sim.NeuronGroup(n_a, "lif", name="a", tau_mem_ms=rng.uniform(10, 30, n_a), v_rest_mv=-49.0,
                                input_current=rng.uniform(0.0, 2.0, n_a), refractory_ms=2.0,
                                v_init_mv=lambda r, n: -60 + 10 * r.random(n)))
    b = net.add(sim.NeuronGroup(300, "lif", name="b", tau_mem_ms=15.0, v_rest_mv=-45.0, reset="soft",
                                v_init_mv=lambda r, n: -60 + 10 * r.random(n)))
    net.add(sim.Projection(a, [a, b], fixed_in_degree=8, weight_mv=0.8, synapse="exp_current", tau_syn_ms=5.0,
                           delay_ms=lambda r, n: r.integers(0, 30, n) * 0.1))
    net.add(sim.Projection(b, b, p=0.05, weight_mv=0.5, synapse="delta_current", delay_ms=0.5))
    if alpha_and_conductance:
        net.add(sim.Projection(b, a, p=0.01, weight_mv=lambda r, n: -r.uniform(1.0, 3.0, n), synapse="alpha_current",
                               tau_syn_ms=4.0, delay_ms=1.0))
        net.add(sim.Projection(a[:100], b, p=0.1, weight_ns=3.0, synapse="exp_conductance", tau_syn_ms=5.0,
                               e_rev_mv=0.0))
    else:
        net.add(sim.Projection(b, a, p=0.01, weight_mv=lambda r, n: -r.uniform(1.0, 3.0, n), synapse="exp_current",
                               tau_syn_ms=10.0, delay_ms=1.0))
    mons = [net.add(sim.SpikeMonitor(a)), net.add(sim.SpikeMonitor(b))]
    assert net.active_backend() == backend
    net.run(60.0)
    return net, mons


def same_rasters(nets: dict) -> None:
    for m_t, m_n in zip(nets["torch"][1], nets["numba"][1]):
        assert m_t.num_spikes > 100  # both populations are active
        o_t, o_n = np.lexsort((m_t.i, m_t.steps)), np.lexsort((m_n.i, m_n.steps))
        assert np.array_equal(m_t.steps[o_t], m_n.steps[o_n]) and np.array_equal(m_t.i[o_t], m_n.i[o_n])


def test_fast_kernel_gives_the_torch_raster_and_state_bit_for_bit_with_current_synapses():
    nets = {bk: mixed_network(bk, alpha_and_conductance=False) for bk in ("torch", "numba")}
    same_rasters(nets)
    for g_t, g_n in zip(nets["torch"][0].groups, nets["numba"][0].groups):
        assert torch.equal(g_t.state.v, g_n.state.v)
        assert torch.equal(g_t.state.refractory_left_ms, g_n.state.refractory_left_ms)
        for c_t, c_n in zip(g_t.channels.values(), g_n.channels.values()):
            assert torch.equal(c_t.buffer, c_n.buffer)
            if c_t.g is not None:
                assert torch.equal(c_t.g, c_n.g)


def test_fast_kernel_with_alpha_and_conductance_synapses_gives_the_torch_raster():
    """Same raster; state equal to rounding only: torch's ``add_(x, alpha=a)`` and its vectorised ``exp`` may
    round differently from ``a * x`` and libm's ``exp`` (measured here: a few 1e-14 mV)."""
    nets = {bk: mixed_network(bk, alpha_and_conductance=True) for bk in ("torch", "numba")}
    same_rasters(nets)
    for g_t, g_n in zip(nets["torch"][0].groups, nets["numba"][0].groups):
        torch.testing.assert_close(g_t.state.v, g_n.state.v, rtol=0, atol=1e-10)
        for c_t, c_n in zip(g_t.channels.values(), g_n.channels.values()):
            if c_t.g is not None:
                torch.testing.assert_close(c_t.g, c_n.g, rtol=0, atol=1e-10)
