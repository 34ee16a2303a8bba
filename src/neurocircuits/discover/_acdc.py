"""ACDC: Automatic Circuit DisCovery (Conmy et al. 2023, "Towards Automated Circuit Discovery for
Mechanistic Interpretability").

Readers are visited in reverse topological order (from the output down). For each incoming edge
of the reader, in turn, the edge is tentatively ablated on top of the edges removed so far; if the
distance of the patched model from the full model grows by less than ``tau``

    d(circuit - e) - d(circuit) < tau,

the edge is removed for good, else it is kept for good. The distance is the KL divergence to the
clean output distribution for ``metric="kl_divergence"`` and ``|m(circuit) - m(full)|`` for the
other metrics. A reader whose owner no longer reaches the output loses all its incoming edges
without a forward pass (ablating them cannot change anything).

Batching without changing the algorithm (speculative decision tree). The decisions are sequential:
the test of the k-th next edge depends on the k-1 decisions before it. From the current state, every
sequence of outcomes of the next tests (keep / remove, including readers skipped as unreachable on
the way) leads to one configuration to test next: the nodes of a binary decision tree. We evaluate
a subtree of it in ONE batched forward (configurations stacked along the batch) and then walk it
with the real outcomes, so one forward decides as many edges as the walk goes deep, and every
decision is the one the sequential algorithm makes on the same configuration. The subtree holds the
nodes most likely to be reached (best-first by the product along the path of each edge's estimated
keep or remove probability), sized to maximise expected decisions per unit of forward cost (a fixed
cost per forward plus a cost per configuration, fitted per cut hook to the forwards timed so far):
with mostly "remove" outcomes it is the chain of cumulative removals, with mixed outcomes a
balanced tree.
``tree=False`` uses the chain only (the previous scheme); ``window=1`` is plain sequential ACDC.

The keep probability of an edge (used only to shape the tree, never to decide) comes from
``prior="eap"``: one forward and backward pass before the search estimates each edge's effect alone
(the attribution-patching score for a score metric; for the KL divergence, whose first order
vanishes at the clean run, the second-order term through the Fisher matrix of the clean output, see
:func:`_prior_scores`); the edges are put in bins by estimate / tau, and each bin's keep rate is
estimated from the decisions so far (starting from 2 % below 0.1 tau to 99 % above 10 tau). With
``prior=None`` every edge gets the overall keep rate.

The pruned set is written atomically after every reader, so an interrupted run resumes.
"""

from __future__ import annotations

import heapq
import json
import os
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch

from ..graph import write_atomic
from ._engine import PatchEngine
from ._index import DiscoveryError
from ._loops import patching_loop
from ._methods import METHODS, MethodOutput, _no_extra
from ._metrics import answer_logits

#: fixed cost of one patched forward in units of one configuration's cost, until the run has timed
#: enough forwards to fit it (``_CostFit``); measured on CPU for the small bench model: ~1.4 ms per
#: forward + ~0.6 ms per configuration at the second block's readers.
FORWARD_OVERHEAD_CONFIGS = 2.0
#: prompts the KL prior is estimated on (the first ones): it only shapes the speculation
PRIOR_PROMPTS = 8
#: the smallest fixed cost per forward (in configurations) the fit may give; also the guess for a cut
#: not timed yet once others are
MIN_OVERHEAD_CONFIGS = 0.25


def _distance(engine: PatchEngine, values: torch.Tensor) -> torch.Tensor:
    if engine.metric_kind == "distance":
        return values
    return (values - engine.m_full).abs()


class _Schedule:
    """The sequential ACDC state machine without the forward passes.

    A cursor ``(step, i)`` points at candidate ``i`` of reader ``order[step]``. ``advance`` moves a
    cursor to the next edge test for a hypothetical removed set ``removed | extra`` (skipping readers
    whose owner is unreachable there, whose edges it adds to ``extra``), exactly as the sequential
    algorithm would.
    """

    def __init__(self, engine: PatchEngine, removed: torch.Tensor) -> None:
        idx = engine.index
        P = engine.P
        self.order = sorted(range(len(idx.readers)), reverse=True)
        self.flat: list[list[int]] = []
        self.owner_out: list[list[int] | None] = []
        writer_of = {x.name: x.index for x in idx.writers}
        for r in self.order:
            cands = sorted(idx.edges_into(r), key=lambda e: -int(idx.edge_writer[e]))
            self.flat.append([e * P + p for e in cands for p in range(P)])
            owner = idx.readers[r].owner
            if owner is None:
                self.owner_out.append(None)
            else:
                out = idx.edges_from(writer_of[owner])
                self.owner_out.append([e * P + p for e in out for p in range(P)])
        cut_of = {r: engine.group_cut[gi] for gi, g in enumerate(idx.groups) for r in g.readers}
        self.cut = [cut_of.get(r) for r in self.order]  # the layers a test at this reader runs
        self.removed: set[int] = set(torch.nonzero(removed.view(-1)).flatten().tolist())

    def unreachable(self, step: int, extra: frozenset[int]) -> bool:
        out = self.owner_out[step]
        if out is None:
            return False
        return all(f in self.removed or f in extra for f in out)

    def advance(self, step: int, i: int, extra: frozenset[int]) -> tuple[int, int, frozenset[int]]:
        """Next test from ``(step, i)``: the cursor (``step == len(order)`` at the end) and the
        removed set on top of ``self.removed`` including unreachable readers skipped on the way."""
        n = len(self.order)
        while step < n:
            if i == 0 and self.unreachable(step, extra):
                extra = extra | frozenset(self.flat[step])
                step += 1
                continue
            if i < len(self.flat[step]):
                return step, i, extra
            step, i = step + 1, 0
        return step, 0, extra


def _plan_tree(sched: _Schedule, step: int, i: int, p_keep: Callable[[int], float], budget: int,
               overhead: float | None, chain_only: bool) -> list[tuple[int, frozenset[int], int, int, int]]:
    """Best-first subtree of the decision tree from the cursor ``(step, i)`` (already advanced).

    The tree stays within readers that share the cut hook of reader ``step`` (the batch runs the
    layers from the earliest cut of its configurations on, so one earlier test would make every
    configuration run them). Returns nodes ``(edge, extra, keep_child, remove_child, step)`` in
    evaluation order (node 0 is the next sequential test; children are node indices or -1 when not evaluated). With ``overhead``
    (the fixed cost of a forward in configurations) the number of nodes maximises
    ``E[decisions] / (overhead + nodes)`` over at most ``budget`` nodes; with None it is ``budget``.
    """
    n = len(sched.order)
    nodes: list[list[Any]] = []
    heap: list[tuple[float, int, int, int, frozenset[int], int, int]] = []
    tie = 0
    heapq.heappush(heap, (-1.0, tie, step, i, frozenset(), -1, 0))
    expected, best_n, best_rate = 0.0, 1, -1.0
    while heap and len(nodes) < budget:
        negp, _, s, j, extra, parent, side = heapq.heappop(heap)
        if s >= n:
            continue
        k = len(nodes)
        f = sched.flat[s][j]
        nodes.append([f, extra, -1, -1, s])
        if parent >= 0:
            nodes[parent][2 + side] = k
        expected += -negp
        rate = expected / (overhead + len(nodes)) if overhead is not None else float(len(nodes))
        if rate > best_rate + 1e-12:
            best_n, best_rate = len(nodes), rate
        prob = -negp
        pk = p_keep(f)
        for side_c, (q, ext) in enumerate(((pk, extra), (1.0 - pk, extra | {f}))):
            if chain_only and side_c == 0:
                continue
            s2, j2, ext2 = sched.advance(s, j + 1, ext)
            if any(sched.cut[t] != sched.cut[step] for t in range(s, min(s2, n - 1) + 1)):
                continue  # a test that runs more layers would make the whole batch run them
            tie += 1
            heapq.heappush(heap, (-prob * q, tie, s2, j2, ext2, k, side_c))
    nodes = nodes[:best_n]
    out = []
    for f, extra, kc, rc, s in nodes:
        out.append((f, extra, kc if kc < best_n else -1, rc if rc < best_n else -1, s))
    return out


@METHODS.register("acdc", level="edge", doc="ACDC greedy reverse-topological pruning with threshold tau")
def acdc(engine: PatchEngine, threshold: float | None = None, checkpoint: str | os.PathLike[str] | None = None,
         window: int | None = None, tree: bool = True, prior: str | None = "eap", **kwargs: Any) -> MethodOutput:
    """Run ACDC with ``tau = threshold``.

    Args:
        threshold: tau. Default: ``0.01 * d(all edges ablated)``, i.e. 1% of the total effect.
        checkpoint: JSON file for the pruned set; an existing file from the same run is resumed.
        window: at most this many speculative configurations per forward (default: the memory
            chunk); ``window=1`` is plain sequential ACDC, one forward per edge test.
        tree: speculate over a decision tree (True, default) or over the chain of cumulative
            removals only (False). Neither changes the circuit or the scores, only the cost.
        prior: ``"eap"`` (keep probabilities for the tree from attribution-patching scores) or
            None (one keep rate for all edges). Shapes the speculation only.

    Returns:
        scores: the increase of the distance when the edge was tested (0 when it decreased; 0 for
        edges removed without a test); circuit: the kept edges.
    """
    with patching_loop():
        return _acdc(engine, threshold, checkpoint, window, tree, prior, **kwargs)


def _acdc(engine: PatchEngine, threshold: float | None, checkpoint: str | os.PathLike[str] | None,
          window: int | None, tree: bool, prior: str | None, **kwargs: Any) -> MethodOutput:
    _no_extra("acdc", kwargs)
    idx = engine.index
    E, P = idx.n_edges, engine.P
    if threshold is None:  # the all-ablated run costs a forward: only when tau is not given
        tau = 0.01 * float(_distance(engine, torch.tensor([engine.m_ablated], dtype=torch.float64))[0])
    else:
        tau = float(threshold)
    if tau < 0:
        raise DiscoveryError(f"ACDC threshold tau must be >= 0, got {tau}.")
    window = engine.n_patch_configs_per_chunk if window is None else max(1, int(window))
    removed = torch.zeros(E, P, dtype=torch.bool)
    scores = torch.zeros(E, P, dtype=torch.float64)
    start = 0
    cur = float(_distance(engine, torch.tensor([engine.m_full], dtype=torch.float64))[0])
    ident = {"format": "neurocircuits.acdc", "version": 1, "tau": tau, "metric": engine.metric_name,
             "ablation": engine.ablation_name, "n_edges": E, "P": P, "graph": idx.graph.name}
    if checkpoint is not None and Path(checkpoint).is_file():
        data = json.loads(Path(checkpoint).read_text())
        mismatch = {k: (data.get(k), v) for k, v in ident.items() if data.get(k) != v}
        if mismatch:
            raise DiscoveryError(
                f"checkpoint {str(checkpoint)!r} belongs to another run (differs in {mismatch}); delete it or "
                "pass another checkpoint path."
            )
        start = int(data["next_reader"])
        removed.view(-1)[torch.tensor(data["removed"], dtype=torch.long)] = True
        scores = torch.tensor(data["scores"], dtype=torch.float64).view(E, P)
        cur = float(data["current"])
    if prior not in (None, "eap"):
        raise DiscoveryError(f"ACDC prior must be 'eap' or None, got {prior!r}.")
    sched = _Schedule(engine, removed)
    keep_rate = _KeepRate(engine, prior if tree and window > 1 else None, tau)
    cost = _CostFit()
    n_readers = len(sched.order)
    rflat, sflat = removed.view(-1), scores.view(-1)
    n_forward = n_configs = n_kept = n_tested = 0
    bar = None
    if engine.progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"ACDC tau={tau:.3g}", initial=start, total=n_readers, leave=False)

    def finish_readers(s_from: int, s_to: int) -> None:
        # readers s_from..s_to-1 are done: checkpoint after each (as the sequential algorithm does)
        for s in range(s_from, s_to):
            if checkpoint is not None:
                write_atomic(checkpoint, json.dumps({
                    **ident, "next_reader": s + 1, "current": cur, "removed": sorted(sched.removed),
                    "scores": sflat.tolist(),
                }))
            if bar is not None:
                bar.update(1)

    def commit(extra: frozenset[int]) -> None:
        if extra:
            sched.removed |= extra
            rflat[torch.tensor(sorted(extra), dtype=torch.long)] = True

    step, i, extra = sched.advance(start, 0, frozenset())
    commit(extra)
    finish_readers(start, step)
    while step < n_readers:
        if tree:
            key = sched.cut[step]
            nodes = _plan_tree(sched, step, i, keep_rate, window, cost.overhead(key), chain_only=False)
            other = cost.other_size(key, len(nodes))
            if other is not None and other <= window:  # time a second size, so the fixed cost can be fitted
                nodes = _plan_tree(sched, step, i, keep_rate, other, None, chain_only=False)
        else:
            nodes = _plan_tree(sched, step, i, keep_rate, _best_window(n_kept, n_tested, window), None, chain_only=True)
        m = engine.empty_mask(len(nodes)).view(len(nodes), E * P)
        m[:] = rflat.to(m.dtype)
        for t, (f, ext, _, _, _) in enumerate(nodes):
            m[t, torch.tensor([f, *ext], dtype=torch.long)] = 1.0
        t0 = time.perf_counter()
        d = _distance(engine, engine.run_masks(m.view(len(nodes), E, P), desc="acdc")).tolist()
        cost.add(sched.cut[step], len(nodes), time.perf_counter() - t0)
        n_forward += 1
        n_configs += len(nodes)
        k = 0
        while k >= 0 and step < n_readers:
            f = nodes[k][0]
            if f != sched.flat[step][i]:
                raise RuntimeError(f"ACDC speculation went off the sequential path at reader step {step}; please report.")
            inc = d[k] - cur
            sflat[f] = max(inc, 0.0)
            n_tested += 1
            keep_rate.record(f, inc >= tau)
            if inc < tau:
                ext_now = frozenset((f,))
                cur = d[k]
                k = nodes[k][3]
            else:
                ext_now = frozenset()
                n_kept += 1
                k = nodes[k][2]
            commit(ext_now)
            s0 = step
            step, i, extra = sched.advance(step, i + 1, frozenset())
            commit(extra)
            finish_readers(s0, step)
    if bar is not None:
        bar.close()
    return MethodOutput(scores, circuit=~removed, info={"tau": tau, "n_batched_forwards": n_forward,
                                                       "n_configs": n_configs, "distance": cur})


class _CostFit:
    """Least-squares fit ``time = a + b * configurations`` of the timed forwards, one per key (the cut
    hook of the reader under test: the layers a forward runs); ``overhead`` is ``a / b`` (the fixed
    cost in configurations). A key timed at fewer than two sizes (3 times each) borrows ``a`` from
    the keys already fitted (the fixed cost of a forward is mostly the same Python and hook work,
    whatever layers it runs) and takes ``b`` from its own mean; a key not timed at all gets
    :data:`MIN_OVERHEAD_CONFIGS` (its cut comes earlier, so its configurations run more layers); with
    nothing fitted yet it is :data:`FORWARD_OVERHEAD_CONFIGS`."""

    def __init__(self) -> None:
        self.n: dict[Any, dict[int, list[float]]] = {}

    def add(self, key: Any, k: int, seconds: float) -> None:
        self.n.setdefault(key, {}).setdefault(k, []).append(seconds)

    def _fit(self, key: Any) -> tuple[float, float] | None:
        n = self.n.get(key, {})
        sizes = [k for k, ts in n.items() if len(ts) >= 3]
        if len(sizes) < 2:
            return None
        xs = [float(k) for k in sizes for _ in n[k]]
        ys = [t for k in sizes for t in n[k]]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        return my - b * mx, b

    def other_size(self, key: Any, planned: int) -> int | None:
        """A size to plan instead of ``planned`` while ``key`` cannot be fitted because every forward
        so far had that size (plans often hit the window): half of it (2 for 1); None otherwise."""
        n = self.n.get(key, {})
        if len(n.get(planned, ())) < 3 or sum(len(ts) >= 3 for ts in n.values()) >= 2:
            return None
        return 2 if planned == 1 else planned // 2

    def overhead(self, key: Any) -> float:
        fit = self._fit(key)
        if fit is None:
            fits = [f for f in (self._fit(other) for other in self.n if other != key) if f is not None and f[1] > 0]
            n = self.n.get(key, {})
            if not fits:
                return FORWARD_OVERHEAD_CONFIGS
            if not n:  # not timed yet: ACDC reaches a cut after the later ones, and an earlier cut runs more
                # layers (the last layer may compute one position only, so many times more): plan its
                # first forward as if configurations were dear, then fit it from that forward
                return MIN_OVERHEAD_CONFIGS
            a = sorted(f[0] for f in fits)[len(fits) // 2]
            mean_k = sum(k * len(ts) for k, ts in n.items()) / sum(len(ts) for ts in n.values())
            mean_t = sum(sum(ts) for ts in n.values()) / sum(len(ts) for ts in n.values())
            fit = (a, (mean_t - a) / mean_k)
        a, b = fit
        if b <= 0:
            return 16.0
        return min(16.0, max(MIN_OVERHEAD_CONFIGS, a / b))


class _KeepRate:
    """Estimated probability that ACDC keeps an edge (flat index), from the decisions so far.

    Without a prior: one rate for all edges (prior 1 keep in 4 tests). With ``prior="eap"``: each
    edge's effect alone is estimated (:func:`_prior_scores`: first order for a score metric, second
    order for the KL divergence; in the units of the ACDC distance) and the edges are binned by
    estimate / tau at :attr:`BOUNDS`; each bin has its own rate, starting from :attr:`PRIOR`.
    (Measured on the bench models with the KL target: no edge below 0.1 tau was kept, 0-20 % of
    those at 0.1-1 tau, 75-82 % at 1-3 tau, all above 3 tau.)
    """

    BOUNDS = (0.1, 0.3, 1.0, 3.0, 10.0)
    PRIOR = (0.02, 0.1, 0.2, 0.75, 0.95, 0.99)

    def __init__(self, engine: PatchEngine, prior: str | None, tau: float = 0.0) -> None:
        self.bin: list[int] | None = None
        nb = len(self.PRIOR)
        if prior == "eap":
            try:
                s = _prior_scores(engine)
            except (RuntimeError, DiscoveryError):  # e.g. a model without gradients: no prior
                s = None
            if s is not None and bool(torch.isfinite(s).all()):
                ratio = s / tau if tau > 0 else torch.where(s > 0, float("inf"), 0.0)
                self.bin = torch.bucketize(ratio, torch.tensor(self.BOUNDS, dtype=ratio.dtype), right=True).tolist()
        self.kept = [0.0] * nb
        self.tested = [0.0] * nb

    def __call__(self, f: int) -> float:
        if self.bin is None:
            return (self.kept[0] + 1.0) / (self.tested[0] + 4.0)
        b = self.bin[f]
        return (self.kept[b] + 2.0 * self.PRIOR[b]) / (self.tested[b] + 2.0)

    def record(self, f: int, kept: bool) -> None:
        b = 0 if self.bin is None else self.bin[f]
        self.tested[b] += 1.0
        self.kept[b] += float(kept)


def _prior_scores(engine: PatchEngine) -> torch.Tensor:
    """Per-edge estimate of the change of the ACDC distance when the edge alone is ablated, flat
    (n_edges * P), from one forward and backward pass.

    For a score metric: |EAP score| (the first-order change of the metric). For the KL divergence the
    first order vanishes (the gradient of KL(clean || patched) at the clean run is zero), and the
    change is second order, ``1/2 d^T F d`` per prompt, with ``d`` the edge's first-order change of
    the answer logits and ``F`` the Fisher matrix ``diag(q) - q q^T`` of the clean distribution ``q``.
    It is estimated with one random direction per prompt, ``v ~ N(0, F)`` (Hutchinson:
    ``E[(d . v)^2] = d^T F d``), where ``d . v`` is the edge's attribution for the objective
    ``v . logits``; averaged over the prompts, as the metric is.
    """
    if engine.metric_name != "kl_divergence":
        return METHODS.get("eap")(engine).scores.abs().reshape(-1)
    logits = answer_logits(engine.clean_out.unsqueeze(0), engine.pairs.answer_pos)[0].detach().double()  # (B, V)
    q = torch.softmax(logits, dim=-1)
    root = q.sqrt()
    eps = torch.randn(q.shape, generator=torch.Generator().manual_seed(0), dtype=q.dtype).to(q.device) * root
    v = eps - q * eps.sum(-1, keepdim=True)  # (diag(sqrt q) - q sqrt(q)^T) N(0, I): covariance diag(q) - q q^T

    def objective(out: torch.Tensor, pairs: Any, rows: torch.Tensor | None) -> torch.Tensor:
        w = v if rows is None else v[rows.to(v.device)]
        return (answer_logits(out, pairs.answer_pos) * w.to(out.dtype)).sum()

    rows = torch.arange(min(engine.B, PRIOR_PROMPTS))
    grads = engine.reader_grads(objective=objective, rows=rows)
    return engine.attribution_scores(grads, squares_per_prompt=True, rows=rows).reshape(-1) / (2.0 * len(rows))


def _best_window(n_kept: int, n_tested: int, window: int) -> int:
    """Chain length (cumulative removals) that minimises the expected cost per decision.

    With keep probability ``p`` (estimated from the decisions so far, prior 1 keep in 4 tests), a
    forward of ``w`` cumulative configurations decides ``(1 - (1 - p)^w) / p`` edges on average and
    costs about ``1 + w`` configuration-rows. Sizes the chain of ``tree=False``.
    """
    p = (n_kept + 1.0) / (n_tested + 4.0)
    best, best_cost = 1, float("inf")
    for w in range(1, max(1, window) + 1):
        decided = (1.0 - (1.0 - p) ** w) / p
        cost = (1.0 + w) / decided
        if cost < best_cost - 1e-12:
            best, best_cost = w, cost
        elif w > 4 * best:
            break
    return best
