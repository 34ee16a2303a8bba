"""Row 22 (Chialvo period doubling) and row 62 (Wilson-Cowan regimes, metapopulation classifier)."""

import numpy as np
import pytest
import torch
from torch import nn

from neurocircuits.analysis.dynamics import (
    bifurcation_sweep,
    detect_period,
    find_fixed_points,
    largest_lyapunov,
    zero_one_test,
)
from neurocircuits.data.generators import digits_split
from neurocircuits.functional.maps import (
    ChialvoParams,
    ChialvoState,
    DivergenceError,
    RulkovParams,
    RulkovState,
    chialvo_map,
    iterate_map,
    rulkov_map,
)
from neurocircuits.functional.oscillators import WilsonCowanParams, WilsonCowanState, wilson_cowan_step
from neurocircuits.layers.oscillators import WilsonCowanConfig, WilsonCowanNetwork, simulate_wilson_cowan


def _chialvo_state(x):
    return ChialvoState(torch.full_like(x, 0.5))


def test_chialvo_period_doubling_route_to_chaos():
    # b = 0.5: lowering k takes the map through 1 -> 2 -> 4 -> 8 -> chaos.
    ks = torch.linspace(-0.04, -0.1, 121, dtype=torch.float64)
    orb = bifurcation_sweep(chialvo_map, ChialvoParams(b=0.5), "k", ks, 0.5, _chialvo_state,
                            transient=5000, n_keep=256)
    periods = [detect_period(orb[:, i].numpy(), 64, 1e-6) for i in range(len(ks))]
    order = []
    for p in periods:  # sequence of detected periods (0 = none found: chaos or slow convergence)
        if p and (not order or order[-1] != p):
            order.append(p)
    assert order[:4] == [1, 2, 4, 8]  # (finer cascade steps and periodic windows may follow)
    assert periods[-3:] == [0] * 3

    def lyap(k):
        p = ChialvoParams(b=0.5, k=k)
        step = lambda z: torch.stack(chialvo_map(z[0], ChialvoState(z[1]), p)[:1] + (chialvo_map(z[0], ChialvoState(z[1]), p)[1].y,))
        return largest_lyapunov(step, torch.tensor([0.5, 0.5], dtype=torch.float64), 3000, transient=2000)

    k_two = float(ks[periods.index(2)])
    k_chaos = float(ks[-1])
    assert lyap(k_two) < 0 < lyap(k_chaos)
    x = iterate_map(chialvo_map, torch.tensor(0.5, dtype=torch.float64), ChialvoState(torch.tensor(0.5, dtype=torch.float64)),
                    ChialvoParams(b=0.5, k=k_chaos), 2000, transient=1000)
    assert zero_one_test(x.numpy()) > 0.8


def test_map_divergence_names_step_and_parameters():
    with pytest.raises(DivergenceError, match=r"rulkov_map diverged .* at step \d+ with parameters RulkovParams\(.*mu=-1"):
        iterate_map(rulkov_map, torch.tensor(0.0), RulkovState(torch.tensor(1.0)), RulkovParams(mu=-1.0), 500)


def _wc_fixed_points(P):
    p = WilsonCowanParams(P=P)

    def field(z):  # dE/dt, dI/dt (per ms)
        E, st = wilson_cowan_step(0.0, WilsonCowanState(z[0], z[1]), p, 1.0)
        return torch.stack([E - z[0], st.I - z[1]])

    guesses = torch.rand(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 0.5
    return find_fixed_points(field, guesses)


def test_wilson_cowan_single_node_regimes():
    low, cycle, high = _wc_fixed_points(0.0), _wc_fixed_points(1.25), _wc_fixed_points(3.0)
    assert len(low) == 1 and low[0].stable and float(low[0].x.abs().max()) < 1e-8
    assert len(cycle) == 1 and not cycle[0].stable
    ev = cycle[0].eigenvalues
    assert float(ev.real.min()) > 0 and float(ev.imag.abs().max()) > 0  # unstable focus -> Hopf limit cycle
    assert len(high) == 1 and high[0].stable and float(high[0].eigenvalues.imag.abs().max()) > 0
    z = lambda v: torch.tensor(v, dtype=torch.float64)
    E = simulate_wilson_cowan(WilsonCowanParams(P=1.25), WilsonCowanState(z(0.1), z(0.05)), 0.5, 3000)[1500:]
    assert float(E.max() - E.min()) > 0.1  # sustained oscillation around the unstable focus
    E3 = simulate_wilson_cowan(WilsonCowanParams(P=3.0), WilsonCowanState(z(0.1), z(0.05)), 0.5, 3000)[1500:]
    amp_early = float(E3[:300].max() - E3[:300].min())
    amp_late = float(E3[-300:].max() - E3[-300:].min())
    assert amp_late < 0.7 * amp_early  # damped oscillation into the stable focus
    assert float(E3[-300:].mean()) == pytest.approx(float(high[0].x[0]), abs=0.01)


@pytest.mark.slow
def test_wilson_cowan_metapopulation_head_close_to_mlp_on_digits():
    Xtr, ytr, Xte, yte = digits_split()

    def train(body, width):
        torch.manual_seed(0)
        head = nn.Linear(width, 10)
        params = list(body.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, 3e-3)
        for _ in range(15):
            perm = torch.randperm(len(ytr))
            for i in range(0, len(ytr), 64):
                idx = perm[i:i + 64]
                loss = nn.functional.cross_entropy(head(body(Xtr[idx])), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            return float((head(body(Xte)).argmax(-1) == yte).float().mean())

    torch.manual_seed(0)
    wc = WilsonCowanNetwork(WilsonCowanConfig(64, 64, n_steps=15, dt_ms=2.0))

    class Body(nn.Module):
        def __init__(self):
            super().__init__()
            self.wc = wc

        def forward(self, x):
            return 10 * self.wc(x)[0]

    acc_wc = train(Body(), 64)
    mlp_body = nn.Sequential(nn.Linear(64, 64), nn.Tanh())
    acc_mlp = train(mlp_body, 64)
    assert acc_wc > 0.9 and acc_wc >= acc_mlp - 0.03
