"""ACDC's speculative decision tree gives exactly the circuit and the scores of plain sequential ACDC.

Plain sequential ACDC is ``window=1``: one forward pass per edge test. The tree (default), with or
without the attribution prior, and the chain of cumulative removals (``tree=False``) only change
which configurations are evaluated together, so kept edge sets must be identical and scores equal to
float64 rounding.
"""

from __future__ import annotations

import pytest
import torch
from scipy.stats import spearmanr

from neurocircuits.data.tasks import PromptPairs
from neurocircuits.discover import METHODS, PatchEngine
from neurocircuits.discover._acdc import _KeepRate, _plan_tree, _prior_scores, _Schedule
from neurocircuits.models.handbuilt import induction_model
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig


def _random_transformer() -> tuple[HookedTransformer, PromptPairs]:
    cfg = TransformerConfig(n_layers=2, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.3)
    model = HookedTransformer(cfg, seed=5, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(1)
    r = lambda *s: torch.randint(0, 12, s, generator=g)  # noqa: E731
    return model, PromptPairs(r(5, 6), r(5, 6), r(5), r(5))


def _handbuilt() -> tuple[torch.nn.Module, PromptPairs]:
    hb = induction_model(dtype=torch.float64)
    return hb.model, hb.pairs(12, seed=3)


CASES = {"random": _random_transformer, "handbuilt": _handbuilt}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, torch.nn.Module, PromptPairs]:
    model, pairs = CASES[request.param]()
    return request.param, model, pairs


def _run(model: torch.nn.Module, pairs: PromptPairs, **kw: object):
    engine = PatchEngine(model, pairs, metric="kl_divergence", progress=False)
    return METHODS.get("acdc")(engine, **kw), engine


def test_tree_equals_sequential_acdc(case) -> None:
    name, model, pairs = case
    d_abl = _run(model, pairs, window=1, threshold=1e9)[1].m_ablated  # KL of everything ablated
    n_mixed = 0
    for frac in (1e-4, 3e-3, 2e-2, 1e-1):
        tau = frac * d_abl
        seq, engine = _run(model, pairs, threshold=tau, window=1)
        n_edges = engine.index.n_edges
        kept = int(seq.circuit.sum())
        n_mixed += int(0 < kept < n_edges)
        assert seq.info["n_batched_forwards"] == seq.info["n_configs"]  # one configuration per forward
        for kw in ({}, {"prior": None}, {"window": 3}, {"window": 64}, {"tree": False}):
            fast, _ = _run(model, pairs, threshold=tau, **kw)
            assert torch.equal(fast.circuit, seq.circuit), (name, tau, kw)
            assert torch.allclose(fast.scores, seq.scores, atol=1e-10, rtol=0), (name, tau, kw)
            assert fast.info["distance"] == pytest.approx(seq.info["distance"], abs=1e-10)
            if kw.get("tree", True):  # the chain gains nothing where most edges are kept
                assert fast.info["n_batched_forwards"] < seq.info["n_batched_forwards"], (name, tau, kw)
    assert n_mixed >= 2  # the taus give non-trivial circuits, where keep and remove decisions mix


def test_the_comparison_can_fail(case, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tree walked with swapped keep/remove children (a wrong speculation) is caught: it either
    stops with the off-path error or gives another circuit or other scores."""
    import neurocircuits.discover._acdc as acdc_mod

    _, model, pairs = case
    d_abl = _run(model, pairs, window=1, threshold=1e9)[1].m_ablated
    tau = 3e-3 * d_abl
    seq, _ = _run(model, pairs, threshold=tau, window=1)
    plan = acdc_mod._plan_tree

    def swapped(*args: object, **kw: object):
        return [(f, ext, rc, kc, s) for f, ext, kc, rc, s in plan(*args, **kw)]

    monkeypatch.setattr(acdc_mod, "_plan_tree", swapped)
    try:
        wrong, _ = _run(model, pairs, threshold=tau, window=64)
    except RuntimeError as err:
        assert "off the sequential path" in str(err)
    else:
        assert not (torch.equal(wrong.circuit, seq.circuit) and torch.allclose(wrong.scores, seq.scores, atol=1e-10))


def test_plan_is_a_subtree_in_best_first_order() -> None:
    model, pairs = _random_transformer()
    engine = PatchEngine(model, pairs, metric="kl_divergence", progress=False)
    removed = torch.zeros(engine.index.n_edges, engine.P, dtype=torch.bool)
    sched = _Schedule(engine, removed)
    step, i, extra = sched.advance(0, 0, frozenset())
    for p in (0.05, 0.5, 0.95):
        nodes = _plan_tree(sched, step, i, lambda f, p=p: p, 15, None, chain_only=False)
        assert len(nodes) == 15 and nodes[0][0] == sched.flat[step][i] and not nodes[0][1]
        children = [c for n in nodes for c in n[2:4] if c >= 0]
        assert sorted(children) == list(range(1, 15))  # every node but the root has one parent
        for f, ext, keep_c, rem_c, _ in nodes:
            if rem_c >= 0:
                assert f in nodes[rem_c][1] and nodes[rem_c][1] >= ext  # removal adds the tested edge
            if keep_c >= 0:
                assert f not in nodes[keep_c][1] and nodes[keep_c][1] == ext
    chain = _plan_tree(sched, step, i, lambda f: 0.5, 6, None, chain_only=True)
    assert [n[2] for n in chain] == [-1] * 6 and [n[3] for n in chain] == [1, 2, 3, 4, 5, -1]
    sized = _plan_tree(sched, step, i, lambda f: 0.5, 64, 2.0, chain_only=False)
    assert len(sized) == 3  # p = 1/2, overhead 2: root + both children maximise decisions per cost


def test_prior_bins_edges_by_estimated_effect_over_tau() -> None:
    model, pairs = _random_transformer()
    engine = PatchEngine(model, pairs, metric="kl_divergence", progress=False)
    est = _prior_scores(engine)
    tau = float(est.median())
    rate = _KeepRate(engine, "eap", tau)
    assert rate.bin is not None
    for f in range(est.numel()):  # bin b holds BOUNDS[b-1] <= estimate / tau < BOUNDS[b]
        b = rate.bin[f]
        r = float(est[f]) / tau
        assert (b == 0 or r >= _KeepRate.BOUNDS[b - 1]) and (b == len(_KeepRate.BOUNDS) or r < _KeepRate.BOUNDS[b])
    f = max(range(est.numel()), key=lambda e: float(est[e]))
    assert rate(f) == pytest.approx(_KeepRate.PRIOR[rate.bin[f]])
    rate.record(f, False)
    rate.record(f, False)
    assert rate(f) == pytest.approx(2 * _KeepRate.PRIOR[rate.bin[f]] / 4)
    flat = _KeepRate(engine, None)
    assert flat.bin is None and flat(0) == pytest.approx(0.25)


def test_kl_prior_estimates_the_single_edge_kl_change(monkeypatch: pytest.MonkeyPatch) -> None:
    # the first-order (EAP) term of a KL change vanishes at the clean run; the prior's second-order
    # Fisher estimate must track the exact KL change of ablating each edge alone
    import neurocircuits.discover._acdc as acdc_mod

    monkeypatch.setattr(acdc_mod, "PRIOR_PROMPTS", 64)  # every prompt: the estimator, not its sampling
    cfg = TransformerConfig(n_layers=2, n_heads=3, d_model=24, d_head=8, d_mlp=32, d_vocab=12, n_ctx=16, init_std=0.2)
    model = HookedTransformer(cfg, seed=5, dtype=torch.float64).eval()
    g = torch.Generator().manual_seed(1)
    clean = torch.randint(0, 12, (64, 6), generator=g)
    corrupt = clean.clone()
    corrupt[:, 2] = torch.randint(0, 12, (64,), generator=g)
    pairs = PromptPairs(clean, corrupt, torch.randint(0, 12, (64,), generator=g), torch.randint(0, 12, (64,), generator=g))
    engine = PatchEngine(model, pairs, metric="kl_divergence", progress=False)
    est = _prior_scores(engine)
    exact = METHODS.get("edge_patching")(engine).scores.reshape(-1)
    moved = exact > 1e-9
    assert int(moved.sum()) > 50
    assert spearmanr(est[moved], exact[moved])[0] > 0.9
    assert 0.6 < float((est[moved] / exact[moved]).median()) < 1.5
    assert float(METHODS.get("eap")(engine).scores.abs().max()) < 1e-10 * float(exact.max())  # why EAP cannot serve


def test_cost_fit_recovers_the_fixed_cost_per_forward() -> None:
    from neurocircuits.discover._acdc import FORWARD_OVERHEAD_CONFIGS, MIN_OVERHEAD_CONFIGS, _CostFit

    fit = _CostFit()
    assert fit.overhead("cut") == FORWARD_OVERHEAD_CONFIGS  # nothing timed yet
    for k in (1, 3, 7):
        for _ in range(3):
            fit.add("cut", k, 0.003 + 0.0005 * k)  # 3 ms per forward + 0.5 ms per configuration
    assert fit.overhead("cut") == pytest.approx(6.0)
    for k in (1, 3):
        for _ in range(3):
            fit.add("late", k, 0.003 + 0.0003 * k)
    assert fit.overhead("late") == pytest.approx(10.0)
    # a cut not timed yet (an earlier one: more layers per configuration) is planned as if its
    # configurations were dear
    assert fit.overhead("other") == MIN_OVERHEAD_CONFIGS
    fit.add("other", 2, 0.003 + 2 * 0.002)  # timed once: its own cost per configuration, the fitted fixed cost
    assert fit.overhead("other") == pytest.approx(0.003 / 0.002)


def test_cost_fit_asks_for_a_second_size_until_it_can_fit() -> None:
    from neurocircuits.discover._acdc import _CostFit

    fit = _CostFit()
    for _ in range(2):
        fit.add("cut", 5, 0.01)
    assert fit.other_size("cut", 5) is None  # not yet timed 3 times at the planned size
    fit.add("cut", 5, 0.01)
    assert fit.other_size("cut", 5) == 2 and fit.other_size("cut", 1) is None
    for _ in range(3):
        fit.add("cut", 2, 0.005)
    assert fit.other_size("cut", 5) is None and fit.other_size("cut", 2) is None  # two sizes: fitted
    assert fit.overhead("cut") == pytest.approx(min(16.0, max(0.25, (0.005 - 2 * 0.005 / 3) / (0.005 / 3))))
    one = _CostFit()
    for _ in range(3):
        one.add("cut", 1, 0.01)
    assert one.other_size("cut", 1) == 2  # sequential plans explore a pair


def test_row_subsets_of_squared_attributions_add_up() -> None:
    # reader_grads / attribution_scores on subsets of the prompts: per-prompt squares over two halves
    # sum to those over all prompts (the KL prior runs on a subset)
    model, pairs = _random_transformer()
    engine = PatchEngine(model, pairs, metric="kl_divergence", progress=False)
    v = torch.randn(engine.B, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def objective(out: torch.Tensor, p: object, rows: torch.Tensor | None) -> torch.Tensor:
        w = v if rows is None else v[rows]
        return (out[:, :, -1] * w).sum()

    def squares(rows: torch.Tensor | None) -> torch.Tensor:
        return engine.attribution_scores(engine.reader_grads(objective=objective, rows=rows), True, rows=rows)

    whole = squares(None)
    halves = squares(torch.arange(0, 2)) + squares(torch.arange(2, engine.B))
    assert float(whole.abs().max()) > 0
    assert torch.allclose(halves, whole, rtol=1e-9, atol=0)
