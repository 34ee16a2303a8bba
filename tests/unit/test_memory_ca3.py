"""Row 91: CA3-like spiking content-addressable memory (learn / recall from fragments / forget)."""

import pytest
import torch

from neurocircuits.layers.memories import CA3Config, CA3Memory

N, K = 100, 12


def _patterns():
    pats = []
    for i in range(4):  # orthogonal (disjoint) patterns
        p = torch.zeros(N)
        p[i * K:(i + 1) * K] = 1
        pats.append(p)
    for i in range(4):  # overlapping chain: consecutive patterns share 3 cells
        p = torch.zeros(N)
        s = 48 + i * (K - 3)
        p[s:s + K] = 1
        pats.append(p)
    return pats


def _cue(p, frac, seed):
    idx = p.nonzero().squeeze(1)
    sel = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[: int(frac * K)]]
    c = torch.zeros(N)
    c[sel] = 1
    return c


@pytest.mark.parametrize("frac", [0.25, 0.5])
def test_recall_full_pattern_from_fragment_then_forget_one(frac):
    pats = _patterns()
    mem = CA3Memory(CA3Config(n_neurons=N))
    for p in pats:
        mem.learn(p)
    for j, p in enumerate(pats):
        recalled, raster = mem.recall(_cue(p, frac, j))
        assert torch.equal(recalled, p), (j, int((recalled * p).sum()), int((recalled * (1 - p)).sum()))
        assert raster.sum() > 0
    mem.forget(pats[5])  # an overlapping one: its shared synapses survive for patterns 4 and 6
    for j, p in enumerate(pats):
        recalled, _ = mem.recall(_cue(p, frac, j))
        if j == 5:
            assert int((recalled * p).sum()) < K // 2  # no longer completed
        else:
            assert torch.equal(recalled, p)


def test_ca3_input_checks():
    mem = CA3Memory(CA3Config(n_neurons=10))
    with pytest.raises(ValueError, match="binary 0/1"):
        mem.learn(torch.full((10,), 0.5))
    with pytest.raises(ValueError, match="never learned"):
        mem.forget(torch.ones(10))
