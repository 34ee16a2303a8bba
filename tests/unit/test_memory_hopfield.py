"""Row 132: classical, dense (p-body) and modern Hopfield memories against theory."""

import math

import pytest
import torch

from neurocircuits.layers.memories import (
    HOPFIELD_RULES,
    DenseHebbianConfig,
    DenseHebbianMemory,
    HopfieldConfig,
    HopfieldNetwork,
    ModernHopfield,
    NonBinaryPatternError,
    noisy_examples,
    overlap,
    predicted_archetype_overlap,
)
from neurocircuits.registry import UnknownNameError


def _patterns(P, N, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(P, N, generator=g) < 0.5, -1.0, 1.0)


def _retrieval(rule, alpha, N=400, seed=0):
    X = _patterns(int(alpha * N), N, seed)
    net = HopfieldNetwork(HopfieldConfig(N, rule))
    net.store(X)
    s, _ = net(X, n_sweeps=30)
    return overlap(s, X).diagonal()


def test_hebbian_capacity_near_0138N():
    # Amit-Gutfreund-Sompolinsky: retrieval (m ~ 0.97) below alpha_c ~ 0.138, collapse above.
    below = _retrieval("hebbian", 0.10)
    above = _retrieval("hebbian", 0.20)
    far_above = _retrieval("hebbian", 0.30)
    assert float(below.mean()) > 0.98 and float((below > 0.95).float().mean()) == 1.0
    # finite N smooths the transition; most patterns are lost at 0.2 N and all at 0.3 N
    assert float(above.mean()) < 0.75 and float((above > 0.95).float().mean()) < 0.5
    assert float(far_above.mean()) < 0.5 and float((far_above > 0.95).float().mean()) == 0.0


@pytest.mark.parametrize("rule", ["pseudo_inverse", "storkey"])
def test_better_rules_store_beyond_hebbian_capacity(rule):
    m = _retrieval(rule, 0.2)
    assert float(m.min()) == 1.0


def test_noisy_cue_is_cleaned_and_energy_decreases():
    N = 200
    X = _patterns(10, N, 1)
    net = HopfieldNetwork(HopfieldConfig(N))
    net.store(X)
    g = torch.Generator().manual_seed(2)
    flips = torch.where(torch.rand(10, N, generator=g) < 0.2, -1.0, 1.0)
    cue = X * flips
    s, _ = net(cue)
    assert float(overlap(s, X).diagonal().min()) == 1.0
    assert bool((net.energy(s) < net.energy(cue)).all())


def test_binary_memory_refuses_non_binary_patterns():
    net = HopfieldNetwork(HopfieldConfig(4))
    with pytest.raises(NonBinaryPatternError, match="0/1 bits: pass 2 \\* x - 1"):
        net.store(torch.tensor([[0.0, 1.0, 1.0, 0.0]]))
    with pytest.raises(NonBinaryPatternError, match="only -1 and \\+1"):
        net.store(torch.tensor([[0.3, -1.0, 1.0, 1.0]]))
    with pytest.raises(NonBinaryPatternError):
        net.energy(torch.tensor([0.5, 1.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="has 4"):
        net.store(torch.ones(2, 5))
    with pytest.raises(UnknownNameError, match="hebbian"):
        HopfieldConfig(4, rule="hebian")
    assert set(HOPFIELD_RULES.names()) == {"hebbian", "pseudo_inverse", "storkey"}


def _dense_overlap(r, M, seed=0, N=300, K=3):
    g = torch.Generator().manual_seed(seed)
    xi = _patterns(K, N, seed + 10)
    mem = DenseHebbianMemory(DenseHebbianConfig(N, p=4))
    mem.store(noisy_examples(xi, M, r, g))  # the network never sees the archetypes
    cue = noisy_examples(xi, 3, r, g).reshape(-1, N)  # fresh examples as cues
    s, _ = mem(cue, n_sweeps=20)
    return overlap(s, xi).abs().max(1).values


def test_dense_p4_learns_archetypes_above_quality_threshold():
    r = 0.5
    for M in (32, 64):
        rho = (1 - r * r) / (M * r * r)  # 0.094, 0.047: above the quality threshold (rho < 0.37)
        m = _dense_overlap(r, M)
        assert float(m.min()) > 0.9
        assert abs(float(m.mean()) - predicted_archetype_overlap(rho)) < 0.03
    # Poor data set (rho = 0.75): predicted overlap 0.75 < 0.9 and the net does not reach 0.9.
    assert float(_dense_overlap(r, 4).mean()) < 0.9


def test_dense_energy_matches_brute_force_and_mc_descends():
    N, p = 12, 4
    g = torch.Generator().manual_seed(0)
    ex = _patterns(6, N, 3).reshape(2, 3, N)
    mem = DenseHebbianMemory(DenseHebbianConfig(N, p=p))
    mem.store(ex)
    s = _patterns(1, N, 4)
    brute = -N * sum(((ex[k, a] @ s[0]) / N) ** p for k in range(2) for a in range(3)) / 3
    assert float(mem.energy(s)[0]) == pytest.approx(float(brute))
    out, e = mem(s)
    assert float(e[0]) <= float(mem.energy(s)[0])
    with pytest.raises(ValueError, match="even integer"):
        DenseHebbianConfig(10, p=3)


def test_modern_hopfield_one_step_retrieval_and_energy_descent():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2000, 64, generator=g)  # 2000 patterns in 64 dims: far beyond 0.14 N
    idx = torch.arange(0, 2000, 40)
    q = X[idx] + 0.3 * torch.randn(len(idx), 64, generator=g)
    hop = ModernHopfield(beta=1.0)
    out, p = hop(q, X)
    assert bool((p.argmax(-1) == idx).all())
    assert float(torch.nn.functional.cosine_similarity(out, X[idx]).min()) > 0.99
    e0 = hop.energy(q, X)
    e1 = hop.energy(out, X)
    assert bool((e1 <= e0 + 1e-5).all())
    # Energy of a stored, well separated pattern is near its minimum: E >= -lse + ... is bounded below by 0.
    assert float(e1.min()) > -1e-3 - math.log(2000)
