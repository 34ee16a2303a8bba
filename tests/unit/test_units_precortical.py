"""Precortical front end (catalog row 30): invariance to brightness/contrast, and a CNN behind it keeps
its digits accuracy under test-time intensity changes while a vanilla CNN drops sharply."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from neurocircuits.layers.units import PrecorticalModule


def test_module_is_invariant_to_global_brightness_and_contrast():
    m = PrecorticalModule(dtype=torch.float64, eps=1e-9)
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(m(3.0 * x + 7.0), m(x), rtol=1e-6, atol=1e-6)
    assert m(x).shape == (4, 2, 8, 8) and (m(x) >= 0).all()
    with pytest.raises(ValueError, match=r"\[batch, 1, H, W\]"):
        m(torch.rand(4, 8, 8))


def test_cnn_with_module_keeps_accuracy_under_intensity_change():
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(d.target)
    xtr, ytr, xte, yte = x[:1400], y[:1400], x[1400:], y[1400:]
    acc = {}
    for name in ("precortical", "vanilla"):
        torch.manual_seed(0)
        front = [PrecorticalModule()] if name == "precortical" else []
        cin = 2 if front else 1
        model = nn.Sequential(*front, nn.Conv2d(cin, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(16 * 16, 10))
        opt = torch.optim.Adam(model.parameters(), 3e-3)
        gen = torch.Generator().manual_seed(0)
        for _ in range(6):
            for idx in torch.randperm(1400, generator=gen).split(64):
                loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            clean = (model(xte).argmax(-1) == yte).float().mean().item()
            shifted = (model(0.3 * xte + 0.6).argmax(-1) == yte).float().mean().item()  # dim, low-contrast
        acc[name] = (clean, shifted)
    assert acc["precortical"][0] > 0.85 and acc["vanilla"][0] > 0.85, acc
    assert acc["precortical"][0] - acc["precortical"][1] < 0.03, acc
    assert acc["vanilla"][0] - acc["vanilla"][1] > 0.2, acc
