"""Echo state network: one-step Mackey-Glass prediction and short-term memory capacity.

    OMP_NUM_THREADS=1 python examples/dynamics_reservoir_mackey_glass.py
"""

from __future__ import annotations

import torch

from neurocircuits.analysis.dynamics import memory_capacity
from neurocircuits.data.generators import mackey_glass
from neurocircuits.layers.reservoir import ESNConfig, EchoStateNetwork


def main() -> None:
    s = mackey_glass(4001)
    s = 2 * (s - s.min()) / (s.max() - s.min()) - 1
    u, y = torch.tensor(s[:-1]), torch.tensor(s[1:])
    esn = EchoStateNetwork(ESNConfig(n_units=100, leak_rate=0.3, spectral_radius=1.25, ridge=1e-6, seed=1))
    state = esn.fit(u[:2000], y[:2000], washout=100)
    pred, _ = esn(u[2000:], state)
    print(f"Mackey-Glass one-step RMSE: {float(((pred[:, 0] - y[2000:]) ** 2).mean().sqrt()):.5f}")
    noise = torch.rand(3000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    for sr in (0.3, 0.9, 1.1):
        res = EchoStateNetwork(ESNConfig(n_units=50, spectral_radius=sr, leak_rate=1.0, input_scaling=0.1,
                                         rc_connectivity=0.5, input_connectivity=1.0))
        X, _ = res.states(noise)
        mc, _ = memory_capacity(X, noise, max_delay=100, washout=200)
        print(f"memory capacity (N = 50, spectral radius {sr}): {mc:.1f}")


if __name__ == "__main__":
    main()
