"""Simulate the CUBA network (Vogels & Abbott 2005) for one second and print its statistics.

    OMP_NUM_THREADS=1 python examples/simulate_cuba.py
"""

from neurocircuits import sim

net = sim.Network(dt_ms=0.1, seed=0)
neurons = net.add(sim.NeuronGroup(4000, model="lif", name="cuba", tau_mem_ms=20, v_rest_mv=-49, v_thresh_mv=-50,
                                  v_reset_mv=-60, refractory_ms=5, v_init_mv=lambda rng, n: -60 + 10 * rng.random(n)))
exc, inh = neurons[:3200], neurons[3200:]
net.add(sim.Projection(exc, neurons, p=0.02, weight_mv=1.62, synapse="exp_current", tau_syn_ms=5))
net.add(sim.Projection(inh, neurons, p=0.02, weight_mv=-9.0, synapse="exp_current", tau_syn_ms=10))
spikes = net.add(sim.SpikeMonitor(neurons))
v = net.add(sim.StateMonitor(exc, "v", record=range(5)))
print("backend:", net.active_backend())
net.run(1000)  # ms
stats = sim.spike_statistics(spikes.t_ms, spikes.i, 4000, 1000.0)
print(f"{stats['spike_count']} spikes, {stats['rate_hz']:.2f} Hz, CV ISI {stats['cv_isi']:.2f}; v samples {tuple(v.values.shape)}")
