"""Spike raster of the CA3-like spiking memory completing a pattern from a 25% fragment.

    OMP_NUM_THREADS=1 python examples/memory_ca3_raster.py [--out raster.png]
"""

from __future__ import annotations

import argparse

import torch

from neurocircuits.layers.memories import CA3Config, CA3Memory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    N, K = 100, 12
    mem = CA3Memory(CA3Config(n_neurons=N))
    patterns = []
    for i in range(8):
        p = torch.zeros(N)
        start = i * K if i < 4 else 48 + (i - 4) * (K - 3)  # 4 disjoint, 4 overlapping by 3 cells
        p[start:start + K] = 1
        patterns.append(p)
        mem.learn(p)
    target = patterns[5]
    cue = torch.zeros(N)
    cue[[60, 61, 62]] = 1  # 3 of its 12 cells (25%), none shared with the overlapping neighbours
    recalled, raster = mem.recall(cue)
    print("cue cells     :", cue.nonzero().squeeze(1).tolist())
    print("recalled cells:", recalled.nonzero().squeeze(1).tolist())
    print("exact recall  :", bool(torch.equal(recalled, target)))
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t, n = raster.nonzero(as_tuple=True)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.scatter(t.numpy() * mem.cfg.dt_ms, n.numpy(), s=2, c="k")
        ax.axvspan(0, mem.cfg.cue_ms, color="tab:orange", alpha=0.2, label="cue on")
        ax.set_xlabel("time (ms)")
        ax.set_ylabel("neuron")
        ax.set_title("CA3 memory: completion from a 25% fragment")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.out, dpi=110)
        print("wrote", args.out)


if __name__ == "__main__":
    main()
