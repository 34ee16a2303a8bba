"""Row 112: the single Chialvo map's route fixed point -> invariant closed curve (Neimark-Sacker,
quasi-periodic) -> chaos, walked along ``a`` at b = 0.6, c = 0.28, k = 0.03 (found by a scan; the
period-doubling branch of the same map is walked along ``k`` in ``test_dynamics_maps_neural_mass.py``).
"""

import numpy as np
import torch

from neurocircuits.analysis.dynamics import detect_period, largest_lyapunov, zero_one_test
from neurocircuits.functional.maps import ChialvoParams, ChialvoState, chialvo_map, iterate_map

B, C, K_DRIVE = 0.6, 0.28, 0.03


def _orbit(a, n=2000, transient=4000):
    p = ChialvoParams(a=a, b=B, c=C, k=K_DRIVE)
    x = torch.tensor(0.5, dtype=torch.float64)
    y = torch.tensor(0.5, dtype=torch.float64)
    for _ in range(transient):
        x, s = chialvo_map(x, ChialvoState(y), p)
        y = s.y
    xs, ys = [], []
    for _ in range(n):
        x, s = chialvo_map(x, ChialvoState(y), p)
        y = s.y
        xs.append(float(x))
        ys.append(float(y))
    return np.array(xs), np.array(ys)


def _lyapunov(a):
    p = ChialvoParams(a=a, b=B, c=C, k=K_DRIVE)

    def step(v):
        u, s = chialvo_map(v[0], ChialvoState(v[1]), p)
        return torch.stack([u, s.y])

    return largest_lyapunov(step, torch.tensor([0.5, 0.5], dtype=torch.float64), 2000, transient=3000)


def _regime(a):
    x = iterate_map(chialvo_map, torch.tensor(0.5, dtype=torch.float64),
                    ChialvoState(torch.tensor(0.5, dtype=torch.float64)),
                    ChialvoParams(a=a, b=B, c=C, k=K_DRIVE), 2000, transient=4000).numpy()
    return detect_period(x, 64, 1e-6), _lyapunov(a), zero_one_test(x)


def test_chialvo_scan_along_a_orders_fixed_point_quasiperiodic_chaos():
    labels = []
    for a in np.arange(0.85, 0.9451, 0.005):
        period, lam, K = _regime(float(a))
        if period == 1 and lam < -0.02:
            labels.append("P1")
        elif period == 0 and abs(lam) < 0.005 and K < 0.4:
            labels.append("QP")
        elif period == 0 and lam > 0.02 and K > 0.9:
            labels.append("CH")
        else:
            labels.append("other")  # mode-locked (period > 64 or near-zero exponent) windows
    assert labels[0] == "P1" and labels[-1] == "CH"
    last_p1 = max(i for i, s in enumerate(labels) if s == "P1")
    first_qp = labels.index("QP")
    first_ch = labels.index("CH")
    assert last_p1 < first_qp < first_ch, labels  # fixed point, then the invariant curve, then chaos
    assert "P1" not in labels[first_qp:]


def test_chialvo_quasiperiodic_orbit_fills_an_invariant_closed_curve():
    a = 0.892
    period, lam, K = _regime(a)
    assert period == 0 and abs(lam) < 0.003 and K < 0.4  # measured 0, -3e-4, 0.22
    x, y = _orbit(a, n=3000)
    # the iterates wind around the (unstable) fixed point with a steady rotation number and leave no
    # angular gap: a dense closed curve, not a finite cycle
    theta = np.arctan2(y - y.mean(), x - x.mean())
    unwrapped = np.unwrap(theta)
    rho_first = (unwrapped[1499] - unwrapped[0]) / (2 * np.pi * 1499)
    rho_second = (unwrapped[-1] - unwrapped[1500]) / (2 * np.pi * 1499)
    assert abs(rho_first) > 0.005 and abs(rho_first - rho_second) < 1e-3 * abs(rho_first) + 1e-4
    order = np.argsort(np.mod(theta, 2 * np.pi))
    ang = np.mod(theta, 2 * np.pi)[order]
    assert np.max(np.diff(np.r_[ang, ang[0] + 2 * np.pi])) < 0.05  # measured 0.021 rad
    # a curve, not a 2-D cloud: the radius is (nearly) a continuous function of the angle
    r = np.hypot(x - x.mean(), y - y.mean())[order]
    assert np.median(np.abs(np.diff(r))) < 0.02 * (r.max() - r.min() + 1e-12) + 1e-3
    # the curve is born from the fixed point: it shrinks to it as a -> NS point (a ~ 0.89)
    x0, y0 = _orbit(0.89, n=1500)
    assert np.ptp(x0) < np.ptp(x)


def test_chialvo_route_fixed_point_quasiperiodic_chaos_points():
    period, lam, _ = _regime(0.85)
    assert period == 1 and lam < -0.1  # stable fixed point (measured -0.17)
    period, lam, K = _regime(0.892)
    assert period == 0 and abs(lam) < 0.003 and K < 0.4
    period, lam, K = _regime(0.935)
    assert period == 0 and lam > 0.03 and K > 0.9  # chaos (measured 0.052, K 0.99)
