"""Ready-made benchmark networks: CUBA and COBA (Vogels & Abbott 2005, as in Brette et al. 2007).

CUBA: 80% excitatory / 20% inhibitory LIF, ``tau_m dv/dt = (v_rest - v) + g_e + g_i`` with
``tau_m = 20 ms``, ``v_rest = -49 mV``, threshold -50 mV, reset -60 mV, refractory 5 ms, exponential
current synapses ``tau_e = 5 ms``, ``tau_i = 10 ms``, weights ``w_e = (60 * 0.27 / 10) mV = 1.62 mV``,
``w_i = -(20 * 4.5 / 10) mV = -9 mV``, connection probability 0.02 (or a fixed in-degree of 80 =
64 excitatory + 16 inhibitory) and initial ``v ~ U(v_reset, v_thresh)`` (Brian2's example).

COBA: same neurons with ``v_rest = -60 mV`` and exponential conductances (``E_e = 0``, ``E_i = -80 mV``,
``w_e = 6 nS``, ``w_i = 67 nS``, ``g_L = 10 nS``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._groups import NeuronGroup
from ._monitors import PopulationRateMonitor, SpikeMonitor
from ._network import Network
from ._projection import Projection


def _v_init(rng: Any, n: int) -> Any:
    return -60.0 + rng.random(n) * 10.0


def build_cuba(n_neurons: int = 4000, connectivity: str = "p", dt_ms: float = 0.1, seed: int = 0,
               device: str = "cpu", dtype: torch.dtype = torch.float32, model: str = "cuba") -> tuple[Network, dict]:
    """The CUBA (``model="cuba"``) or COBA (``model="coba"``) network; returns ``(net, objects)``.

    ``connectivity``: ``"p"`` (p = 80 / n_neurons * ... i.e. 0.02 at 4,000) or ``"fixed_in_degree"`` (80).
    """
    if model not in ("cuba", "coba"):
        raise ValueError(f"model must be 'cuba' or 'coba', got {model!r}.")
    if connectivity not in ("p", "fixed_in_degree"):
        raise ValueError(f"connectivity must be 'p' or 'fixed_in_degree', got {connectivity!r}.")
    if n_neurons < 10:
        raise ValueError("the CUBA/COBA network needs at least 10 neurons.")
    net = Network(dt_ms=dt_ms, seed=seed, device=device, dtype=dtype)
    v_rest = -49.0 if model == "cuba" else -60.0
    neurons = net.add(NeuronGroup(n_neurons, model="lif", name=model, tau_mem_ms=20.0, v_thresh_mv=-50.0,
                                  v_reset_mv=-60.0, v_rest_mv=v_rest, refractory_ms=5.0, v_init_mv=_v_init))
    n_exc = int(n_neurons * 0.8)
    exc, inh = neurons[:n_exc], neurons[n_exc:]
    scale = 4000.0 / n_neurons if connectivity == "p" else 1.0
    if model == "cuba":
        syn_e = dict(synapse="exp_current", tau_syn_ms=5.0, weight_mv=1.62 * scale)
        syn_i = dict(synapse="exp_current", tau_syn_ms=10.0, weight_mv=-9.0 * scale)
    else:
        syn_e = dict(synapse="exp_conductance", tau_syn_ms=5.0, e_rev_mv=0.0, weight_ns=6.0 * scale)
        syn_i = dict(synapse="exp_conductance", tau_syn_ms=10.0, e_rev_mv=-80.0, weight_ns=67.0 * scale)
    if connectivity == "p":
        p = 0.02
        net.add(Projection(exc, neurons, p=p, name="exc", **syn_e))
        net.add(Projection(inh, neurons, p=p, name="inh", **syn_i))
    else:
        net.add(Projection(exc, neurons, fixed_in_degree=64, name="exc", **syn_e))
        net.add(Projection(inh, neurons, fixed_in_degree=16, name="inh", **syn_i))
    spikes = net.add(SpikeMonitor(neurons))
    rate = net.add(PopulationRateMonitor(neurons))
    if model == "coba":  # Brian2's COBA example starts from random conductances (and v ~ N(-55, 5) mV)
        net.build()
        rng = np.random.default_rng(seed + 1)
        neurons.set_synaptic_state("exp_conductance", 5.0, (rng.standard_normal(n_neurons) * 1.5 + 4.0) * 10.0, 0.0)
        neurons.set_synaptic_state("exp_conductance", 10.0, (rng.standard_normal(n_neurons) * 12.0 + 20.0) * 10.0, -80.0)
        neurons.state = neurons.state._replace(v=torch.as_tensor(
            -60.0 + rng.standard_normal(n_neurons) * 5.0 - 5.0, dtype=dtype, device=net.device))
    return net, {"neurons": neurons, "exc": exc, "inh": inh, "spikes": spikes, "rate": rate}
