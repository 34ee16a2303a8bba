"""Row 20: consolidated Hebbian learning under insertion/erasure noise approaches ideal Willshaw."""

import pytest
import torch

from neurocircuits.layers.memories import (
    ConsolidatedHebbianMemory,
    ConsolidationConfig,
    WillshawMemory,
    retrieval_errors,
    sparse_patterns,
)

N, K, M = 300, 10, 150


def _setup():
    g = torch.Generator().manual_seed(0)
    P = sparse_patterns(M, N, K, g)
    ideal = WillshawMemory(N)
    ideal.store(P)
    return P, ideal, g


def test_consolidation_under_noise_matches_ideal_willshaw_error():
    P, ideal, g = _setup()
    e_ideal = float(retrieval_errors(ideal, P, 0.5, torch.Generator().manual_seed(1)).mean())
    cons = ConsolidatedHebbianMemory(N, ConsolidationConfig(p_insert=0.01, p_erase=0.1, consolidation_threshold=3))
    naive = ConsolidatedHebbianMemory(N, ConsolidationConfig(p_insert=0.01, p_erase=0.1, consolidation_threshold=1))
    for p in P:
        cons.learn_episode(p, 8, g)
        naive.learn_episode(p, 1, g)
    e_cons = float(retrieval_errors(cons, P, 0.5, torch.Generator().manual_seed(1)).mean())
    e_naive = float(retrieval_errors(naive, P, 0.5, torch.Generator().manual_seed(1)).mean())
    assert e_cons <= e_ideal + 0.2  # ~0.87 vs 0.81 wrong units per pattern
    assert e_naive > 5 * e_ideal  # storing noisy presentations directly is far worse
    spurious = float(((cons.W > 0) & (ideal.W == 0)).sum())
    assert spurious < 0.01 * float(ideal.W.sum())  # noise pairs almost never reach the threshold
    assert float(((naive.W > 0) & (ideal.W == 0)).sum()) > 100 * max(spurious, 1.0)


def test_energy_budget_stops_learning():
    P, _, g = _setup()
    mem = ConsolidatedHebbianMemory(N, ConsolidationConfig(energy_budget=20000.0))
    results = [mem.learn_episode(p, 8, g) for p in P]
    assert mem.energy <= 20000.0
    assert results[0] and not results[-1]
    with pytest.raises(ValueError, match="0/1"):
        mem.present(torch.full((N,), 0.5))
