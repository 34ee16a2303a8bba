"""Row 112: the single Chialvo map walks fixed point -> period doubling -> quasi-periodic -> chaos
along ONE parameter (a), at b = 2.385, c = -2.45, k = -1.40.

Found by sampling the points where the period-2 orbit's multipliers are complex with |mu| = 1
(every 2-cycle parametrised in closed form by its two x values and (a, b); c and k follow), keeping
those where a bounded orbit survives just past them, and following the 2-cycle back along one
parameter to the flip of a stable fixed point. Walking a down: the fixed point flips (a real
multiplier through -1) near a = 0.705; the stable 2-cycle it gives birth to has complex multipliers
that climb towards the unit circle while the cycle shrinks back towards the fixed point; near
a = 0.217 (close to a 1:2 resonance: there the fixed point's own multipliers are complex near -1)
the cycle merges into the fixed point, which is now an unstable focus, and an invariant closed
curve takes over (quasi-periodic: Lyapunov ~ 0, steady rotation number, dense; mode-locked windows
near a = 0.15); below a ~ 0.135 the orbit is chaotic. So the torus is not born from a clean
Neimark-Sacker bifurcation of the 2-cycle but at the 2-cycle's merger with the fixed point; the
sequence of attractors along the single parameter is fixed point, period 2, quasi-periodic, chaos.
These parameters (c < 0, b > 2, k = -1.4) lie far outside the usual Chialvo range, where earlier scans
found no such line. The attractor is followed by continuation (the state at one a starts the
next), as a bifurcation diagram does; period tagging alone is fooled by slow spirals next to
|mu| = 1, so a "quasi-periodic" tag also needs an orbit whose spread does not shrink.
"""

import functools

import numpy as np
import torch

from neurocircuits.analysis.dynamics import detect_period, find_fixed_points, largest_lyapunov, zero_one_test
from neurocircuits.functional.maps import ChialvoParams, ChialvoState, chialvo_map

B, C, K = 2.385, -2.45, -1.40
F64 = torch.float64


def _f(a):
    p = ChialvoParams(a=a, b=B, c=C, k=K)

    def step(v):
        x, s = chialvo_map(v[0], ChialvoState(v[1]), p)
        return torch.stack([x, s.y])

    return step


def _run(step, v, n):
    out = torch.empty(n, 2, dtype=F64)
    for t in range(n):
        v = step(v)
        out[t] = v
    return v, out


@functools.lru_cache(maxsize=None)
def _walk(a_values, n_tr=2000, n=1000):
    """Continuation along a: label each a P1 / P2 / QP / CH / other; return labels and end states."""
    v = torch.tensor([-0.7, -0.6], dtype=F64)
    labels, states = [], []
    for i, a in enumerate(a_values):
        step = _f(a)
        v, _ = _run(step, v, n_tr if i else 4 * n_tr)
        v, orbit = _run(step, v, n)
        period = detect_period(orbit[:, 0].numpy(), 16, 1e-7)
        if period in (1, 2):
            labels.append(f"P{period}")
        elif period == 0:
            lam = largest_lyapunov(step, v, 2000, transient=0)
            k01 = zero_one_test(orbit[:, 0].numpy()[::2])
            x = orbit[:, 0].numpy()
            steady = np.ptp(x[n // 2 :]) > 0.9 * np.ptp(x[: n // 2])  # not a slow spiral into a point
            if abs(lam) < 0.005 and k01 < 0.4 and steady:
                labels.append("QP")
            elif lam > 0.02 and k01 > 0.9:
                labels.append("CH")
            else:
                labels.append("other")  # mode-locked windows (period > 16), slow spirals at a bifurcation
        else:
            labels.append("other")
        states.append(v)
    return labels, states


A_WALK = tuple(float(a) for a in np.round(np.arange(0.80, 0.115, -0.01), 3))


def test_chialvo_walks_fixed_point_period_two_quasiperiodic_chaos_along_a():
    labels, _ = _walk(A_WALK)
    assert labels[0] == "P1", labels
    last_p1 = max(i for i, s in enumerate(labels) if s == "P1")
    first_p2, first_qp, first_ch = labels.index("P2"), labels.index("QP"), labels.index("CH")
    assert last_p1 < first_p2 < first_qp < first_ch, labels
    assert "P1" not in labels[first_p2:] and "P2" not in labels[first_qp:], labels
    assert labels.count("P2") >= 30 and labels.count("QP") >= 3, labels


def _cycle(a, guess):
    f = _f(a)
    fps = find_fixed_points(lambda v: f(f(v)), guess[None], kind="map")
    fp = min(fps, key=lambda p: float((p.x - guess).norm()))
    return fp, float((f(fp.x) - fp.x).norm())


def _fixed(a):
    guesses = torch.tensor([[-0.7, -0.6], [-1.0, -1.0], [0.5, 0.5]], dtype=F64)
    return min(find_fixed_points(_f(a), guesses, kind="map"), key=lambda fp: float(fp.x.norm()))


def test_chialvo_route_bifurcations_flip_then_the_two_cycle_hands_over_to_a_curve():
    # the fixed point: stable with real multipliers at a = 0.72; one real multiplier < -1 at 0.69 (flip)
    before, after = _fixed(0.72), _fixed(0.69)
    assert torch.allclose(before.x, after.x, atol=0.1)
    assert float(before.eigenvalues.abs().max()) < 1 and float(before.eigenvalues.imag.abs().max()) < 1e-9
    assert float(after.eigenvalues.imag.abs().max()) < 1e-9 and float(after.eigenvalues.real.min()) < -1
    # the stable 2-cycle (complex multipliers of F o F) followed by Newton continuation from a = 0.30:
    # |mu| climbs towards 1 while the cycle shrinks back towards the fixed point
    labels, states = _walk(A_WALK)
    assert labels[A_WALK.index(0.3)] == "P2"
    guess, mods, splits = states[A_WALK.index(0.3)], {}, {}
    for a in np.round(np.arange(0.30, 0.2249, -0.005), 3):
        fp, splits[float(a)] = _cycle(float(a), guess)
        assert float(fp.eigenvalues.imag.abs().min()) > 0.05  # complex pair: a rotation, not a flip
        mods[float(a)] = float(fp.eigenvalues.abs().max())
        guess = fp.x
    assert mods[0.3] < mods[0.25] < mods[0.225] < 1, mods  # measured 0.50, 0.76, 0.95
    assert splits[0.3] > 1.4 and 0.3 < splits[0.225] < 0.7, splits  # measured 1.54 and 0.58
    # past a ~ 0.217 the cycle has merged into the fixed point, now an unstable focus (complex
    # multipliers, |mu| > 1): the orbit lives on a closed curve around it
    fp = _fixed(0.21)
    assert float(fp.eigenvalues.abs().min()) > 1 and float(fp.eigenvalues.imag.abs().min()) > 0.05
    _, split = _cycle(0.21, fp.x + 0.3)
    assert split < 1e-6  # Newton finds no 2-cycle near it any more, only the fixed point


def test_chialvo_quasiperiodic_orbit_is_a_dense_closed_curve():
    labels, states = _walk(A_WALK)
    i = A_WALK.index(0.19)
    assert labels[i] == "QP", labels
    _, orbit = _run(_f(0.19), states[i], 12000)
    even = orbit[::2].numpy()  # the curve as seen by F o F
    theta = np.unwrap(np.arctan2(even[:, 1] - even[:, 1].mean(), even[:, 0] - even[:, 0].mean()))
    rho = [(theta[s + 1500] - theta[s]) / (2 * np.pi * 1500) for s in range(0, 4500, 1500)]
    assert abs(rho[0]) > 0.01 and np.ptp(rho) < 2e-3 * abs(rho[0]), rho  # steady rotation number

    def largest_gap(th):
        ang = np.sort(np.mod(th, 2 * np.pi))
        return np.max(np.diff(np.r_[ang, ang[0] + 2 * np.pi]))

    assert largest_gap(theta) < 0.05 and largest_gap(theta) < 0.8 * largest_gap(theta[:600])  # dense
    r = np.hypot(even[:, 0] - even[:, 0].mean(), even[:, 1] - even[:, 1].mean())
    order = np.argsort(np.mod(theta, 2 * np.pi))
    assert np.median(np.abs(np.diff(r[order]))) < 0.02 * np.ptp(r) + 1e-3  # a curve, not a cloud
