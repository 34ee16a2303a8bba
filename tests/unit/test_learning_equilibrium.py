"""Row 38: equilibrium propagation -- the EP update is the loss gradient; flexible phases telescope."""

import torch

from neurocircuits.learning._equilibrium import EPConfig, EquilibriumNetwork

X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float64)
Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float64)


def _net():
    net = EquilibriumNetwork(EPConfig(sizes=(2, 6, 1), seed=1, dt=0.2))
    net.b_h += 0.3
    net.b_o += 0.2
    net.W1 *= 0.5
    net.W2 *= 0.5
    return net


def test_ep_update_equals_minus_loss_gradient_for_small_beta():
    net = _net()

    def loss():
        _, o = net.relax(X, 300)
        return float(0.5 * ((o - Y) ** 2).sum(1).mean())

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
