"""Active dendrites (catalog row 7): simulated false-match rates equal the hypergeometric formula."""

from __future__ import annotations

import math

import pytest
import torch

from neurocircuits.layers.units import ActiveDendriteNeuron, random_sdrs, sdr_false_match_prob

N, A = 2048, 40


def _rate(neuron: ActiveDendriteNeuron, trials: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    hits = 0
    for _ in range(trials // 10_000):
        pred, _ = neuron(random_sdrs(10_000, N, A, generator=gen))
        hits += int(pred.sum())
    return hits / trials


def test_formula_small_cases_by_enumeration():
    # n=6, a=2, s=3: P(overlap >= 1) = 1 - C(3,2)/C(6,2) = 1 - 3/15
    assert sdr_false_match_prob(6, 2, 3, 1) == pytest.approx(0.8)
    assert sdr_false_match_prob(6, 2, 3, 2) == pytest.approx(3 / 15)
    assert sdr_false_match_prob(10, 3, 4, 0) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        sdr_false_match_prob(10, 11, 4, 1)


@pytest.mark.parametrize("s,theta", [(24, 2), (24, 3), (64, 5)])
def test_simulated_false_match_rate_matches_hypergeometric(s, theta):
    gen = torch.Generator().manual_seed(s + theta)
    neuron = ActiveDendriteNeuron(N, theta=theta)
    neuron.learn_pattern(random_sdrs(1, N, s, generator=gen)[0])  # a segment with s random synapses
    assert neuron.segment_size() == s
    trials = 50_000
    p = sdr_false_match_prob(N, A, s, theta)
    rate = _rate(neuron, trials, seed=theta)
    sigma = math.sqrt(p * (1 - p) / trials)
    assert abs(rate - p) < 5 * sigma + 1e-6, (rate, p)


def test_union_of_patterns_is_recognised_with_few_false_positives():
    gen = torch.Generator().manual_seed(0)
    neuron = ActiveDendriteNeuron(N, theta=12)
    stored = random_sdrs(10, N, A, generator=gen)
    for pattern in stored:  # 10 patterns, 20 synapses sampled from each, all on one segment
        neuron.learn_pattern(pattern, synapses=20, generator=gen)
    pred, _ = neuron(stored)
    assert pred.all()  # every stored pattern is recognised
    union = neuron.segment_size()
    assert 190 <= union <= 200
    p = sdr_false_match_prob(N, A, union, 12)
    assert p < 1e-3
    trials = 50_000
    rate = _rate(neuron, trials, seed=1)
    assert abs(rate - p) < 5 * math.sqrt(p / trials) + 1e-5
    # noisy copies (10 of the 40 active bits moved elsewhere) of stored patterns are still recognised
    noisy = stored.clone()
    for row in noisy:
        on = torch.nonzero(row).flatten()
        row[on[torch.randperm(on.numel(), generator=gen)[:10]]] = 0
        off = torch.nonzero(row == 0).flatten()
        row[off[torch.randperm(off.numel(), generator=gen)[:10]]] = 1
    assert neuron(noisy)[0].mean() >= 0.8


def test_wrong_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\[batch, 2048\]"):
        ActiveDendriteNeuron(N)(torch.zeros(3, 100))
