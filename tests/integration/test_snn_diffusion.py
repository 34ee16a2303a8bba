"""Tiny spiking DDPM on 8x8 digits (catalog row 139)."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers import cache_activations
from neurocircuits.models import create_model


def test_spiking_denoiser_is_spiking_and_trains_a_step():
    torch.manual_seed(0)
    m = create_model("spiking_ddpm", diffusion_steps=10, hidden=32)
    x0, c = torch.rand(8, 64) * 2 - 1, torch.arange(8)
    with cache_activations(m, ["denoiser.mid.neuron.hook_spikes"]) as cache:
        loss = m.loss(x0, c)
    assert set(cache["denoiser.mid.neuron.hook_spikes"].unique().tolist()) <= {0.0, 1.0}
    loss.backward()
    assert m.denoiser.inp.fc.weight.grad.abs().sum() > 0
    assert torch.allclose(m.abar, torch.cumprod(1 - m.betas, 0))
    assert m.sample(torch.arange(3)).shape == (3, 64)


@pytest.mark.slow
def test_spiking_ddpm_samples_are_recognised_as_their_class():
    from sklearn.linear_model import LogisticRegression

    from neurocircuits.data.datasets import digits

    d = digits()
    clf = LogisticRegression(max_iter=2000).fit(d.x_train.numpy(), d.y_train.numpy())
    x, y = d.x_train * 2 - 1, d.y_train
    torch.manual_seed(0)
    m = create_model("spiking_ddpm")
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        idx = torch.randint(0, len(y), (128,), generator=g)
        loss = m.loss(x[idx], y[idx], g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    c = torch.arange(10).repeat(20)
    samples = ((m.sample(c, torch.Generator().manual_seed(1)).clamp(-1, 1) + 1) / 2).numpy()
    acc = float((clf.predict(samples) == c.numpy()).mean())
    assert acc > 0.5, acc  # chance is 0.1; measured 0.98 after 3000 steps
