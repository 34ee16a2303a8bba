"""Summarise scripts/lime_lm_experiment.py results: lr picked by mean validation loss, then test
loss (mean +- s.e.m. over seeds) at each checkpoint, per-layer value entropy and router shares.

    python scripts/lime_summary.py [results_dir] [--prefix L12_d32_s1200]
"""

from __future__ import annotations

import argparse
import glob
import json
import math
from collections import defaultdict


def mean_sem(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1) / len(xs))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="scripts/results/lime")
    ap.add_argument("--prefix", default="")
    a = ap.parse_args()
    runs: dict[tuple[str, float, float], list[dict]] = defaultdict(list)
    for f in sorted(glob.glob(f"{a.dir}/{a.prefix}*.json")):
        r = json.load(open(f))
        rm = r["args"]["router_lr_mult"] if r["args"]["model"] == "lime" else 0.0
        runs[(r["args"]["model"], r["args"]["lr"], rm)].append(r)
    best: dict[str, tuple[float, tuple[str, float, float]]] = {}
    full = max(len(x) for x in runs.values())
    for key, rs in sorted(runs.items()):
        v = mean_sem([r["val"] for r in rs])
        print(f"{key[0]:8s} lr {key[1]:g} router x{key[2]:g}: n={len(rs)} val {v[0]:.4f} +- {v[1]:.4f}  "
              f"per seed {[round(r['val'], 3) for r in rs]} seeds {[r['args']['seed'] for r in rs]}")
        if len(rs) == full and (key[0] not in best or v[0] < best[key[0]][0]):
            best[key[0]] = (v[0], key)
    print(f"picked by validation among settings with {full} seeds:", {m: b[1][1:] for m, b in best.items()})
    chosen = {m: sorted(runs[key], key=lambda r: r["args"]["seed"]) for m, (_, key) in best.items()}
    for m, rs in chosen.items():
        print(f"\n{m} (lr {best[m][1][1]:g}, router x{best[m][1][2]:g}, params {rs[0]['params']})")
        for i, c in enumerate(rs[0]["curve"]):
            vals = [r["curve"][i]["test"] for r in rs]
            ms = mean_sem(vals)
            print(f"  step {c['step']:5d} test {ms[0]:.4f} +- {ms[1]:.4f}  per seed {[round(x, 3) for x in vals]}")
        ents = list(zip(*[r["value_entropy"] for r in rs]))
        print("  value entropy per layer:", " ".join(f"{mean_sem(list(e))[0]:.3f}" for e in ents))
        if rs[0]["current_layer_weight"]:
            sh = list(zip(*[r["current_layer_weight"] for r in rs]))
            sh0 = list(zip(*[r["current_layer_weight_init"] for r in rs]))
            print("  router share on current layer (init -> end):",
                  " ".join(f"{mean_sem(list(a))[0]:.2f}->{mean_sem(list(b))[0]:.2f}" for a, b in zip(sh0, sh)))
    if len(chosen) == 2:
        lime, van = chosen["lime"], chosen["vanilla"]
        seeds = sorted({r["args"]["seed"] for r in lime} & {r["args"]["seed"] for r in van})
        L = len(lime[0]["value_entropy"])
        deep = range(2 * L // 3, L)
        print("\nper seed (lime - vanilla): test loss, deep-layer value entropy (last third)")
        for s in seeds:
            a_, b_ = next(r for r in lime if r["args"]["seed"] == s), next(r for r in van if r["args"]["seed"] == s)
            de = sum(a_["value_entropy"][i] - b_["value_entropy"][i] for i in deep) / len(deep)
            print(f"  seed {s}: dloss {a_['test'] - b_['test']:+.4f}  dentropy {de:+.4f}")


if __name__ == "__main__":
    main()
