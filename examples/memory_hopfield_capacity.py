"""Retrieval curve of a classical Hopfield network: overlap after retrieval vs load P/N.

Hebbian storage collapses near the theoretical capacity alpha_c ~ 0.138 (Amit, Gutfreund &
Sompolinsky 1985); the pseudo-inverse and Storkey rules keep retrieving beyond it.

    OMP_NUM_THREADS=1 python examples/memory_hopfield_capacity.py [--out retrieval.png]
"""

from __future__ import annotations

import argparse

import torch

from neurocircuits.layers.memories import HopfieldConfig, HopfieldNetwork, overlap


def retrieval_curve(rule: str, n_units: int, loads: list[float], seed: int = 0) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for a in loads:
        X = torch.where(torch.rand(max(1, int(a * n_units)), n_units, generator=g) < 0.5, -1.0, 1.0)
        net = HopfieldNetwork(HopfieldConfig(n_units, rule))
        net.store(X)
        s, _ = net(X, n_sweeps=30)
        out.append(float(overlap(s, X).diagonal().mean()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-units", type=int, default=400)
    ap.add_argument("--out", default=None, help="save the plot here (PNG)")
    args = ap.parse_args()
    loads = [0.02 * i for i in range(1, 16)]
    curves = {rule: retrieval_curve(rule, args.n_units, loads) for rule in ("hebbian", "storkey", "pseudo_inverse")}
    print("load  " + "  ".join(f"{r:>14s}" for r in curves))
    for i, a in enumerate(loads):
        print(f"{a:4.2f}  " + "  ".join(f"{curves[r][i]:14.3f}" for r in curves))
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        for rule, ys in curves.items():
            ax.plot(loads, ys, marker="o", ms=3, label=rule)
        ax.axvline(0.138, color="k", ls="--", lw=0.8, label="alpha_c = 0.138")
        ax.set_xlabel("load P / N")
        ax.set_ylabel("overlap after retrieval")
        ax.set_title(f"Hopfield retrieval, N = {args.n_units}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.out, dpi=110)
        print("wrote", args.out)


if __name__ == "__main__":
    main()
