"""Spiking LMU (L2MU, catalog row 96)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.polynomial import legendre

from neurocircuits.models import create_model
from neurocircuits.models.spiking_lmu import lmu_matrices


def test_legendre_memory_reconstructs_delayed_input():
    """u(t - r theta) = sum_i m_i(t) P_i(2r - 1) for a slow input (the LMU's defining property)."""
    d, theta, T = 12, 50.0, 400
    Ad, Bd = (z.double().numpy() for z in lmu_matrices(d, theta))
    u = np.sin(2 * np.pi * np.arange(T) / 120.0)
    m, ms = np.zeros(d), []
    for k in range(T):
        m = Ad @ m + Bd * u[k]
        ms.append(m.copy())
    ms = np.array(ms)
    for r in (0.0, 0.5, 1.0):
        P = np.array([legendre.legval(2 * r - 1, np.eye(d)[i]) for i in range(d)])
        delay = int(r * theta)
        assert np.abs(ms[200:] @ P - u[200 - delay:T - delay]).max() < 0.03


def test_spiking_lmu_forward_backward_and_spikes():
    net = create_model("spiking_lmu", in_features=8, hidden=16, order=4, theta=8)
    out, st = net(torch.rand(8, 5, 8))
    assert out.shape == (8, 5, 10) and set(st.h.unique().tolist()) <= {0.0, 1.0}
    out.sum().backward()
    assert net.W_x.weight.grad is not None and net.in_pop.weight.grad.abs().sum() > 0


@pytest.mark.slow
def test_l2mu_close_to_lmu_on_sequential_digits():
    from neurocircuits.data.datasets import load_dataset
    from neurocircuits.learning.bptt import BPTTConfig, train_classifier

    ds = load_dataset("sequential_digits")
    acc = {}
    for spiking in (False, True):
        torch.manual_seed(0)
        net = create_model("spiking_lmu", in_features=8, hidden=64, order=8, theta=8, spiking=spiking)
        acc[spiking] = train_classifier(net, ds.x_train, ds.y_train, ds.x_test, ds.y_test,
                                        BPTTConfig(epochs=25, lr=5e-3, decoder="mean", progress=False), time_first=True).test_accuracy
    assert acc[True] >= acc[False] - 0.1, acc
