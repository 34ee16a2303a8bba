"""Row 38: equilibrium propagation -- the EP update is the loss gradient; flexible phases telescope."""

import pytest
import torch

from neurocircuits.learning._equilibrium import EPConfig, EquilibriumNetwork

X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float64)


def _net(activation="hard_sigmoid"):
    net = EquilibriumNetwork(EPConfig(sizes=(2, 6, 1), seed=1, dt=0.2, activation=activation))
    net.b_h += 0.3
    net.b_o += 0.2
    net.W1 *= 0.5
    net.W2 *= 0.5
    return net


@pytest.mark.parametrize("activation", ["hard_sigmoid", "sigmoid"])
def test_ep_update_equals_minus_loss_gradient_for_small_beta(activation):
    net = _net(activation)

    def loss():  # the cost the nudge pulls on: 1/2 |rho(o) - y|^2 at the free equilibrium
        _, o = net.relax(X, 300)
        return float(0.5 * ((net.act.rho(o) - Y) ** 2).sum(1).mean())

    beta = 1e-3
    h, o = net.relax(X, 300)
    free = net._hebb(X, h, o)
    hb, ob = net.relax(X, 300, h, o, Y, beta)
    ep_w1 = (net._hebb(X, hb, ob)[0] - free[0]) / beta
    fd = torch.zeros_like(net.W1)
    eps = 1e-5
    for i in range(net.W1.shape[0]):
        for j in range(net.W1.shape[1]):
            net.W1[i, j] += eps
            lp = loss()
            net.W1[i, j] -= 2 * eps
            lm = loss()
            net.W1[i, j] += eps
            fd[i, j] = (lp - lm) / (2 * eps)
    assert fd.norm() > 1e-3
    cos = torch.nn.functional.cosine_similarity(-fd.flatten(), ep_w1.flatten(), dim=0)
    assert float(cos) > 0.999
    assert abs(float(ep_w1.norm() / fd.norm()) - 1) < 0.01


def test_flexible_schedule_telescopes_to_the_standard_update():
    # One nudged period started from the free equilibrium, updated step by step with the temporally
    # local rule, sums to the two-phase EP update.
    a, b = _net(), _net()
    c = a.cfg
    h, o = a.relax(X, 400)
    free = a._hebb(X, h, o)
    hb, ob = a.relax(X, 400, h, o, Y, c.beta)
    standard = [(n - f) * c.lr / c.beta for n, f in zip(a._hebb(X, hb, ob), free)]
    prev = free
    total = [torch.zeros_like(t) for t in free]
    for _ in range(400):
        h, o = b._step(X, h, o, Y, c.beta)
        cur = b._hebb(X, h, o)
        total = [t + (cu - pr) * c.lr / c.beta for t, cu, pr in zip(total, cur, prev)]
        prev = cur
    for s, t in zip(standard, total):
        assert torch.allclose(s, t, atol=1e-10)


def _xor_solved(net):
    return bool(((net.predict(X) > 0.5).double() == Y).all())


def test_flexible_phases_solve_xor_like_the_standard_schedule():
    # (seed 3 of the 5/6 seeds that this short run solves; the slow test below runs 20000 steps)
    # random phase durations, random stimulus changes, no reset, temporally local updates
    flex = EquilibriumNetwork(EPConfig(seed=3))
    info = flex.train_flexible(X, Y, 10000)
    assert info["n_switches"] > 250 and 0.3 < info["nudged_fraction"] < 0.7  # ~1000 random phases
    std = EquilibriumNetwork(EPConfig(seed=3))
    std.train_standard(X, Y, 150)
    assert _xor_solved(flex) and _xor_solved(std)
    # the output is graded, not saturated: targets are met with margin at the free equilibrium
    p = flex.predict(X).flatten()
    assert float(p[[0, 3]].max()) < 0.35 and float(p[[1, 2]].min()) > 0.65  # measured 0.17 and 0.69


@pytest.mark.slow
@pytest.mark.parametrize("random_phase_type", [False, True])
def test_flexible_phases_solve_xor_reliably_over_seeds(random_phase_type):
    # measured: alternating types with random durations 16/16 seeds, random types 14/16, the
    # standard two-phase schedule 16/16 (seeds 0-15, 20000 steps); the hard-sigmoid network of the
    # first round solved XOR for only part of the seeds with either schedule
    solved = []
    for seed in range(8):
        net = EquilibriumNetwork(EPConfig(seed=seed, random_phase_type=random_phase_type))
        net.train_flexible(X, Y, 20000)
        solved.append(_xor_solved(net))
    assert sum(solved) >= (8 if not random_phase_type else 7), solved


def test_ep_config_errors_name_the_fix():
    with pytest.raises(Exception, match="sigmoid"):
        EPConfig(activation="relu")
    with pytest.raises(ValueError, match="n_streams"):
        EPConfig(n_streams=0)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        EquilibriumNetwork(EPConfig()).predict(torch.zeros(4, 3, dtype=torch.float64))
