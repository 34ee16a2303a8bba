"""Row 125: Assembly Calculus association and merge (Papadimitriou et al. 2020, PNAS 117:14464)."""

import pytest
import torch

from neurocircuits.learning._assembly import Area, AssemblyConfig, merge, overlap_fraction


def _two_assemblies(seed, n=2000, k=40):
    area = Area(AssemblyConfig(n=n, k=k, p=0.05, beta=0.1, seed=seed))
    stim = torch.ones(k, dtype=torch.bool)
    area.connect("a", k)
    area.connect("b", k)
    assert area.project("a", stim, 10)[-1] == 1.0
    A = area.firing.clone()
    area.firing = torch.zeros(n, dtype=torch.bool)
    assert area.project("b", stim, 10)[-1] == 1.0
    return area, stim, A, area.firing.clone()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_association_makes_assemblies_overlap(seed):
    area, stim, A, B = _two_assemblies(seed)
    chance = area.cfg.k / area.cfg.n  # 0.02
    assert overlap_fraction(A, B) <= 2 * chance  # independent projections: chance-level overlap
    assert overlap_fraction(B, area.recall({"a": stim}, 3)) <= 2 * chance
    ov = area.associate("a", stim, "b", stim, rounds=20, recall_rounds=1)
    assert ov[0] <= 2 * chance
    assert ov[-1] > 0.4 and ov[-1] > 10 * chance  # measured 0.57-0.62
    assert ov[20] > ov[10] > ov[2]  # more association rounds, more overlap
    # firing a alone now recruits part of B's assembly while still recalling most of A's
    assert overlap_fraction(B, area.recall({"a": stim}, 3)) > 0.25  # measured 0.375-0.45
    assert overlap_fraction(A, area.recall({"a": stim}, 3)) > 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_merge_converges_and_is_reactivated_by_either_parent(seed):
    n, k = 1000, 31
    stim = torch.ones(k, dtype=torch.bool)
    parents = []
    for i in range(2):
        area = Area(AssemblyConfig(n=n, k=k, p=0.05, beta=0.1, seed=seed + 10 * (i + 1)))
        area.connect("s", k)
        area.project("s", stim, 10)
        parents.append(area)
    A, B = parents[0].firing.clone(), parents[1].firing.clone()
    C = Area(AssemblyConfig(n=n, k=k, p=0.05, beta=0.1, seed=seed + 30))
    C.connect("A", n)
    C.connect("B", n)
    ov = merge(C, "A", A, "B", B, rounds=20, parents=(parents[0], parents[1]))
    first = next(i for i, o in enumerate(ov) if o > 0.9)
    assert first < 10 and min(ov[first:]) > 0.9 and ov[-1] == 1.0  # converged
    m = C.firing
    rnd = torch.zeros(n, dtype=torch.bool)
    rnd[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:k]] = True
    for name, asm in (("A", A), ("B", B)):
        alone = overlap_fraction(m, C.recall({name: asm}, 1))  # measured 0.97-1.0
        random = overlap_fraction(m, C.recall({name: rnd}, 1))  # measured 0.0-0.29
        assert alone > 0.9 and alone > random + 0.5
    # the merged assembly projects back onto each parent's assembly
    for parent, asm in zip(parents, (A, B)):
        assert overlap_fraction(asm, parent.recall({"merge": m}, 1)) > 0.5  # measured 0.68-0.84
        assert overlap_fraction(asm, parent.recall({"merge": rnd}, 1)) < 0.2


def test_associate_and_merge_errors():
    area = Area(AssemblyConfig(n=50, k=5, p=0.2))
    area.connect("a", 5)
    s = torch.ones(5, dtype=torch.bool)
    with pytest.raises(ValueError, match="two different"):
        area.associate("a", s, "a", s)
    with pytest.raises(KeyError, match="connect"):
        area.associate("a", s, "b", s)
    with pytest.raises(ValueError, match="rounds"):
        area.recall({"a": s}, 0)
    with pytest.raises(ValueError, match="boolean mask of shape"):
        area.step({"a": torch.ones(4, dtype=torch.bool)})
    with pytest.raises(ValueError, match="boolean mask of shape"):
        area.step({"a": torch.ones(5)})
    with pytest.raises(ValueError, match="rounds must be >= 2"):
        merge(area, "a", s, "b", s, rounds=1)
    with pytest.raises(KeyError, match="connect"):
        merge(area, "a", s, "b", s)
    with pytest.raises(ValueError, match="two different"):
        merge(area, "a", s, "a", s)
