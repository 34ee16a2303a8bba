"""Bifurcation diagram of the Chialvo map: the period-doubling route to chaos.

Sweeps the constant bias k at b = 0.5 (a = 0.89, c = 0.28), prints the detected period and the
largest Lyapunov exponent at a few points, and optionally saves the diagram.

    OMP_NUM_THREADS=1 python examples/dynamics_chialvo_bifurcation.py [--out bifurcation.png]
"""

from __future__ import annotations

import argparse

import torch

from neurocircuits.analysis.dynamics import bifurcation_sweep, detect_period, largest_lyapunov
from neurocircuits.functional.maps import ChialvoParams, ChialvoState, chialvo_map


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    ks = torch.linspace(-0.03, -0.1, 600, dtype=torch.float64)
    orbit = bifurcation_sweep(chialvo_map, ChialvoParams(b=0.5), "k", ks, 0.5,
                              lambda x: ChialvoState(torch.full_like(x, 0.5)), transient=3000, n_keep=128)
    for k in (-0.04, -0.06, -0.08, -0.085, -0.095):
        i = int(torch.argmin((ks - k).abs()))
        p = ChialvoParams(b=0.5, k=float(ks[i]))

        def step(z, p=p):
            x, s = chialvo_map(z[0], ChialvoState(z[1]), p)
            return torch.stack([x, s.y])

        lam = largest_lyapunov(step, torch.tensor([0.5, 0.5], dtype=torch.float64), 2000, transient=1000)
        print(f"k = {float(ks[i]):+.4f}: period {detect_period(orbit[:, i].numpy(), 64, 1e-6):2d} "
              f"(0 = none), Lyapunov {lam:+.3f}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(ks.repeat(orbit.shape[0], 1).numpy().ravel(), orbit.numpy().ravel(), ",k", alpha=0.4)
        ax.set_xlabel("k")
        ax.set_ylabel("x (attractor)")
        ax.set_title("Chialvo map, b = 0.5: period doubling")
        ax.invert_xaxis()
        fig.tight_layout()
        fig.savefig(args.out, dpi=110)
        print("wrote", args.out)


if __name__ == "__main__":
    main()
