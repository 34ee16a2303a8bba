"""Row 85: Kanerva SDM read weights are exponential in similarity; SDM retrieval ~ softmax attention."""

import math

import pytest
import torch

from neurocircuits.layers.memories import (
    NonBinaryPatternError,
    SDMConfig,
    SparseDistributedMemory,
    fit_attention_beta,
    intersection_fraction,
)


def _bipolar(shape, g):
    return torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)


def test_intersection_fraction_closed_form_edge_cases():
    n, r = 10, 3
    ball = sum(math.comb(n, k) for k in range(r + 1)) / 2**n
    assert intersection_fraction(n, r, 0) == pytest.approx(ball)  # identical addresses: one ball
    assert intersection_fraction(n, r, 2 * r + 1) == 0.0  # balls too far apart to meet


def test_sdm_read_weights_follow_exp_of_similarity():
    cfg = SDMConfig(n=64, n_locations=20000, radius=24)
    sdm = SparseDistributedMemory(cfg)
    g = torch.Generator().manual_seed(0)
    base = _bipolar((1, 64), g)
    ds = [0, 4, 8, 12, 16, 20, 24, 32]
    others = []
    for d in ds:
        x = base.clone()
        x[0, :d] *= -1
        others.append(x)
    W = sdm.read_weights(base, torch.cat(others))[0] / cfg.n_locations
    expected = torch.tensor([intersection_fraction(64, 24, d) for d in ds])
    assert torch.allclose(W, expected, rtol=0.25)  # empirical counts match the exact expectation
    beta, r2 = fit_attention_beta(64, 24)
    assert r2 > 0.98 and 0.03 < beta < 0.08  # log-linear in d (= linear in similarity n - 2d)


def test_sdm_retrieval_approximates_softmax_attention():
    g = torch.Generator().manual_seed(1)
    P, V = _bipolar((50, 64), g), torch.randn(50, 32, generator=g)
    sdm = SparseDistributedMemory(SDMConfig(n=64, n_locations=20000, radius=24, data_dim=32))
    sdm.write(P, V)
    q = P * torch.where(torch.rand(50, 64, generator=g) < 0.1, -1.0, 1.0)  # 10% noisy queries
    read, _ = sdm.read(q)
    beta, _ = fit_attention_beta(64, 24)
    attention = torch.softmax(beta * q @ P.T, -1) @ V
    cos = torch.nn.functional.cosine_similarity(read, attention)
    assert float(cos.min()) > 0.95
    with pytest.raises(NonBinaryPatternError):
        sdm.read(torch.rand(2, 64))
