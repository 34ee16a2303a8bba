"""Spiking decision transformer on offline CartPole (catalog row 130)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurocircuits.models import create_model
from neurocircuits.models.spiking_decision_transformer import (CartPole, DecisionTransformer, collect_offline_data,
                                                               evaluate_policy, make_windows)


def test_cartpole_dynamics_fall_without_control_and_hold_with_pd():
    env = CartPole(0)
    env.reset()
    steps = 0
    done = False
    while not done:
        _, _, done = env.step(1)  # always push right: the pole falls quickly
        steps += 1
    assert steps < 60
    assert np.mean([len(e["actions"]) for e in collect_offline_data(6, noise=0.0)]) == 200


@pytest.mark.parametrize("spiking", [False, True])
def test_decision_transformer_is_causal(spiking):
    torch.manual_seed(0)
    m = DecisionTransformer(spiking=spiking).eval()
    x = torch.randn(3, 10, 7)
    y = x.clone()
    y[:, 6:] += 1.0  # change the future
    with torch.no_grad():
        a, b = m(x)[0], m(y)[0]
    assert torch.allclose(a[:, :6], b[:, :6], atol=1e-6)
    assert not torch.allclose(a[:, 6:], b[:, 6:])


@pytest.mark.slow
def test_snn_dt_matches_dt_return_on_offline_cartpole():
    X, Y = make_windows(collect_offline_data(60))
    results = {}
    for spiking in (False, True):
        torch.manual_seed(0)
        m = create_model("spiking_decision_transformer", spiking=spiking)
        opt = torch.optim.Adam(m.parameters(), lr=3e-3)
        g = torch.Generator().manual_seed(0)
        for _ in range(600):
            idx = torch.randint(0, len(X), (128,), generator=g)
            loss = torch.nn.functional.cross_entropy(m(X[idx])[0].reshape(-1, 2), Y[idx].reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
        results[spiking] = evaluate_policy(m, episodes=10)
    (ret_dt, _), (ret_snn, spikes) = results[False], results[True]
    assert ret_dt >= 190 and ret_snn >= 0.95 * ret_dt, results  # measured: 200 and 200
    neurons_x_steps = (10 * 32 * 7 + 10 * 64) * 4  # embedding, q/k/v/attn/o, MLP out (32) and hidden (64), 4 steps
    assert spikes < 0.35 * neurons_x_steps, results  # measured ~2600 spikes per decision (~22% of slots)
