"""CUBA benchmark: neurocircuits.sim vs Brian2 (cython, cpp_standalone) and NEST, same work, same script.

CUBA (Vogels & Abbott 2005 as in Brette et al. 2007): 1 s of biological time, dt = 0.1 ms, p = 0.02 at
N = 4,000 and a fixed in-degree of 80 (64 exc + 16 inh) beyond. Every (simulator, N, repeat) runs in a
fresh subprocess with OMP_NUM_THREADS=1 (NEST: 1 thread). Timed: the simulation loop only; compilation /
JIT / network construction are reported separately. Both wall time and process CPU time of the timed loop
are recorded (Brian2's cpp_standalone target times its loop with std::clock(), i.e. CPU time, so it is
compared on CPU time; on a shared machine CPU time is also the less load-sensitive figure). Results
(medians) go to bench/results/sim.json, written atomically after each measurement; finished cells are
skipped on a rerun (resume); ``--rerun SIM ...`` measures those simulators again.

BrainPy (JAX, CPU) runs when installed (``pip install brainpy==2.8.2`` in the peer venv).

Run in the peer venv:  OMP_NUM_THREADS=1 /work/venvs/sim/bin/python bench/sim.py --sizes 4000 20000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "sim.json"
SIMULATORS = ("neurocircuits", "neurocircuits_f64", "neurocircuits_torch", "brian2_cython", "brian2_cpp_standalone",
              "nest", "brainpy")
DURATION_MS, DT_MS = 1000.0, 0.1


def connectivity(n: int, seed: int) -> tuple[str, dict]:
    """Same rule for every simulator (each draws its own random instance)."""
    return ("p", {"p": 0.02}) if n <= 4000 else ("fixed_in_degree", {"k_exc": 64, "k_inh": 16})


def explicit_fixed_in_degree(n: int, seed: int) -> tuple[np.ndarray, ...]:
    from neurocircuits.sim._connect import connect_fixed_in_degree

    rng = np.random.default_rng(seed)
    n_exc = int(0.8 * n)
    pe, qe = connect_fixed_in_degree(rng, n_exc, n, 64, autapses=True)
    pi, qi = connect_fixed_in_degree(rng, n - n_exc, n, 16, autapses=True)
    return pe, qe, pi + n_exc, qi


# ------------------------------------------------------------------------------------------ workers
def run_neurocircuits(n: int, seed: int, backend: str, dtype: str = "float32") -> dict:
    import torch

    torch.set_num_threads(1)
    from neurocircuits.sim import build_cuba

    dt = getattr(torch, dtype)
    t0 = time.perf_counter()
    warm, _ = build_cuba(400, connectivity="fixed_in_degree", seed=seed, dtype=dt)  # JIT / cache load, excluded
    warm.backend = backend
    warm.run(10.0)
    compile_s = time.perf_counter() - t0
    rule, _ = connectivity(n, seed)
    t0 = time.perf_counter()
    net, o = build_cuba(n, connectivity=rule, seed=seed, dtype=dt)
    net.backend = backend
    net.build()
    build_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(DURATION_MS, progress=False)
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    n_syn = sum(p.n_synapses for p in net.projections)
    return {"run_s": run_s, "cpu_s": cpu_s, "compile_s": compile_s, "build_s": build_s,
            "spikes": o["spikes"].num_spikes, "n_synapses": n_syn, "backend": net.active_backend(), "dtype": dtype}


def _brian2_net(n: int, seed: int):  # noqa: ANN202
    import brian2 as b2
    from brian2 import mV, ms

    b2.seed(seed)
    b2.defaultclock.dt = DT_MS * ms
    eqs = """dv/dt = (ge + gi - (v - El)) / taum : volt (unless refractory)
             dge/dt = -ge / taue : volt
             dgi/dt = -gi / taui : volt"""
    ns = dict(taum=20 * ms, taue=5 * ms, taui=10 * ms, Vt=-50 * mV, Vr=-60 * mV, El=-49 * mV)
    P = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms, method="exact", namespace=ns)
    P.v = "Vr + rand() * (Vt - Vr)"
    n_exc = int(0.8 * n)
    Ce = b2.Synapses(P, P, on_pre="ge += we", namespace={"we": 1.62 * mV})
    Ci = b2.Synapses(P, P, on_pre="gi += wi", namespace={"wi": -9 * mV})
    rule, _ = connectivity(n, seed)
    if rule == "p":
        Ce.connect("i < n_exc", p=0.02, namespace={"n_exc": n_exc})
        Ci.connect("i >= n_exc", p=0.02, namespace={"n_exc": n_exc})
    else:
        pe, qe, pi, qi = explicit_fixed_in_degree(n, seed)
        Ce.connect(i=pe, j=qe)
        Ci.connect(i=pi, j=qi)
    M = b2.SpikeMonitor(P)
    return b2.Network(P, Ce, Ci, M), M, (Ce, Ci)


def run_brian2_cython(n: int, seed: int) -> dict:
    import brian2 as b2
    from brian2 import ms

    b2.prefs.codegen.target = "cython"
    b2.prefs.codegen.cpp.extra_compile_args_gcc = ["-w", "-O3", "-ffast-math", "-fno-finite-math-only", "-march=native"]
    t0 = time.perf_counter()
    net, M, syns = _brian2_net(n, seed)
    net.run(0.1 * ms)  # compiles (or loads from the cython cache); excluded
    compile_s = time.perf_counter() - t0
    before = M.num_spikes
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(DURATION_MS * ms)
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return {"run_s": run_s, "cpu_s": cpu_s, "compile_s": compile_s, "spikes": int(M.num_spikes - before),
            "n_synapses": int(sum(len(x) for x in syns))}


def run_brian2_standalone(n: int, seed: int) -> dict:
    import brian2 as b2
    from brian2 import ms

    tmp = tempfile.mkdtemp(prefix="b2sa_")
    b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = 0
    net, M, _ = _brian2_net(n, seed)
    net.run(DURATION_MS * ms)
    t0 = time.perf_counter()
    b2.device.build(directory=tmp, compile=True, run=True)
    total = time.perf_counter() - t0
    # Without OpenMP Brian2 times its main loop with std::clock(): process CPU time, not wall time
    # (brian2/devices/cpp_standalone/templates/network.cpp), so it is compared with the others' CPU time.
    cpu_s = float(b2.device._last_run_time)
    return {"run_s": cpu_s, "cpu_s": cpu_s, "compile_s": total - cpu_s, "spikes": int(M.num_spikes),
            "n_synapses": None, "note": "Brian2's own std::clock() timing of the main loop (CPU time); no wall time"}


def run_nest(n: int, seed: int) -> dict:
    import nest

    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.SetKernelStatus({"resolution": DT_MS, "local_num_threads": 1, "rng_seed": seed + 1})
    c_m, tau_m = 250.0, 20.0
    scale = c_m / tau_m  # mV of the Brian2 equations -> pA jumps of iaf_psc_exp
    t0 = time.perf_counter()
    P = nest.Create("iaf_psc_exp", n, params={"C_m": c_m, "tau_m": tau_m, "E_L": -49.0, "V_th": -50.0,
                                              "V_reset": -60.0, "t_ref": 5.0, "tau_syn_ex": 5.0, "tau_syn_in": 10.0,
                                              "I_e": 0.0})
    rng = np.random.default_rng(seed)
    P.V_m = list(-60.0 + 10.0 * rng.random(n))
    n_exc = int(0.8 * n)
    E, inh = P[:n_exc], P[n_exc:]
    rule, _ = connectivity(n, seed)
    if rule == "p":
        conn = {"rule": "pairwise_bernoulli", "p": 0.02}
        nest.Connect(E, P, conn, {"weight": 1.62 * scale, "delay": DT_MS})
        nest.Connect(inh, P, conn, {"weight": -9.0 * scale, "delay": DT_MS})
    else:
        nest.Connect(E, P, {"rule": "fixed_indegree", "indegree": 64}, {"weight": 1.62 * scale, "delay": DT_MS})
        nest.Connect(inh, P, {"rule": "fixed_indegree", "indegree": 16}, {"weight": -9.0 * scale, "delay": DT_MS})
    rec = nest.Create("spike_recorder")
    nest.Connect(P, rec)
    nest.Simulate(DT_MS)  # prepares the connection infrastructure; excluded
    compile_s = time.perf_counter() - t0
    before = rec.n_events
    t0, c0 = time.perf_counter(), time.process_time()
    nest.Simulate(DURATION_MS)
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return {"run_s": run_s, "cpu_s": cpu_s, "compile_s": compile_s, "spikes": int(rec.n_events - before),
            "n_synapses": int(nest.GetKernelStatus("num_connections")) - n, "note": "delay 0.1 ms (NEST minimum)"}


def run_brainpy(n: int, seed: int) -> dict:
    """BrainPy 2.8 (JAX on CPU, float32, XLA told to use one thread): LifRefLTC + Expon/CUBA projections."""
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    import brainpy as bp
    import brainpy.math as bm

    bm.set_platform("cpu")
    bm.set_dt(DT_MS)
    bm.random.seed(seed)
    n_exc = int(0.8 * n)
    rule, _ = connectivity(n, seed)
    if rule == "p":
        rng = np.random.default_rng(seed)
        pe, qe = np.nonzero(rng.random((n_exc, n)) < 0.02)
        pi, qi = np.nonzero(rng.random((n - n_exc, n)) < 0.02)
        pi = pi + n_exc
    else:
        pe, qe, pi, qi = explicit_fixed_in_degree(n, seed)

    def projection(pre, post, w, tau, target):  # noqa: ANN001, ANN202
        return bp.dyn.FullProjAlignPost(
            pre=target, delay=None, comm=bp.dnn.EventCSRLinear(bp.conn.IJConn(pre, post)(pre_size=n, post_size=n), w),
            syn=bp.dyn.Expon(n, tau=tau), out=bp.dyn.CUBA(), post=target)

    class Cuba(bp.DynSysGroup):
        def __init__(self) -> None:
            super().__init__()
            self.N = bp.dyn.LifRefLTC(n, V_rest=-49.0, V_th=-50.0, V_reset=-60.0, tau=20.0, tau_ref=5.0,
                                      V_initializer=bp.init.Uniform(-60.0, -50.0))
            self.E = projection(pe, qe, 1.62, 5.0, self.N)
            self.I = projection(pi, qi, -9.0, 10.0, self.N)

        def update(self):  # noqa: ANN202
            self.E()
            self.I()
            self.N()
            return self.N.spike.value.sum()

    t0 = time.perf_counter()
    net = Cuba()
    n_steps = int(round(DURATION_MS / DT_MS))
    idx = np.arange(n_steps)
    np.asarray(bm.for_loop(net.step_run, idx, progress_bar=False))  # traces + compiles, runs the first second
    compile_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    counts = np.asarray(bm.for_loop(net.step_run, idx + n_steps, progress_bar=False))
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return {"run_s": run_s, "cpu_s": cpu_s, "compile_s": compile_s, "spikes": int(counts.sum()),
            "n_synapses": int(len(pe) + len(pi)),
            "note": "float32; the second simulated second is timed (the first one includes JIT compilation)"}


WORKERS = {
    "neurocircuits": lambda n, s: run_neurocircuits(n, s, "numba"),
    "neurocircuits_f64": lambda n, s: run_neurocircuits(n, s, "numba", "float64"),
    "neurocircuits_torch": lambda n, s: run_neurocircuits(n, s, "torch"),
    "brian2_cython": run_brian2_cython,
    "brian2_cpp_standalone": run_brian2_standalone,
    "nest": run_nest,
    "brainpy": run_brainpy,
}


# ------------------------------------------------------------------------------------------ driver
def versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("numpy", "torch", "numba", "brian2", "nest", "brainpy", "jax"):
        try:
            m = __import__(mod)
            out[mod] = getattr(m, "__version__", None) or str(getattr(m, "version", lambda: "?")())
        except Exception as err:  # noqa: BLE001
            out[mod] = f"not importable ({type(err).__name__})"
    return out


def write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4000, 20000])
    ap.add_argument("--simulators", nargs="+", default=list(SIMULATORS), choices=SIMULATORS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout-s", type=float, default=1800)
    ap.add_argument("--fresh", action="store_true", help="ignore earlier results")
    ap.add_argument("--rerun", nargs="+", default=[], choices=SIMULATORS,
                    help="measure these simulators again (drop their earlier cells; the others resume)")
    ap.add_argument("--worker", nargs=3, metavar=("SIM", "N", "SEED"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        sim_name, n, seed = args.worker[0], int(args.worker[1]), int(args.worker[2])
        print("RESULT " + json.dumps(WORKERS[sim_name](n, seed)))
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    data = {} if args.fresh or not RESULTS.exists() else json.loads(RESULTS.read_text())
    data.update({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "machine": {"platform": platform.platform(), "processor": platform.processor(),
                             "cpu_count": os.cpu_count()},
                 "versions": versions(), "duration_ms": DURATION_MS, "dt_ms": DT_MS, "threads": 1})
    cells = data.setdefault("cells", {})
    for key in [k for k, c in cells.items() if k.split("@")[0] in args.rerun and int(k.split("@")[1]) in args.sizes]:
        del cells[key]
    failed: set[str] = set()
    for n in args.sizes:
        n_rep = 1 if n >= 100000 else args.repeats
        for _r in range(n_rep):  # repeats outer, simulators inner: load changes hit every simulator alike
            for sim_name in args.simulators:
                key = f"{sim_name}@{n}"
                reps = cells.get(key, {}).get("repeats", [])
                if key in failed or len(reps) >= n_rep:
                    continue
                seed = args.seed + len(reps)
                try:
                    proc = subprocess.run([sys.executable, __file__, "--worker", sim_name, str(n), str(seed)],
                                          capture_output=True, text=True, env=env, timeout=args.timeout_s)
                    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                    if not line:
                        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no output")
                    res = json.loads(line[-1][7:])
                except Exception as err:  # noqa: BLE001
                    cells[key] = {**cells.get(key, {}), "error": f"{type(err).__name__}: {err}"[:400]}
                    failed.add(key)
                    write_atomic(RESULTS, data)
                    print(f"{key}: failed ({err})", flush=True)
                    continue
                res["load_1min"] = os.getloadavg()[0]  # the machine is shared: say how busy it was
                res["measured_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
                reps.append(res)
                runs = [x["run_s"] for x in reps]
                spikes = statistics.median(x["spikes"] for x in reps)
                syn = next((x["n_synapses"] for x in reps if x.get("n_synapses")), None)
                events = spikes * (syn / n if syn else 80)
                cpus = [x["cpu_s"] for x in reps if "cpu_s" in x]
                cells[key] = {"simulator": sim_name, "n_neurons": n, "connectivity": connectivity(n, 0)[0],
                              "repeats": reps, "run_s_median": statistics.median(runs),
                              "cpu_s_median": statistics.median(cpus) if len(cpus) == len(reps) else None,
                              "compile_s_median": statistics.median(x["compile_s"] for x in reps),
                              "rate_hz": spikes / n / (DURATION_MS / 1000),
                              "synaptic_events_per_s": events / statistics.median(runs)}
                write_atomic(RESULTS, data)
                print(f"{key}: run {res['run_s']:.3f} s, compile {res['compile_s']:.2f} s, "
                      f"rate {res['spikes'] / n:.2f} Hz", flush=True)
    ratios = {}  # wall time; Brian2 standalone reports CPU time only, so it appears in the CPU ratios alone
    for n in sorted({c["n_neurons"] for c in cells.values() if "n_neurons" in c}):
        ours = cells.get(f"neurocircuits@{n}", {}).get("run_s_median")
        for sim_name in [x for x in SIMULATORS[1:] if x != "brian2_cpp_standalone"]:
            peer = cells.get(f"{sim_name}@{n}", {}).get("run_s_median")
            if ours and peer:
                ratios[f"{sim_name}@{n}"] = peer / ours
    data["speedup_of_neurocircuits_over"] = ratios
    cpu_ratios = {}  # process CPU time of the timed loop (all but the earlier NEST-at-100k run): less load-sensitive
    for n in sorted({c["n_neurons"] for c in cells.values() if "n_neurons" in c}):
        ours = cells.get(f"neurocircuits@{n}", {}).get("cpu_s_median")
        for sim_name in SIMULATORS[1:]:
            peer = cells.get(f"{sim_name}@{n}", {}).get("cpu_s_median")
            if ours and peer:
                cpu_ratios[f"{sim_name}@{n}"] = peer / ours
    data["cpu_time_speedup_of_neurocircuits_over"] = cpu_ratios
    write_atomic(RESULTS, data)
    print("\npeer time / neurocircuits time (>1: we are faster), wall and CPU:")
    for k in sorted(set(ratios) | set(cpu_ratios)):
        wall, cpu = ratios.get(k), cpu_ratios.get(k)
        print(f"  {k:32s} wall {wall if wall else float('nan'):6.2f}x  cpu {cpu if cpu else float('nan'):6.2f}x")


if __name__ == "__main__":
    main()
