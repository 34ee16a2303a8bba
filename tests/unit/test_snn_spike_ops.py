"""Spike-count transformer operators converge to the ANN operators as T grows (catalog row 21, part)."""

from __future__ import annotations

import math

import torch

from neurocircuits.layers.spiking import if_rate_code, spike_matmul, spike_silu, spike_softmax


def test_spike_matmul_error_bounded_by_one_over_t():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(32, 16, generator=g), torch.randn(16, 8, generator=g)
    xm = float(x.abs().max())
    errs = []
    for T in (4, 16, 64, 256):
        n = if_rate_code(x, T, xm)
        assert torch.all((x - n * xm / T).abs() <= xm / T + 1e-5)
        errs.append(float((spike_matmul(x, w, T) - x @ w).abs().max()))
    assert errs[-1] < 0.05 * errs[0] and all(b < a for a, b in zip(errs, errs[1:]))


def test_spike_softmax_and_silu_converge_like_inverse_sqrt_t():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=g) * 2
    err_sm = {T: float((spike_softmax(x, T, g) - torch.softmax(x, -1)).pow(2).mean().sqrt()) for T in (16, 256, 4096)}
    err_si = {T: float((spike_silu(x, T, g) - torch.nn.functional.silu(x)).pow(2).mean().sqrt()) for T in (16, 256, 4096)}
    for err in (err_sm, err_si):
        # 16x more steps -> ~4x smaller error (Monte-Carlo rate), within a factor 2
        for a, b in ((16, 256), (256, 4096)):
            assert 2.0 < err[a] / err[b] < 8.0, err
    assert err_sm[4096] < 0.01 and err_si[4096] < 0.02
    assert torch.allclose(spike_softmax(x, 64, g).sum(-1), torch.ones(64))
