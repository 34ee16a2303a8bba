"""Write tests/golden/sim_brian2_reference.npz: a spike raster computed by Brian2 (float64, exact).

Run in the separate peer venv (Brian2 is not a dependency of neurocircuits):

    /work/venvs/sim/bin/python scripts/make_brian2_reference.py

The network has explicit connectivity, delays, external drives and initial potentials (no random
stream is used at simulation time), so any simulator with the same update order must reproduce the
raster spike for spike: 100 LIF neurons (80 exc / 20 inh), exponential current synapses
(tau_e = 5 ms, tau_i = 10 ms), heterogeneous delays 0-3 ms, refractory 5 ms, 1 s at dt = 0.1 ms.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden" / "sim_brian2_reference.npz"


def network_spec(seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    n, n_exc, k = 100, 80, 10  # each neuron receives k synapses
    post = np.repeat(np.arange(n), k)
    pre = np.concatenate([rng.choice(np.setdiff1d(np.arange(n), [j]), k, replace=False) for j in range(n)])
    exc = pre < n_exc
    w = np.where(exc, 1.2, -3.0)                          # mV
    delay_steps = rng.integers(0, 31, size=pre.size)       # 0 .. 3 ms
    return dict(
        n=n, n_exc=n_exc, pre=pre, post=post, w_mv=w, delay_steps=delay_steps,
        v0_mv=-60.0 + 10.0 * rng.random(n), i_ext_mv=rng.uniform(8.0, 16.0, n),
        tau_mem_ms=20.0, tau_e_ms=5.0, tau_i_ms=10.0, v_rest_mv=-60.0, v_thresh_mv=-50.0,
        v_reset_mv=-60.0, refractory_ms=5.0, dt_ms=0.1, duration_ms=1000.0,
    )


def main() -> None:
    import brian2 as b2
    from brian2 import mV, ms

    b2.prefs.codegen.target = "numpy"
    b2.prefs.core.default_float_dtype = np.float64
    s = network_spec()
    b2.defaultclock.dt = s["dt_ms"] * ms
    eqs = """
    dv/dt = (El + I_ext - v + ge + gi) / taum : volt (unless refractory)
    dge/dt = -ge / taue : volt
    dgi/dt = -gi / taui : volt
    I_ext : volt
    """
    ns = dict(El=s["v_rest_mv"] * mV, taum=s["tau_mem_ms"] * ms, taue=s["tau_e_ms"] * ms, taui=s["tau_i_ms"] * ms,
              Vt=s["v_thresh_mv"] * mV, Vr=s["v_reset_mv"] * mV)
    G = b2.NeuronGroup(s["n"], eqs, threshold="v > Vt", reset="v = Vr", refractory=s["refractory_ms"] * ms,
                       method="exact", namespace=ns)
    G.v = s["v0_mv"] * mV
    G.I_ext = s["i_ext_mv"] * mV
    exc = s["pre"] < s["n_exc"]
    syns = []
    for mask, var in ((exc, "ge"), (~exc, "gi")):
        S = b2.Synapses(G, G, "w : volt", on_pre=f"{var} += w")
        S.connect(i=s["pre"][mask], j=s["post"][mask])
        S.w = s["w_mv"][mask] * mV
        S.delay = s["delay_steps"][mask] * s["dt_ms"] * ms
        syns.append(S)
    M = b2.SpikeMonitor(G)
    net = b2.Network(G, *syns, M)
    net.run(s["duration_ms"] * ms)
    steps = np.round(np.asarray(M.t / ms) / s["dt_ms"]).astype(np.int64)
    idx = np.asarray(M.i, dtype=np.int64)
    order = np.lexsort((idx, steps))
    scalars = {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
    np.savez_compressed(
        OUT, pre=s["pre"], post=s["post"], w_mv=s["w_mv"], delay_steps=s["delay_steps"], v0_mv=s["v0_mv"],
        i_ext_mv=s["i_ext_mv"], spike_steps=steps[order], spike_neurons=idx[order],
        meta=json.dumps({**scalars, "brian2": b2.__version__, "python": sys.version.split()[0],
                         "codegen_target": "numpy", "dtype": "float64"}),
    )
    print(f"wrote {OUT}: {idx.size} spikes, mean rate {idx.size / s['n'] / s['duration_ms'] * 1e3:.2f} Hz")


if __name__ == "__main__":
    main()
