"""Dynamics analysis tools against known answers."""

import math

import numpy as np
import pytest
import torch

from neurocircuits.analysis.dynamics import (
    bifurcation_sweep,
    cross_correlation,
    detect_period,
    find_fixed_points,
    kuramoto_order,
    largest_lyapunov,
    memory_capacity,
    sample_entropy,
    synchrony_chi,
    zero_one_test,
)
from neurocircuits.functional.maps import (
    DivergenceError,
    LogisticParams,
    iterate_map,
    logistic_map,
)


def test_logistic_lyapunov_is_ln2_at_r4():
    lam = largest_lyapunov(lambda x: 4.0 * x * (1 - x), torch.tensor([0.3], dtype=torch.float64), 3000)
    assert abs(lam - math.log(2)) < 0.02


def test_logistic_lyapunov_negative_in_periodic_window():
    # r = 3.2: stable period-2 orbit, multiplier |f'(x1) f'(x2)| = |4 + 2r - r^2| = 0.16 -> lambda = ln(0.16)/2
    lam = largest_lyapunov(lambda x: 3.2 * x * (1 - x), torch.tensor([0.3], dtype=torch.float64), 4000)
    assert abs(lam - math.log(0.16) / 2) < 1e-3


def test_henon_lyapunov_matches_literature():
    # Henon map a=1.4, b=0.3: largest exponent 0.419 (Sprott, "Chaos and Time-Series Analysis")
    step = lambda z: torch.stack([1 - 1.4 * z[0] ** 2 + z[1], 0.3 * z[0]])
    lam = largest_lyapunov(step, torch.tensor([0.1, 0.1], dtype=torch.float64), 4000, transient=200)
    assert abs(lam - 0.419) < 0.02


@pytest.mark.parametrize("method", ["newton", "speed"])
def test_fixed_points_of_known_flow(method):
    # dx = x - x^3, dy = -y: saddle at 0, stable nodes at (+-1, 0)
    f = lambda z: torch.stack([z[0] - z[0] ** 3, -z[1]])
    guesses = torch.tensor([[-1.5, 0.3], [0.1, -0.2], [1.4, 0.5], [0.9, 0.0]], dtype=torch.float64)
    fps = find_fixed_points(f, guesses, method=method)
    xs = [round(float(p.x[0]), 6) for p in fps]
    assert xs == [-1.0, 0.0, 1.0]
    assert [p.stable for p in fps] == [True, False, True]
    ev0 = sorted(fps[1].eigenvalues.real.tolist())
    assert ev0 == pytest.approx([-1.0, 1.0], abs=1e-8)


def test_fixed_point_of_map_stability():
    # logistic map r=2.5: fixed point 1 - 1/r = 0.6 with multiplier 2 - r = -0.5 (stable); 0 unstable
    f = lambda x: 2.5 * x * (1 - x)
    fps = find_fixed_points(f, torch.tensor([[0.01], [0.7]], dtype=torch.float64), kind="map")
    assert [round(float(p.x[0]), 8) for p in fps] == [0.0, 0.6]
    assert [p.stable for p in fps] == [False, True]
    assert float(fps[1].eigenvalues.real[0]) == pytest.approx(-0.5)


def test_zero_one_test_periodic_vs_chaotic():
    x = iterate_map(logistic_map, torch.tensor(0.3, dtype=torch.float64), None, LogisticParams(4.0), 2000, transient=100)
    periodic = iterate_map(logistic_map, torch.tensor(0.3, dtype=torch.float64), None, LogisticParams(3.55), 2000, transient=500)
    assert zero_one_test(x.numpy()) > 0.9
    assert zero_one_test(periodic.numpy()) < 0.1


def test_sample_entropy_periodic_lower_than_random():
    t = np.arange(1000)
    periodic = np.sin(2 * np.pi * t / 25)
    rnd = np.random.default_rng(0).standard_normal(1000)
    se_p, se_r = sample_entropy(periodic), sample_entropy(rnd)
    assert se_p < 0.4 and se_p < se_r / 4
    assert sample_entropy(np.tile([0.0, 1.0, 0.3, -0.5], 200)) < 0.01  # exactly periodic: ~0
    # i.i.d. Gaussian with r = 0.2 sd, m = 2: SampEn ~ -ln P(|x-y|<=r) ~ 2.2
    assert 2.6 > se_r > 1.8  # a range check on the estimate, not a constant


def test_bifurcation_sweep_logistic_periods():
    vals = torch.tensor([2.8, 3.2, 3.5, 3.56])
    orb = bifurcation_sweep(logistic_map, LogisticParams(), "r", vals, 0.3, transient=5000, n_keep=64)
    periods = [detect_period(orb[:, i].numpy(), tol=1e-6) for i in range(4)]
    assert periods == [1, 2, 4, 8]


def test_divergence_names_step_and_params():
    with pytest.raises(DivergenceError, match="step .*r=5.0"):
        iterate_map(logistic_map, torch.tensor(0.3), None, LogisticParams(5.0), 500)


def test_synchrony_measures():
    t = torch.linspace(0, 10, 200)
    same = torch.stack([t * 2.0] * 10, 1)
    assert kuramoto_order(same) == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    spread = torch.rand(200, 1000, generator=g, dtype=torch.float64) * 2 * math.pi
    assert kuramoto_order(spread) < 0.06
    rng = np.random.default_rng(0)
    s = np.sin(np.linspace(0, 20, 500))
    assert synchrony_chi(np.stack([s] * 5, 1)) == pytest.approx(1.0)
    assert synchrony_chi(rng.standard_normal((5000, 100))) < 0.15
    x = rng.standard_normal(500)
    cc = cross_correlation(x[:-3], x[3:], max_lag=5)  # y_t = x_{t+3}: peak at lag -3
    assert int(np.argmax(cc)) - 5 == -3 and cc.max() == pytest.approx(1.0)


def test_memory_capacity_of_delay_line_equals_its_length():
    # A shift register of N units remembers exactly N delays (MC = N).
    T, N = 2000, 10
    u = torch.randn(T, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    states = torch.stack([torch.roll(u, k) for k in range(N)], 1)
    states[:N] = 0
    mc, r2 = memory_capacity(states, u, max_delay=15, washout=20)
    assert mc == pytest.approx(N - 1, abs=0.05)  # delays 1..N-1 are stored (delay 0 is the input)
    assert r2[N:].max() < 0.05


def test_lyapunov_fd_and_jvp_agree():
    step = lambda z: torch.stack([1 - 1.4 * z[0] ** 2 + z[1], 0.3 * z[0]])
    x0 = torch.tensor([0.1, 0.1], dtype=torch.float64)
    a = largest_lyapunov(step, x0, 300, transient=50, method="fd")
    b = largest_lyapunov(step, x0, 300, transient=50, method="jvp")
    assert a == pytest.approx(b, abs=1e-6)
