"""Network behaviour: CUBA rate regime, delays, STDP window, connectivity, monitors, errors, reproducibility."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from neurocircuits import sim
from neurocircuits.functional.plasticity import STDPParams, stdp_window
from neurocircuits.graph import CircuitGraph
from neurocircuits.sim.cuba import build_cuba


def test_cuba_fires_in_the_published_asynchronous_irregular_regime():
    net, o = build_cuba(4000, connectivity="fixed_in_degree", seed=0)
    net.run(1000)
    rate = o["spikes"].num_spikes / 4000
    assert 5.0 <= rate <= 5.4  # 5.2 +- 0.1 Hz measured with Brian2/NEST/BrainPy
    trains = [t for t in o["spikes"].spike_trains() if t.size > 3]
    cv = np.mean([np.std(np.diff(t)) / np.mean(np.diff(t)) for t in trains])
    assert cv > 0.5  # irregular firing
    net2, o2 = build_cuba(4000, connectivity="p", seed=0, dtype=torch.float64)
    net2.run(1000)
    assert 5.3 <= o2["spikes"].num_spikes / 4000 <= 5.9  # classic p = 0.02: 5.6 Hz


def test_seeded_run_is_bit_for_bit_reproducible_and_backends_agree_in_float64():
    runs = []
    for backend, seed in (("numba", 3), ("numba", 3), ("torch", 3), ("numba", 4)):
        net, o = build_cuba(400, connectivity="fixed_in_degree", seed=seed, dtype=torch.float64)
        net.backend = backend
        net.run(200)
        runs.append((o["spikes"].steps.copy(), o["spikes"].i.copy(), o["neurons"].state.v.numpy().copy()))
    for a, b in zip(runs[0], runs[1]):
        assert np.array_equal(a, b)
    order0, order2 = np.lexsort((runs[0][1], runs[0][0])), np.lexsort((runs[2][1], runs[2][0]))
    assert np.array_equal(runs[0][0][order0], runs[2][0][order2]) and np.array_equal(runs[0][1][order0], runs[2][1][order2])
    assert not np.array_equal(runs[0][1], runs[3][1])


def test_state_monitor_gives_the_same_trace_on_both_backends():
    traces = []
    for backend in ("torch", "numba"):
        net, o = build_cuba(400, connectivity="fixed_in_degree", seed=5, dtype=torch.float64)
        net.backend = backend
        v = net.add(sim.StateMonitor(o["neurons"], "v", record=[0, 7, 399], every_ms=0.5))
        g = net.add(sim.StateMonitor(o["neurons"], "g_exp_current_5", record=[3]))
        assert net.active_backend() == backend
        net.run(50)
        net.run(25)
        traces.append((v.values.numpy(), g.values.numpy(), v.t_ms))
    assert traces[0][0].shape == (150, 3) and traces[0][1].shape == (750, 1)
    for a, b in zip(traces[0], traces[1]):
        assert np.array_equal(a, b)


def test_heterogeneous_delays_arrive_exactly_on_time():
    net = sim.Network(dt_ms=0.1, dtype=torch.float64, backend="torch")
    src = net.add(sim.SpikeGeneratorGroup(1, indices=[0], times_ms=[1.0]))
    tgt = net.add(sim.NeuronGroup(3, "lif", v_thresh_mv=0.0, tau_mem_ms=1e9))
    net.add(sim.Projection(src, tgt, pre=[0, 0, 0], post=[0, 1, 2], weight_mv=2.0, delay_ms=[0.0, 0.5, 2.3],
                           synapse="delta_current"))
    v = net.add(sim.StateMonitor(tgt, "v"))
    net.run(5.0)
    jump_step = np.argmax(v.values.numpy() > -59.0, axis=0)
    assert list(jump_step) == [10, 15, 33]  # spike at step 10, delays of 0, 5 and 23 steps


def test_alpha_synapse_peaks_at_its_weight_after_tau():
    net = sim.Network(dt_ms=0.01, dtype=torch.float64)
    src = net.add(sim.SpikeGeneratorGroup(1, indices=[0], times_ms=[0.0]))
    tgt = net.add(sim.NeuronGroup(1, "lif", v_thresh_mv=0.0))
    net.add(sim.Projection(src, tgt, pre=[0], post=[0], weight_mv=3.0, synapse="alpha_current", tau_syn_ms=2.0))
    g = net.add(sim.StateMonitor(tgt, "g_alpha_current_2"))
    net.run(10.0)
    trace = g.values[:, 0].numpy()
    assert trace.max() == pytest.approx(3.0, rel=1e-3) and g.t_ms[trace.argmax()] == pytest.approx(2.0, abs=0.02)


@pytest.mark.parametrize("delta_t_ms", [-30.0, -10.0, -2.0, 2.0, 10.0, 30.0])
def test_stdp_weight_change_follows_the_exponential_window(delta_t_ms):
    rule = sim.STDP(tau_plus_ms=20.0, tau_minus_ms=20.0, a_plus=0.01, a_minus=0.012, w_min=0.0, w_max=1.0)
    net = sim.Network(dt_ms=0.1, dtype=torch.float64)
    t_pre, t_post = 50.0, 50.0 + delta_t_ms
    pre = net.add(sim.SpikeGeneratorGroup(1, [0], [t_pre]))
    kick = net.add(sim.SpikeGeneratorGroup(1, [0], [t_post - 0.1]))  # makes the target fire at t_post
    tgt = net.add(sim.NeuronGroup(1, "lif", refractory_ms=2.0))
    net.add(sim.Projection(kick, tgt, pre=[0], post=[0], weight_mv=100.0, synapse="delta_current"))
    proj = net.add(sim.Projection(pre, tgt, pre=[0], post=[0], weight_mv=0.5, plasticity=rule, synapse="delta_current"))
    spikes = net.add(sim.SpikeMonitor(tgt))
    net.run(120.0)
    assert spikes.t_ms.tolist() == pytest.approx([t_post])
    dw = proj.weights()[2][0] - 0.5
    expect = float(stdp_window(torch.tensor(delta_t_ms, dtype=torch.float64), STDPParams(20.0, 20.0, 0.01, 0.012)))
    assert dw == pytest.approx(expect, rel=1e-9)


def test_multiplicative_and_triplet_rules_move_weights_in_the_right_direction():
    for rule in (sim.STDP(rule="multiplicative", a_plus=0.1, a_minus=0.1), sim.TripletSTDP(a3_plus=0.05)):
        net = sim.Network(dt_ms=0.1, dtype=torch.float64)
        pre = net.add(sim.SpikeGeneratorGroup(1, [0] * 5, [10, 30, 50, 70, 90]))
        kick = net.add(sim.SpikeGeneratorGroup(1, [0] * 5, [15, 35, 55, 75, 95]))
        tgt = net.add(sim.NeuronGroup(1, "lif", refractory_ms=2.0))
        net.add(sim.Projection(kick, tgt, pre=[0], post=[0], weight_mv=100.0, synapse="delta_current"))
        proj = net.add(sim.Projection(pre, tgt, pre=[0], post=[0], weight_mv=0.5, plasticity=rule, synapse="delta_current"))
        net.run(100.0)
        assert 0.5 < proj.weights()[2][0] <= 1.0  # pre-before-post: potentiation, bounded


def test_connectivity_rules():
    net = sim.Network()
    a = net.add(sim.NeuronGroup(50, "lif"))
    b = net.add(sim.NeuronGroup(40, "lif"))
    kw = dict(weight_mv=1.0, synapse="delta_current")
    p_in = net.add(sim.Projection(a, b, fixed_in_degree=7, **kw))
    p_out = net.add(sim.Projection(a, b, fixed_out_degree=5, **kw))
    p_self = net.add(sim.Projection(a, a, p=0.3, **kw))
    p_one = net.add(sim.Projection(a[:40], b, one_to_one=True, **kw))
    m = sp.random(50, 40, density=0.1, random_state=0, format="csr")
    m.data -= 0.5
    p_mat = net.add(sim.Projection(a, b, matrix=m, weight_mv=None, synapse="exp_current", tau_syn_ms=5.0))
    g = CircuitGraph()
    for k in range(3):
        g.add_node(f"n{k}")
    g.add_edge("n0", "n1", weight=2.0)
    g.add_edge("n1", "n2", weight=3.0, sign=-1)
    c = net.add(sim.NeuronGroup(3, "lif"))
    p_graph = net.add(sim.Projection(c, c, graph=g, synapse="exp_current", tau_syn_ms=5.0))
    net.build()
    pre, post, _ = p_in.weights()
    assert np.all(np.bincount(post, minlength=40) == 7)
    assert np.all(np.bincount(p_out.weights()[0], minlength=50) == 5)
    pre, post, _ = p_self.weights()
    assert not np.any(pre == post) and abs(pre.size / (50 * 49) - 0.3) < 0.05
    pre, post, _ = p_one.weights()
    assert np.array_equal(pre, post) and pre.size == 40
    pre, post, w = p_mat.weights()
    dense = np.zeros((50, 40))
    dense[pre, post] = w
    assert np.allclose(dense, m.toarray(), atol=1e-6)
    assert sorted(zip(*[x.tolist() for x in p_graph.weights()])) == [(0, 1, 2.0), (1, 2, -3.0)]
    with pytest.raises(sim.ConnectivityError, match="exactly one"):
        sim.Projection(a, b, p=0.1, fixed_in_degree=3, weight_mv=1.0)


def test_gap_junctions_pull_potentials_together():
    net = sim.Network(dt_ms=0.1, dtype=torch.float64)
    g = net.add(sim.NeuronGroup(2, "lif", input_current=[0.0, 8.0], v_thresh_mv=0.0))
    sim.GapJunction(g, weight=1.0, pre=[0], post=[1])
    net.run(500)
    v = g.state.v.numpy()
    # steady state: u0 = g(u1 - u0), u1 = 8 + g(u0 - u1) with g = 1 -> u0 = 8/3, u1 = 16/3
    assert v == pytest.approx([-60 + 8 / 3, -60 + 16 / 3], abs=1e-6)


def test_monitors_tables_memory_budget_and_divergence_errors():
    net, o = build_cuba(400, connectivity="fixed_in_degree")
    big = net.add(sim.StateMonitor(o["neurons"], "v", record=True, max_bytes=1000))
    with pytest.raises(sim.MonitorMemoryError, match="MiB"):
        net.run(100)
    net, o = build_cuba(400, connectivity="fixed_in_degree")
    vm = net.add(sim.StateMonitor(o["exc"], "v", record=range(3), every_ms=1.0))
    net.run(50)
    table = o["spikes"].to_table()
    assert set(table) == {"population", "neuron", "t_ms"} and len(table["t_ms"]) == o["spikes"].num_spikes
    assert vm.values.shape == (50, 3) and len(vm.to_table()["v"]) == 150
    assert o["rate"].rate_hz.shape == (500,)
    assert float(o["rate"].rate_hz.mean()) == pytest.approx(o["spikes"].num_spikes / 400 / 0.05, rel=1e-9)
    del big

    net = sim.Network(dt_ms=0.5)  # forward Euler far beyond its stability limit for Hodgkin-Huxley
    net.add(sim.NeuronGroup(5, "hh", name="squid", method="euler", input_current=10.0))
    with pytest.raises(sim.SimulationDivergedError, match="squid.*diverged at step 10 ") as err:
        net.run(50)
    assert err.value.population == "squid" and err.value.step == 10 and err.value.time_ms == 5.0
    net = sim.Network(dt_ms=0.1, backend="numba")  # float32 overflow on the fast path
    drive = net.add(sim.NeuronGroup(100, "lif", input_current=20.0, name="drive"))
    sink = net.add(sim.NeuronGroup(10, "lif", name="sink"))
    net.add(sim.Projection(drive, sink, p=1.0, weight_mv=1e37, synapse="exp_current", tau_syn_ms=5.0))
    with pytest.raises(sim.SimulationDivergedError, match="sink.*diverged by step") as err:
        net.run(100)
    assert err.value.population == "sink" and err.value.step <= 16 * (1 + 200 // 16)
    net = sim.Network(dt_ms=0.1, max_rate_hz=300)
    net.add(sim.NeuronGroup(5, "lif", name="hot", input_current=1e4))
    with pytest.raises(sim.SimulationDivergedError, match="hot.*ran away"):
        net.run(200)
    with pytest.raises(ValueError, match="tau_mem_ms must be positive"):
        sim.NeuronGroup(3, "lif", tau_mem_ms=-1)
    with pytest.raises(ValueError, match="unknown parameter"):
        sim.NeuronGroup(3, "lif", tau_ms=10)
    with pytest.raises(KeyError, match="Did you mean"):
        sim.NeuronGroup(3, "lifx")


def test_coba_runs_in_a_sustained_regime():
    net, o = build_cuba(1000, connectivity="fixed_in_degree", model="coba")
    net.run(200)
    rate = o["spikes"].num_spikes / 1000 / 0.2
    assert 2.0 < rate < 60.0 and math.isfinite(float(o["neurons"].state.v.sum()))


def test_coba_backends_agree_statistically_and_alpha_conductance_peaks_at_weight():
    rates = []
    for backend in ("torch", "numba"):
        net, o = build_cuba(1000, connectivity="fixed_in_degree", model="coba", seed=3, dtype=torch.float64)
        net.backend = backend
        net.run(200)
        rates.append(o["spikes"].num_spikes / 1000 / 0.2)
    assert abs(rates[0] - rates[1]) < 0.15 * rates[0]
    net = sim.Network(dt_ms=0.01, dtype=torch.float64)
    src = net.add(sim.SpikeGeneratorGroup(1, indices=[0], times_ms=[0.0]))
    tgt = net.add(sim.NeuronGroup(1, "lif", v_thresh_mv=0.0))
    net.add(sim.Projection(src, tgt, pre=[0], post=[0], weight_ns=4.0, synapse="alpha_conductance",
                           tau_syn_ms=3.0, e_rev_mv=0.0))
    g = net.add(sim.StateMonitor(tgt, "g_alpha_conductance_3"))
    v = net.add(sim.StateMonitor(tgt, "v"))
    net.run(20.0)
    assert g.values.max().item() == pytest.approx(4.0, rel=1e-3)
    assert v.values.max().item() > -60.0  # an excitatory conductance depolarises
