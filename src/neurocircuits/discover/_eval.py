"""Evaluation of circuits: faithfulness, completeness, faithfulness-vs-size curves, ROC AUC.

Definitions (with ``m`` the task metric, everything outside the circuit ablated for ``m_circuit``,
every edge ablated for ``m_ablated``, only the circuit's edges ablated for ``m_complement``):

    faithfulness        = (m_circuit - m_ablated) / (m_full - m_ablated)      # the one we report
    faithfulness_ratio  =  m_circuit / m_full                                 # plain ratio
    completeness        = (m_full - m_complement) / (m_full - m_ablated)

``faithfulness`` is the normalised form (Hanna et al. 2024; Marks et al. 2024): 1 when the circuit
alone reproduces the full model, 0 when it does no better than the fully ablated model. It is also
defined for distance metrics (KL: ``1 - KL_circuit / KL_ablated``); the plain ratio is not (NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..graph import CircuitGraph
from ._engine import PatchEngine
from ._index import DiscoveryError


@dataclass(frozen=True)
class Faithfulness:
    """Faithfulness numbers of one circuit (see the module docstring for definitions)."""

    faithfulness: float
    faithfulness_ratio: float
    completeness: float
    m_circuit: float
    m_full: float
    m_ablated: float
    m_complement: float
    n_edges: int
    n_edges_total: int


def _normalise(m: float, full: float, abl: float) -> float:
    den = full - abl
    return (m - abl) / den if den != 0 else float("nan")


def circuit_mask(engine: PatchEngine, circuit: CircuitGraph | Sequence[Any]) -> torch.Tensor:
    """(n_edges, P) bool mask of the engine's edges that are in ``circuit``.

    ``circuit`` is a CircuitGraph or edge keys; an edge without a position covers every position.
    """
    keys = circuit.edge_keys() if isinstance(circuit, CircuitGraph) else set(circuit)
    lookup = {(e.source, e.target, e.kind): i for i, e in enumerate(engine.index.edges)}
    mask = torch.zeros(engine.index.n_edges, engine.P, dtype=torch.bool)
    unknown = []
    for key in keys:
        src, dst, kind, pos = key
        i = lookup.get((src, dst, kind))
        if i is None:
            unknown.append(key)
            continue
        if pos is None:
            mask[i] = True
        elif engine.P == 1:
            raise DiscoveryError(
                f"circuit edge {key} has a position but the evaluation is not position-resolved; pass "
                "per_position=True."
            )
        else:
            mask[i, int(pos)] = True
    if unknown:
        raise DiscoveryError(f"{len(unknown)} circuit edges are not edges of the model's graph, e.g. {unknown[0]}.")
    return mask


def evaluate_masks(engine: PatchEngine, keep: torch.Tensor) -> Faithfulness:
    """Faithfulness numbers for the circuit given by the (n_edges, P) bool mask ``keep``."""
    masks = torch.stack([(~keep), keep]).to(engine.dtype)
    m_circ, m_comp = (float(v) for v in engine.run_masks(masks, desc="faithfulness"))
    full, abl = engine.m_full, engine.m_ablated
    return Faithfulness(
        faithfulness=_normalise(m_circ, full, abl),
        faithfulness_ratio=m_circ / full if engine.metric_kind == "score" and full != 0 else float("nan"),
        completeness=1.0 - _normalise(m_comp, full, abl) if full != abl else float("nan"),
        m_circuit=m_circ, m_full=full, m_ablated=abl, m_complement=m_comp,
        n_edges=int(keep.sum()), n_edges_total=int(keep.numel()),
    )


def default_counts(total: int, n_points: int = 24) -> list[int]:
    """Edge counts for a curve: 0, then roughly geometric up to ``total``."""
    pts = {0, total}
    pts.update(int(round(x)) for x in np.geomspace(1, max(total, 1), n_points))
    return sorted(p for p in pts if 0 <= p <= total)


def curve_from_scores(engine: PatchEngine, scores: torch.Tensor, counts: Sequence[int] | None = None) -> list[tuple[int, float]]:
    """Faithfulness of the top-n edges by |score| for every n in ``counts``, batched."""
    flat = scores.reshape(-1).abs()
    flat = torch.nan_to_num(flat, nan=-1.0)
    order = torch.argsort(flat, descending=True, stable=True)
    total = flat.numel()
    counts = default_counts(total) if counts is None else sorted({int(c) for c in counts})
    for c in counts:
        if c < 0 or c > total:
            raise DiscoveryError(f"curve edge counts must lie in [0, {total}], got {c}.")
    E, P = engine.index.n_edges, engine.P

    def masks(a: int, b: int) -> torch.Tensor:
        m = torch.ones(b - a, E * P, dtype=engine.dtype, device=engine.device)
        for t, c in enumerate(counts[a:b]):
            m[t, order[:c]] = 0.0
        return m.view(b - a, E, P)

    values = engine.run_masks(masks, n=len(counts), desc="faithfulness curve")
    full, abl = engine.m_full, engine.m_ablated
    return [(c, _normalise(float(v), full, abl)) for c, v in zip(counts, values)]


def faithfulness(model: nn.Module, pairs: Any, circuit: CircuitGraph | Sequence[Any], ablation: str = "corrupt",
                 metric: str = "logit_diff", per_position: bool | None = None, seed: int = 0,
                 memory_mb: float = 1024.0) -> Faithfulness:
    """Faithfulness, plain ratio and completeness of ``circuit`` on ``pairs``.

    Example:
        >>> f = discover.faithfulness(model, pairs, result.circuit)
        >>> f.faithfulness, f.completeness
    """
    if per_position is None:
        keys = circuit.edge_keys() if isinstance(circuit, CircuitGraph) else set(circuit)
        per_position = any(k[3] is not None for k in keys)
    engine = PatchEngine(model, pairs, metric=metric, ablation=ablation, per_position=per_position, seed=seed,
                         memory_mb=memory_mb, progress=False)
    return evaluate_masks(engine, circuit_mask(engine, circuit))


def faithfulness_curve(model: nn.Module, pairs: Any, scores: CircuitGraph, counts: Sequence[int] | None = None,
                       ablation: str = "corrupt", metric: str = "logit_diff", seed: int = 0,
                       memory_mb: float = 1024.0) -> list[tuple[int, float]]:
    """Faithfulness of the top-n edges of a scored graph for each n in ``counts`` (batched forwards)."""
    per_position = any(e.position is not None for e in scores.edges)
    engine = PatchEngine(model, pairs, metric=metric, ablation=ablation, per_position=per_position, seed=seed,
                         memory_mb=memory_mb, progress=False)
    return curve_from_scores(engine, scores_tensor(engine, scores), counts)


def scores_tensor(engine: PatchEngine, scores: CircuitGraph) -> torch.Tensor:
    """(n_edges, P) scores read from a scored CircuitGraph (NaN where missing)."""
    lookup = {(e.source, e.target, e.kind): i for i, e in enumerate(engine.index.edges)}
    out = torch.full((engine.index.n_edges, engine.P), float("nan"), dtype=torch.float64)
    for e in scores.edges:
        i = lookup.get((e.source, e.target, e.kind))
        if i is None or e.score is None:
            continue
        if e.position is None:
            out[i] = e.score
        else:
            out[i, e.position] = e.score
    return out


def roc_auc(scores: CircuitGraph, true_circuit: CircuitGraph | Sequence[Any], absolute: bool = True) -> float:
    """Area under the ROC curve of edge scores against a known circuit (Mann-Whitney U, ties averaged).

    Position-resolved scores are reduced to one score per edge by the maximum |score| over positions
    when the true circuit has no positions. Edges without a score count as score 0.
    """
    true_keys = true_circuit.edge_keys() if isinstance(true_circuit, CircuitGraph) else set(true_circuit)
    positional_truth = any(k[3] is not None for k in true_keys)
    by_edge: dict[Any, float] = {}
    for e in scores.edges:
        s = 0.0 if e.score is None or math.isnan(e.score) else float(e.score)
        s = abs(s) if absolute else s
        key = e.key if positional_truth else (e.source, e.target, e.kind, None)
        by_edge[key] = max(by_edge.get(key, -math.inf), s)
    unknown = true_keys - set(by_edge)
    if unknown:
        raise DiscoveryError(f"{len(unknown)} true-circuit edges are not in the scored graph, e.g. {next(iter(unknown))}.")
    keys = list(by_edge)
    y = np.array([k in true_keys for k in keys], dtype=bool)
    s = np.array([by_edge[k] for k in keys], dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise DiscoveryError(f"ROC AUC needs both circuit and non-circuit edges (got {n_pos} and {n_neg}).")
    from scipy.stats import rankdata

    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
