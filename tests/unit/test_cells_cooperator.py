"""Row 105 (Cooperator): permutation invariance, two-point integration, CartPole physics, REINFORCE."""

from __future__ import annotations

import pytest
import torch

from neurocircuits import models
from neurocircuits.layers.cells import CooperatorIntegration, SensorState
from neurocircuits.models.cooperator import CartPoleConfig, cartpole_step, train_reinforce


@pytest.mark.parametrize("integration", ["cooperator", "attention"])
def test_policy_is_invariant_to_sensor_permutations(integration):
    torch.manual_seed(0)
    p = models.create_model("cooperator_policy", integration=integration, dtype=torch.float64)
    obs = torch.randn(3, 4, 5, dtype=torch.float64)
    a = torch.nn.functional.one_hot(torch.randint(0, 2, (3, 5)), 2).double()
    perm = torch.tensor([2, 0, 3, 1])
    s1 = s2 = None
    for t in range(5):
        l1, s1 = p(obs[:, :, t], a[:, t], s1)
        l2, s2 = p(obs[:, perm, t], a[:, t], s2)
        torch.testing.assert_close(l1, l2, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s1.h[:, perm], s2.h, rtol=1e-12, atol=1e-12)
    # but not to the sensor values themselves
    l3, _ = p(obs[:, :, 0] * 2, a[:, 0])
    assert not torch.allclose(l3, p(obs[:, :, 0], a[:, 0])[0])


def test_cooperator_units_are_two_point_neurons():
    torch.manual_seed(1)
    layer = CooperatorIntegration(hidden=5, n_actions=2, d_out=3).double()
    h = torch.randn(2, 4, 5, dtype=torch.float64)
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    r = layer.drive(h)
    others = torch.stack([torch.cat([h[:, :i], h[:, i + 1:]], 1).mean(1) for i in range(4)], dim=1)
    c = layer.context(torch.cat([others, a[:, None].expand(2, 4, 2)], -1))
    torch.testing.assert_close(layer(h, a), (r * (1 + torch.tanh(r * c))).mean(1))
    with torch.no_grad():  # zero context: the plain mean of the drives
        layer.context.weight.zero_()
        layer.context.bias.zero_()
    torch.testing.assert_close(layer(h, a), r.mean(1))


def test_cartpole_first_step_matches_the_analytic_accelerations():
    cfg = CartPoleConfig()
    s = torch.zeros(2, 4, dtype=torch.float64)
    nxt, failed = cartpole_step(s, torch.tensor([1, 0]), cfg)
    xacc = 10.0 / 1.1
    thacc = -xacc / (0.5 * (4 / 3 - 0.1 / 1.1))
    torch.testing.assert_close(nxt[0, 1], torch.tensor(0.02 * (xacc - 0.05 * thacc / 1.1), dtype=torch.float64))
    torch.testing.assert_close(nxt[0, 3], torch.tensor(0.02 * thacc, dtype=torch.float64))
    torch.testing.assert_close(nxt[1], -nxt[0])
    assert not failed.any()
    # an upright pole left alone falls: the episode ends within 200 steps
    s = torch.tensor([[0.0, 0.0, 0.05, 0.0]], dtype=torch.float64)
    for step in range(200):
        s, failed = cartpole_step(s, torch.tensor([step % 2]), cfg)
        if failed.any():
            break
    assert failed.all() and step < 100


def test_policy_errors_and_reinforce_improves_the_return():
    p = models.create_model("cooperator_policy")
    with pytest.raises(ValueError, match="a_prev"):
        p(torch.randn(2, 4), torch.zeros(2, 3))
    with pytest.raises(KeyError):
        models.create_model("cooperator_policy", integration="lstm")
    assert isinstance(p(torch.randn(2, 4), torch.zeros(2, 2))[1], SensorState)


@pytest.mark.slow
@pytest.mark.parametrize("integration", ["cooperator", "attention"])
def test_reinforce_teaches_both_permutation_invariant_policies_cartpole(integration):
    """Row 105 experiment (the claim itself, fewer episodes for the Cooperator, was not shown: see
    docs/readme/cells.md). Both ~480-parameter policies learn from 1,600 shuffled-sensor episodes:
    the mean return of the last 10 batches is well above the first 10 (a random policy: ~22)."""
    torch.manual_seed(2)
    p = models.create_model("cooperator_policy", integration=integration, width=8, hidden=8)
    r = train_reinforce(p, target_return=1e9, max_updates=100, batch=16, lr=0.02, seed=2)
    first, last = sum(r.mean_returns[:10]) / 10, sum(r.mean_returns[-10:]) / 10
    assert first < 30 and last > 1.8 * first, (first, last)


@pytest.mark.slow
@pytest.mark.parametrize("integration", ["cooperator", "attention"])
def test_evolution_strategies_improve_both_policies_and_leave_the_centre_in_the_model(integration):
    from neurocircuits.models.cooperator import train_es

    torch.manual_seed(0)
    p = models.create_model("cooperator_policy", integration=integration, width=8, hidden=8)
    before = [q.detach().clone() for q in p.parameters()]
    r = train_es(p, target_return=1e9, generations=40, population=32, sigma=0.1, lr=0.03, seed=0)
    first, last = sum(r.mean_returns[:5]) / 5, sum(r.mean_returns[-5:]) / 5
    assert last > 2 * first, (first, last)
    assert any(not torch.equal(a, b) for a, b in zip(before, p.parameters()))
    with pytest.raises(ValueError, match="population"):
        train_es(p, population=3)
