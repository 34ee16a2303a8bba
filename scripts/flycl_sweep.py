"""Row 47 (Fly-CL): choose the expansion / k-WTA / normalisation / ridge-search setting on validation
splits, then measure the chosen settings on held-out test splits against the ridge baselines.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python scripts/flycl_sweep.py validate`` then ``... test --configs NAME ...``

Protocol. Digits through the frozen random CNN (512 features); split ``s`` is the 70/30 stratified
train/test split of bench/connectomes.py (``random_state=s``). *Validation*: the training part of
split ``s`` (s = 0..4) is split again 75/25 (stratified, ``random_state=1000 + s``); the pipeline
learns the 5 class-incremental tasks (two digits each) from the 75 % and is scored on the 25 %.
The test part is never touched. *Test*: the chosen settings learn from the whole training part of
splits 0..9 and are scored on their test parts, paired with ridge on the raw features and with the
RanPAC-style dense expansion at the same width. Results go to scripts/flycl_sweep_<mode>.json
(atomic write; an interrupted run resumes and skips what is done).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from tqdm import tqdm  # noqa: E402

from neurocircuits.graph import write_atomic  # noqa: E402
from neurocircuits.models.flycl import (  # noqa: E402
    RANPAC_RIDGE_GRID,
    FlyCL,
    RandomProjectionRidge,
    multicollinearity,
    random_conv_features,
)

torch.set_num_threads(1)


def _features():
    x, y = load_digits(return_X_y=True)
    return random_conv_features(torch.tensor(x / 16.0, dtype=torch.float32).reshape(-1, 8, 8)), torch.tensor(y)


def _tasks(x, y):
    return [(x[(y == 2 * t) | (y == 2 * t + 1)], y[(y == 2 * t) | (y == 2 * t + 1)]) for t in range(5)]


def split(feats, labels, seed: int, mode: str):
    """(training tasks, training features, evaluation features, evaluation labels) of split ``seed``."""
    ftr, fte, ytr, yte = train_test_split(feats, labels, test_size=0.3, random_state=seed, stratify=labels)
    if mode == "validate":
        ftr, fte, ytr, yte = train_test_split(ftr, ytr, test_size=0.25, random_state=1000 + seed, stratify=ytr)
    return _tasks(ftr, ytr), ftr, fte, yte


def make(name: str, width: int):
    """A pipeline from its name: ``ridge_raw``, ``ranpac[_gcv]`` or
    ``fly-<weights>-f<fan_in>-k<coding %>-<code>-<normalise>-<search>``."""
    if name == "ridge_raw":
        return RandomProjectionRidge(512, 10, expansion=None, ridge_grid=RANPAC_RIDGE_GRID, search="eigen")
    if name.startswith("ranpac"):
        return RandomProjectionRidge(512, 10, expansion=width, ridge_grid=RANPAC_RIDGE_GRID,
                                     search="gcv" if name.endswith("gcv") else "eigen", solver="auto")
    _, weights, fan, kk, code, norm, search = name.split("-")
    return FlyCL(512, 10, expansion=width, fan_in=int(fan[1:]), k=int(round(width * int(kk[1:]) / 100)),
                 weights=weights, code=code, normalise=norm, ridge_grid=RANPAC_RIDGE_GRID, search=search,
                 solver="auto")


def run_one(name: str, width: int, tasks, ftr, fte, yte) -> dict:
    model = make(name, width)
    t0 = time.perf_counter()
    for x, y in tasks:
        model.partial_fit(x, y)
        model.fit_readout()
    dt = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model.predict(fte) == yte).float().mean().item()
        codes = model.encode(ftr)
        if codes.shape[1] > 2000:   # mean |corr| over a fixed random 2000 of the columns (an unbiased estimate)
            codes = codes[:, torch.randperm(codes.shape[1], generator=torch.Generator().manual_seed(0))[:2000]]
        mc = multicollinearity(codes)
    return {"acc": acc, "time_s": dt, "mc": mc, "ridge": model.ridge}


def grid_names() -> list[str]:
    names = ["ridge_raw", "ranpac", "ranpac_gcv"]
    for w, f, k, c, n, s in itertools.product(("binary", "gaussian"), (8, 32, 128, 200), (10, 30),
                                              ("relu", "values", "binary"), ("sample", "running", "none"),
                                              ("eigen", "gcv")):
        names.append(f"fly-{w}-f{f}-k{k}-{c}-{n}-{s}")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("validate", "test"))
    parser.add_argument("--configs", nargs="*", default=None, help="pipeline names (default: the whole grid)")
    parser.add_argument("--splits", type=int, default=None, help="5 for validate, 10 for test")
    parser.add_argument("--width", type=int, default=2000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    splits = args.splits or (5 if args.mode == "validate" else 10)
    out = args.out or f"scripts/flycl_sweep_{args.mode}_w{args.width}.json"
    names = args.configs or grid_names()
    done = json.load(open(out)) if os.path.exists(out) else {}
    feats, labels = _features()
    data = [split(feats, labels, s, args.mode) for s in range(splits)]
    for name in tqdm(names, desc=f"{args.mode} w={args.width}"):
        rows = done.get(name, [])
        if len(rows) >= splits:
            continue
        rows = [run_one(name, args.width, *data[s]) for s in range(splits)]
        done[name] = rows
        write_atomic(out, json.dumps(done, indent=0))
    ref = {b: np.array([r["acc"] for r in done[b]]) for b in ("ridge_raw", "ranpac") if b in done}
    table = []
    for name in names:
        acc = np.array([r["acc"] for r in done[name][:splits]])
        line = {"name": name, "acc": acc.mean(), "sem": acc.std(ddof=1) / np.sqrt(len(acc)),
                "mc": np.mean([r["mc"] for r in done[name]]), "t": np.median([r["time_s"] for r in done[name]])}
        for b, a in ref.items():
            d = acc - a[:len(acc)]
            line[b] = (d.mean(), d.std(ddof=1) / np.sqrt(len(d)))
        table.append(line)
    table.sort(key=lambda r: -r["acc"])
    for r in table[:40]:
        extra = "  ".join(f"vs {b} {m:+.4f}+-{s:.4f}" for b, (m, s) in ((b, r[b]) for b in ref))
        print(f"{r['name']:40s} {r['acc']:.4f} +- {r['sem']:.4f}  mc {r['mc']:.3f}  t {r['t']:.2f}s  {extra}")


if __name__ == "__main__":
    main()
