"""Echo state networks: agreement with reservoirpy (golden), Mackey-Glass prediction, memory capacity."""

from pathlib import Path

import numpy as np
import pytest
import torch

from neurocircuits.analysis.dynamics import memory_capacity
from neurocircuits.data.generators import mackey_glass
from neurocircuits.functional.maps import DivergenceError
from neurocircuits.layers.reservoir import ESNConfig, EchoStateNetwork, spectral_radius

GOLDEN = Path(__file__).parents[1] / "golden" / "reservoir_esn.npz"


def test_esn_matches_reservoirpy_with_the_same_weights():
    g = np.load(GOLDEN)
    esn = EchoStateNetwork(ESNConfig(n_units=20, leak_rate=0.3, spectral_radius=1.25, ridge=1e-6))
    esn.set_weights(torch.tensor(g["W"]), torch.tensor(g["Win"]), 0.0)
    X, Y = torch.tensor(g["X"]), torch.tensor(g["Y"])
    states, _ = esn.states(X)
    assert np.allclose(states.numpy()[g["state_steps"]], g["states"], atol=1e-12)
    st = esn.fit(X[:200], Y[:200], washout=20)
    pred, _ = esn(X[200:], st)
    assert np.allclose(pred.numpy(), g["pred"], atol=1e-8)


def test_esn_predicts_mackey_glass_one_step():
    s = mackey_glass(3001)
    s = 2 * (s - s.min()) / (s.max() - s.min()) - 1
    u, y = torch.tensor(s[:-1]), torch.tensor(s[1:])
    esn = EchoStateNetwork(ESNConfig(n_units=100, seed=1))
    assert spectral_radius(esn.W) == pytest.approx(1.25)
    st = esn.fit(u[:2000], y[:2000], washout=100)
    pred, _ = esn(u[2000:], st)
    rmse = float(((pred[:, 0] - y[2000:]) ** 2).mean().sqrt())
    naive = float(((u[2000:] - y[2000:]) ** 2).mean().sqrt())  # "tomorrow = today"
    assert rmse < 0.01 and rmse < naive / 5


def test_memory_capacity_grows_with_spectral_radius_and_is_bounded_by_n():
    T, N = 3000, 40
    u = torch.rand(T, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    mcs = []
    for sr in (0.3, 0.95):
        esn = EchoStateNetwork(ESNConfig(n_units=N, spectral_radius=sr, leak_rate=1.0, input_scaling=0.1,
                                         rc_connectivity=0.5, input_connectivity=1.0, seed=3))
        X, _ = esn.states(u)
        mc, r2 = memory_capacity(X, u, max_delay=2 * N, washout=200, ridge=1e-10)
        mcs.append(mc)
    assert mcs[0] < mcs[1] <= N + 1
    assert mcs[1] > 0.4 * N  # a near-linear reservoir close to the edge keeps a sizeable part of N


def test_esn_errors_are_actionable():
    with pytest.raises(ValueError, match="leak_rate"):
        ESNConfig(leak_rate=0.0)
    esn = EchoStateNetwork(ESNConfig(n_units=10, n_inputs=2))
    with pytest.raises(ValueError, match=r"input must be \(time, 2\)"):
        esn.states(torch.zeros(5, 3))
    with pytest.raises(RuntimeError, match="fit"):
        esn(torch.zeros(5, 2))
    big = EchoStateNetwork(ESNConfig(n_units=10, leak_rate=1.0))
    big.set_weights(torch.full((10, 10), float("nan")), torch.ones(10, 1))
    with pytest.raises(DivergenceError, match="EchoStateNetwork"):
        big.states(torch.zeros(5, 1))
