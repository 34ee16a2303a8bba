"""Row 129: multitasking Hebbian network -- diluted patterns are retrieved in parallel."""

import pytest
import torch

from neurocircuits.layers.memories import MultitaskHopfield, diluted_patterns, hierarchical_overlaps


def _amplitudes(d, N=2000, K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = diluted_patterns(K, N, d, g)
    net = MultitaskHopfield(N)
    net.store(X)
    cue = torch.where(X[0] != 0, X[0], torch.where(torch.rand(N, generator=g) < 0.5, -1.0, 1.0))
    s, _ = net(cue.unsqueeze(0), n_sweeps=30)
    return (s @ X.T / N)[0].abs().sort(descending=True).values


def test_mild_dilution_gives_hierarchical_parallel_retrieval():
    m = _amplitudes(0.2)
    assert torch.allclose(m.double(), hierarchical_overlaps(3, 0.2), atol=0.02)  # 0.8, 0.16, 0.032
    assert float(m[0] / m[2]) > 10


def test_strong_dilution_gives_nearly_equal_amplitudes():
    m = _amplitudes(0.9)
    assert float(m[0] / m[2]) < 1.5 and float(m[2]) > 0.05  # all three patterns retrieved


def test_multitask_rejects_bad_patterns():
    net = MultitaskHopfield(4)
    with pytest.raises(ValueError, match="-1, 0 and \\+1"):
        net.store(torch.tensor([[0.5, 1.0, 0.0, -1.0]]))
