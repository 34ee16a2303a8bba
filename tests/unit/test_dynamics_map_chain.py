"""Row 22: heterogeneous Chialvo-Rulkov chain -- coexisting chaotic and period-4 attractors."""

import numpy as np
import pytest
import torch

from neurocircuits.analysis.dynamics import detect_period, largest_lyapunov, zero_one_test
from neurocircuits.functional.maps import ChialvoParams, DivergenceError, RulkovParams
from neurocircuits.layers.oscillators import (
    COEXISTENCE_CHAIN,
    HeterogeneousMapChain,
    MapChainConfig,
    MapChainState,
)
from neurocircuits.registry import UnknownNameError


def _line_of_initial_conditions(n: int = 21) -> MapChainState:
    # Same initial state except the Rulkov node's slow variable y_2, swept over [-3, 1].
    y2 = torch.linspace(-3.0, 1.0, n, dtype=torch.float64)
    x = torch.tensor([0.5, 0.0], dtype=torch.float64).expand(n, 2).clone()
    return MapChainState(x, torch.stack([torch.zeros_like(y2), y2], 1))


def test_chialvo_rulkov_chain_has_coexisting_chaotic_and_period4_attractors():
    chain = HeterogeneousMapChain(COEXISTENCE_CHAIN)
    s0 = _line_of_initial_conditions()
    X, _ = chain.run(s0, 800, transient=10000)  # (time, ic, node)
    periods = [detect_period(X[:, i, 0].numpy(), 16, 1e-8) for i in range(X.shape[1])]
    # the Rulkov node has the same period as the Chialvo node it is locked to
    assert all(detect_period(X[:, i, 1].numpy(), 16, 1e-8) == p for i, p in enumerate(periods))
    p4 = [i for i, p in enumerate(periods) if p == 4]
    chaos = [i for i, p in enumerate(periods) if p == 0]
    assert len(p4) >= 5 and len(chaos) >= 5 and len(p4) + len(chaos) == len(periods)
    # every period-4 initial condition lands on the same cycle (up to a shift of phase)
    cyc = X[-4:, p4[0], 0].numpy()
    for i in p4:
        other = X[-4:, i, 0].numpy()
        assert min(np.abs(np.roll(other, r) - cyc).max() for r in range(4)) < 1e-6
    # the aperiodic orbits are chaotic: 0-1 test K near 1 and a positive largest Lyapunov exponent
    for i in chaos[:3]:
        assert zero_one_test(X[:, i, 0].numpy()) > 0.8
    v = lambda i: torch.cat([s0.x[i], s0.y[i]])  # noqa: E731
    lam_chaos = largest_lyapunov(chain.vector_step, v(chaos[0]), 2000, transient=5000)
    lam_cycle = largest_lyapunov(chain.vector_step, v(p4[0]), 2000, transient=5000)
    assert lam_chaos > 0.1 and lam_cycle < -0.005
    # the chaotic attractor is not the cycle: it visits states far from every point of the cycle
    far = np.min(np.abs(X[:, chaos[0], 0].numpy()[:, None] - cyc[None, :]), 1)
    assert far.max() > 0.3


def test_chain_coupling_is_diffusive_with_per_node_gains():
    chain = HeterogeneousMapChain(MapChainConfig(("chialvo", "rulkov", "chialvo"), coupling_gain=(0.1, 0.2, 0.3)))
    x = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    # ends have one neighbour, the middle two: g_i * sum_j (x_j - x_i)
    expected = torch.tensor([0.1 * 1.0, 0.2 * (-1.0 + 2.0), 0.3 * -2.0], dtype=torch.float64)
    assert torch.allclose(chain.coupling(x), expected)
    flat = torch.full((4, 3), 0.7, dtype=torch.float64)
    assert torch.allclose(chain.coupling(flat), torch.zeros(4, 3, dtype=torch.float64))
    ring = HeterogeneousMapChain(MapChainConfig(("rulkov",) * 4, coupling_gain=0.5, periodic=True))
    assert float(ring.coupling(torch.randn(4, dtype=torch.float64)).sum()) == pytest.approx(0.0, abs=1e-12)


def test_uncoupled_chain_nodes_follow_their_own_maps():
    from neurocircuits.functional.maps import ChialvoState, RulkovState, chialvo_map, rulkov_map

    pc, pr = ChialvoParams(b=0.5, k=0.03), RulkovParams(alpha=4.3)
    chain = HeterogeneousMapChain(MapChainConfig(("chialvo", "rulkov"), params=(pc, pr)))
    s = MapChainState(torch.tensor([0.4, -1.0], dtype=torch.float64), torch.tensor([0.2, -3.0], dtype=torch.float64))
    xc, sc = chialvo_map(s.x[0], ChialvoState(s.y[0]), pc)
    xr, sr = rulkov_map(s.x[1], RulkovState(s.y[1]), pr)
    nxt = chain.step(s)
    assert torch.allclose(nxt.x, torch.stack([xc, xr])) and torch.allclose(nxt.y, torch.stack([sc.y, sr.y]))


def test_chain_config_errors_name_the_fix():
    with pytest.raises(UnknownNameError, match="chialvo"):
        MapChainConfig(("chialvo", "izhikevich"))
    with pytest.raises(ValueError, match="one value per node"):
        MapChainConfig(("chialvo", "rulkov"), coupling_gain=(0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="at least 2 nodes"):
        MapChainConfig(("chialvo",))
    chain = HeterogeneousMapChain(MapChainConfig(("chialvo", "rulkov"), coupling_gain=50.0))
    with pytest.raises(DivergenceError, match="step"):
        start = MapChainState(torch.tensor([3.0, -3.0], dtype=torch.float64), torch.zeros(2, dtype=torch.float64))
        chain.run(start, 2000)
