"""STDP on a projection: Poisson inputs drive one LIF neuron; weights of inputs that fire just before the
neuron are potentiated. Prints the weight distribution before and after."""

import numpy as np

from neurocircuits import sim

net = sim.Network(dt_ms=0.1, seed=1, backend="torch")
inputs = net.add(sim.PoissonGroup(200, rate_hz=15.0))
out = net.add(sim.NeuronGroup(1, "lif", tau_mem_ms=10, v_rest_mv=-70, v_reset_mv=-70, v_thresh_mv=-54))
proj = net.add(sim.Projection(inputs, out, fixed_in_degree=200, weight_mv=1.0, synapse="exp_current",
                              tau_syn_ms=5, plasticity=sim.STDP(a_plus=0.05, a_minus=0.0525, w_max=1.0)))
spikes = net.add(sim.SpikeMonitor(out))
net.run(3000)
w = proj.weights()[2]
print(f"output rate {spikes.num_spikes / 3:.1f} Hz; weights mean {w.mean():.3f}, "
      f"fraction near 0: {np.mean(w < 0.1):.2f}, near w_max: {np.mean(w > 0.9):.2f}")
