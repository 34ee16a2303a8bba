"""Benchmark: Mackey-Glass one-step prediction with the same 100-unit ESN in neurocircuits and reservoirpy.

Run with the bench venv (reservoirpy installed next to neurocircuits):

    OMP_NUM_THREADS=1 /work/venvs/reservoir/bin/python bench/reservoir.py

Work: Mackey-Glass (tau = 17, sampled every time unit, scaled to [-1, 1]), 2000 training steps
(100 warm-up), 2000 test steps; 100 units, leak 0.3, spectral radius 1.25, ridge 1e-6.
Three runs per repeat: reservoirpy; neurocircuits with its own random weights (same hyper-
parameters); neurocircuits loaded with reservoirpy's exact weights (like-for-like: errors must agree
to numerical precision). Time = fit + predict, median over repeats. Results go to
bench/results/reservoir.json (written atomically).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from neurocircuits.data.generators import mackey_glass  # noqa: E402
from neurocircuits.graph import write_atomic  # noqa: E402
from neurocircuits.layers.reservoir import ESNConfig, EchoStateNetwork  # noqa: E402

N_UNITS, LEAK, SR, RIDGE, WARMUP = 100, 0.3, 1.25, 1e-6, 100
N_TRAIN, N_TEST, REPEATS = 2000, 2000, 21


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    s = mackey_glass(N_TRAIN + N_TEST + 1)
    s = 2 * (s - s.min()) / (s.max() - s.min()) - 1
    X, Y = s[:-1, None], s[1:, None]
    return X[:N_TRAIN], Y[:N_TRAIN], X[N_TRAIN:], Y[N_TRAIN:]


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a).ravel() - np.asarray(b).ravel()) ** 2)))


def run_reservoirpy(seed: int, Xtr, Ytr, Xte, Yte):
    from reservoirpy.nodes import Reservoir, Ridge

    t0 = time.perf_counter()
    res = Reservoir(N_UNITS, lr=LEAK, sr=SR, seed=seed)
    model = res >> Ridge(ridge=RIDGE)
    model.fit(Xtr, Ytr, warmup=WARMUP)
    pred = model.run(Xte)
    dt = time.perf_counter() - t0
    W = res.W.toarray() if hasattr(res.W, "toarray") else np.asarray(res.W)
    Win = res.Win.toarray() if hasattr(res.Win, "toarray") else np.asarray(res.Win)
    return dt, rmse(pred, Yte), (W, Win, float(np.asarray(res.bias).ravel()[0]) if np.ndim(res.bias) else float(res.bias))


def run_neurocircuits(seed: int, Xtr, Ytr, Xte, Yte, weights=None):
    t0 = time.perf_counter()
    esn = EchoStateNetwork(ESNConfig(n_units=N_UNITS, leak_rate=LEAK, spectral_radius=SR, ridge=RIDGE, seed=seed))
    if weights is not None:
        W, Win, b = weights
        esn.set_weights(torch.as_tensor(W), torch.as_tensor(Win), b)
    st = esn.fit(torch.as_tensor(Xtr), torch.as_tensor(Ytr), washout=WARMUP)
    pred, _ = esn(torch.as_tensor(Xte), st)
    dt = time.perf_counter() - t0
    return dt, rmse(pred.numpy(), Yte)


def main() -> None:
    import reservoirpy

    Xtr, Ytr, Xte, Yte = data()
    rows = {"reservoirpy": [], "neurocircuits": [], "neurocircuits_same_weights": []}
    for rep in range(REPEATS):
        seed = 1000 + rep
        t_r, e_r, weights = run_reservoirpy(seed, Xtr, Ytr, Xte, Yte)
        t_n, e_n = run_neurocircuits(seed, Xtr, Ytr, Xte, Yte)
        t_s, e_s = run_neurocircuits(seed, Xtr, Ytr, Xte, Yte, weights)
        rows["reservoirpy"].append((t_r, e_r))
        rows["neurocircuits"].append((t_n, e_n))
        rows["neurocircuits_same_weights"].append((t_s, e_s))
        print(f"repeat {rep}: reservoirpy {t_r:.3f}s rmse {e_r:.5f} | neurocircuits {t_n:.3f}s rmse {e_n:.5f} "
              f"| same weights {t_s:.3f}s rmse {e_s:.5f}", flush=True)
    med = {k: {"time_s": statistics.median(t for t, _ in v), "rmse": statistics.median(e for _, e in v),
               "times_s": [t for t, _ in v], "rmses": [e for _, e in v]} for k, v in rows.items()}
    ref = med["reservoirpy"]
    result = {
        "benchmark": "Mackey-Glass one-step prediction, 100-unit ESN (leak 0.3, sr 1.25, ridge 1e-6)",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
                     "reservoirpy": reservoirpy.__version__},
        "work": {"n_train": N_TRAIN, "n_test": N_TEST, "warmup": WARMUP, "repeats": REPEATS},
        "results": med,
        "ratios": {
            "speedup_vs_reservoirpy": ref["time_s"] / med["neurocircuits"]["time_s"],
            "rmse_ratio_vs_reservoirpy": med["neurocircuits"]["rmse"] / ref["rmse"],
            "speedup_same_weights": ref["time_s"] / med["neurocircuits_same_weights"]["time_s"],
            "rmse_ratio_same_weights": med["neurocircuits_same_weights"]["rmse"] / ref["rmse"],
            "max_rmse_abs_diff_same_weights": max(
                abs(a[1] - b[1]) for a, b in zip(rows["reservoirpy"], rows["neurocircuits_same_weights"])),
        },
    }
    print(json.dumps(result["ratios"], indent=2))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "reservoir.json")
    write_atomic(out, json.dumps(result, indent=2))
    print("wrote", out)


if __name__ == "__main__":
    main()
