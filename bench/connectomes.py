"""Benchmark (row 47): Fly-CL vs a RanPAC-style dense random expansion, class-incremental digits.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/connectomes.py [--splits 5] [--repeats 3]``

Work: sklearn digits through a frozen random CNN (:func:`random_conv_features`, 512 features),
70/30 stratified train/test split per seed, classes arriving two per task (5 tasks). Every pipeline
absorbs each task once (``partial_fit``), picks its ridge parameter on a 80/20 hold-out of that
task's samples from RanPAC's grid 10^-8 .. 10^13 (22 values, lowest validation MSE), and refits its
read-out after every task (one Cholesky solve, primal ``(G + lambda I) W = Q`` or dual), so it can
be evaluated after each task. Training time = the sum over the 5 tasks, median over repeats in one
process at one thread; the pipelines run round robin within each repeat. Pipelines, all at the
same expansion width m = 2000 unless said otherwise:

- ``fly_cl``: sparse binary expansion (8 inputs per cell, gather-sum) + k-WTA (k = 200) + streaming
  ridge; lambda search from one eigendecomposition in the smaller (dual) space; read-out solved in
  sample space while samples < width (``solver="auto"``; 1257 training samples < 2000 here).
  The ``"binary"`` preset, the FlyCL defaults.
- ``fly_cl_paper``: the ``"paper"`` preset, the Fly-CL paper's expansion at its width m = 10,000: 200
  of the 512 inputs per cell (the paper's 300 of 768) through N(0, 1) synapses, the top 30 % of cells
  keep their values (k = 3000); per-sample input normalisation; the same search and dual read-out as
  ``fly_cl``. ``fly_cl_paper_m2000``: the same at m = 2000 (k = 600).
- ``fly_cl_primal``: ``fly_cl`` with its read-out solved in the 2000 x 2000 primal (streaming Gram only).
- ``ranpac``: dense Gaussian projection 512 -> 2000 + ReLU + streaming ridge; lambda search by one
  2000 x 2000 solve per lambda and a primal read-out (RanPAC's procedure; McDonnell et al. 2023).
- ``ranpac_eigen`` / ``ranpac_eigen_dual``: the RanPAC pipeline given Fly-CL's eigendecomposition
  search (and its dual read-out): ablations that show how much of the gain is the algebra, which
  any features can use, rather than the fly motif.
- ``ranpac_eigen_dual_m10000``: ``ranpac_eigen_dual`` at m = 10,000, the comparison for ``fly_cl_paper``
  (RanPAC as published at this width, 110 solves of 10,000 x 10,000, is not run: tens of minutes).
- ``ridge_raw``: ridge on the 512 raw features (same search by solves, 512 x 512, primal).

Multicollinearity: mean |Pearson r| between the code columns on the training samples, over a seeded
random 2000 of the columns for the 10,000-wide codes. Accuracy differences are paired over splits.

There is no installable Fly-CL or RanPAC package to run side by side; both are our implementations
(``neurocircuits.models.flycl``). Results go to bench/results/connectomes.json (atomic write).
"""

from __future__ import annotations

import argparse
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

from neurocircuits.graph import write_atomic  # noqa: E402
from neurocircuits.models.flycl import (  # noqa: E402
    RANPAC_RIDGE_GRID,
    FlyCL,
    RandomProjectionRidge,
    multicollinearity,
    random_conv_features,
)

WIDTH = 2000
WIDE = 10_000   # the width Fly-CL and RanPAC use by default
PIPELINES = {
    "fly_cl": lambda d: FlyCL(d, 10, expansion=WIDTH, fan_in=8, k=200, ridge_grid=RANPAC_RIDGE_GRID, search="eigen",
                              solver="auto"),
    "fly_cl_paper_m2000": lambda d: FlyCL.from_preset("paper", d, 10, expansion=WIDTH, ridge_grid=RANPAC_RIDGE_GRID,
                                                      solver="auto"),
    "fly_cl_paper": lambda d: FlyCL.from_preset("paper", d, 10, ridge_grid=RANPAC_RIDGE_GRID, solver="auto"),
    "fly_cl_primal": lambda d: FlyCL(d, 10, expansion=WIDTH, fan_in=8, k=200, ridge_grid=RANPAC_RIDGE_GRID,
                                     search="eigen", solver="primal"),
    "ranpac": lambda d: RandomProjectionRidge(d, 10, expansion=WIDTH, ridge_grid=RANPAC_RIDGE_GRID, search="solve",
                                              solver="primal"),
    "ranpac_eigen": lambda d: RandomProjectionRidge(d, 10, expansion=WIDTH, ridge_grid=RANPAC_RIDGE_GRID,
                                                    search="eigen", solver="primal"),
    "ranpac_eigen_dual": lambda d: RandomProjectionRidge(d, 10, expansion=WIDTH, ridge_grid=RANPAC_RIDGE_GRID,
                                                         search="eigen", solver="auto"),
    "ranpac_eigen_dual_m10000": lambda d: RandomProjectionRidge(d, 10, expansion=WIDE, ridge_grid=RANPAC_RIDGE_GRID,
                                                                search="eigen", solver="auto"),
    "ridge_raw": lambda d: RandomProjectionRidge(d, 10, expansion=None, ridge_grid=RANPAC_RIDGE_GRID, search="solve"),
}


def digit_tasks(seed: int):
    """Features, the 5 class-incremental training tasks and the test set of split ``seed``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    feats = random_conv_features(torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 8, 8))
    ftr, fte, ytr, yte = train_test_split(feats, torch.tensor(y), test_size=0.3, random_state=seed, stratify=y)
    tasks = [(ftr[(ytr == 2 * t) | (ytr == 2 * t + 1)], ytr[(ytr == 2 * t) | (ytr == 2 * t + 1)]) for t in range(5)]
    return ftr, tasks, fte, yte


def train(name: str, tasks, d: int):
    """Train pipeline ``name`` on the task stream; returns (model, seconds)."""
    model = PIPELINES[name](d)
    t0 = time.perf_counter()
    for x, y in tasks:
        model.partial_fit(x, y)
        model.fit_readout()
    return model, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="bench/results/connectomes.json")
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, list[float]]] = {n: {"acc": [], "time_s": [], "mc": [], "ridge": []} for n in PIPELINES}
    for seed in range(args.splits):
        ftr, tasks, fte, yte = digit_tasks(seed)
        times: dict[str, list[float]] = {name: [] for name in PIPELINES}
        models = {}
        for _ in range(args.repeats):     # round robin, so a change of machine load hits every pipeline
            for name in PIPELINES:
                models[name], dt = train(name, tasks, ftr.shape[1])
                times[name].append(dt)
        for name, model in models.items():
            with torch.no_grad():
                acc = (model.predict(fte) == yte).float().mean().item()
                mc = multicollinearity(model.encode(ftr), max_columns=WIDTH)   # a 2000-column sample when wider
            med = statistics.median(times[name])
            for key, val in (("acc", acc), ("time_s", med), ("mc", mc), ("ridge", model.ridge)):
                rows[name][key].append(val)
            print(f"split {seed} {name:26s} acc {acc:.3f}  train {med:.3f} s  "
                  f"multicollinearity {mc:.3f}  last lambda {model.ridge:g}", flush=True)
    summary = {}
    for name, r in rows.items():
        acc = np.array(r["acc"])
        summary[name] = {"acc_mean": float(acc.mean()), "acc_sem": float(acc.std(ddof=1) / np.sqrt(len(acc)))
                         if len(acc) > 1 else 0.0, "train_s_median": float(np.median(r["time_s"])),
                         "multicollinearity": float(np.mean(r["mc"])), **{k: v for k, v in r.items()}}
    fly = summary["fly_cl"]["train_s_median"]
    for name, s in summary.items():
        s["time_ratio_vs_fly_cl"] = s["train_s_median"] / fly
        for ref in ("ridge_raw", "ranpac"):   # paired over splits: mean and s.e.m. of the accuracy difference
            diff = np.array(s["acc"]) - np.array(summary[ref]["acc"])
            s[f"acc_diff_vs_{ref}"] = float(diff.mean())
            s[f"acc_diff_vs_{ref}_sem"] = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
        print(f"{name:26s} acc {s['acc_mean']:.3f} +- {s['acc_sem']:.3f}  "
              f"vs raw ridge {s['acc_diff_vs_ridge_raw']:+.4f} +- {s['acc_diff_vs_ridge_raw_sem']:.4f}  "
              f"vs RanPAC {s['acc_diff_vs_ranpac']:+.4f} +- {s['acc_diff_vs_ranpac_sem']:.4f}  "
              f"train {s['train_s_median']:.3f} s ({s['time_ratio_vs_fly_cl']:.2f}x Fly-CL)  "
              f"multicollinearity {s['multicollinearity']:.3f}")
    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
                    "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0]},
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__},
        "work": {"width": WIDTH, "wide": WIDE, "tasks": 5, "splits": args.splits, "repeats": args.repeats,
                 "ridge_grid": list(RANPAC_RIDGE_GRID)},
        "results": summary,
    }
    write_atomic(args.out, json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
