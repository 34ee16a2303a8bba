"""``discover()``: one call from a model and prompt pairs to a scored graph, a circuit and its faithfulness."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..graph import CircuitGraph
from . import _acdc  # noqa: F401  (registers "acdc")
from ._engine import PatchEngine
from ._eval import Faithfulness, curve_from_scores, evaluate_masks
from ._index import DiscoveryError, positional_graph
from ._methods import METHODS, MethodOutput


@dataclass
class DiscoveryResult:
    """The outcome of :func:`discover`.

    Attributes:
        scores: the model's computation graph with ``edge.score`` filled (per position when
            position-resolved).
        circuit: the selected sub-circuit (a CircuitGraph with the kept edges, scores included).
        faithfulness: normalised faithfulness of ``circuit`` (see ``neurocircuits.discover._eval``).
        faithfulness_ratio: plain ratio m_circuit / m_full.
        completeness: fraction of the full effect removed by ablating the circuit alone.
        n_edges / n_edges_total: edges in the circuit / in the scored graph.
        seconds: wall time of the method (scoring + selection + evaluation).
        method, metric, ablation: names used.
        curve: [(n_edges, faithfulness)] for the top-n edges by |score|.
        m_full, m_ablated, m_circuit: metric values of the full, fully ablated and circuit runs.
        node_scores: writer-name -> score for node-level methods.
        info: method-specific extras (tau, number of forwards, ...).
    """

    scores: CircuitGraph
    circuit: CircuitGraph
    faithfulness: float
    faithfulness_ratio: float
    completeness: float
    n_edges: int
    n_edges_total: int
    seconds: float
    method: str
    metric: str
    ablation: str
    curve: list[tuple[int, float]]
    m_full: float
    m_ablated: float
    m_circuit: float
    node_scores: dict[str, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A flat dict for tables and JSON."""
        return {
            "method": self.method, "metric": self.metric, "ablation": self.ablation,
            "edges_kept": self.n_edges, "edges_total": self.n_edges_total,
            "faithfulness": self.faithfulness, "faithfulness_ratio": self.faithfulness_ratio,
            "completeness": self.completeness, "seconds": self.seconds,
            "m_full": self.m_full, "m_ablated": self.m_ablated, "m_circuit": self.m_circuit,
        }


def list_methods() -> list[str]:
    """Names of the registered discovery methods."""
    return METHODS.names()


def discover(model: nn.Module, pairs: Any, method: str = "eap_ig", metric: str = "logit_diff",
             ablation: str = "corrupt", top_k: int | None = None, threshold: float | None = None,
             per_position: bool = False, device: str | torch.device | None = None, seed: int = 0,
             progress: bool = True, checkpoint: str | os.PathLike[str] | None = None, *,
             target_faithfulness: float = 0.8, check: str = "warn", memory_mb: float = 1024.0,
             curve_counts: list[int] | None = None, **method_kwargs: Any) -> DiscoveryResult:
    """Score every edge of ``model``'s computation graph on ``pairs`` and select a circuit.

    Args:
        model: a discoverable model (``computation_graph()``; see the discovery contract).
        pairs: :class:`~neurocircuits.data.tasks.PromptPairs` (clean/corrupt inputs, answers).
        method: one of :func:`list_methods` (``eap_ig`` default).
        metric: one of ``list_metrics()`` (logit difference by default).
        ablation: one of ``list_ablations()``: corrupt (default), mean, zero, resample.
        top_k: keep the k edges with the largest |score|.
        threshold: keep edges with |score| >= threshold; for ``acdc`` and ``info_flow`` it is their
            own threshold tau and the method selects the circuit.
        per_position: resolve edges per token position (``eap_positional`` always does).
        device: move the model and data there first (default: leave them where they are).
        seed: seeds torch and the resampling generator.
        progress: tqdm progress bars.
        checkpoint: resume file for long methods (``acdc``).
        target_faithfulness: with neither ``top_k`` nor ``threshold`` (and a method that does not
            select itself), keep the smallest top-n on the faithfulness curve reaching this value
            (or the most faithful point when none does).
        check: "warn" (default), "raise" or "off": check that the full model performs the task.
        memory_mb: memory budget for one batched patched forward.
        curve_counts: edge counts for the faithfulness curve (default: ~24 geometric points).
        **method_kwargs: options of the method (e.g. ``steps=10`` for eap_ig).

    Example:
        >>> from neurocircuits import discover
        >>> result = discover.discover(model, pairs, method="eap_ig")
        >>> result.circuit.n_edges, result.faithfulness
    """
    t0 = time.perf_counter()
    method_fn = METHODS.get(method)
    meta = METHODS.meta(method)
    if top_k is not None and threshold is not None:
        raise DiscoveryError("pass top_k or threshold, not both.")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        raise DiscoveryError(f"top_k must be a non-negative integer, got {top_k!r}.")
    torch.manual_seed(seed)
    if device is not None:
        model = model.to(device)
        pairs = pairs.to(device) if hasattr(pairs, "to") else pairs
    per_position = bool(per_position or meta.get("positional", False))
    engine = PatchEngine(model, pairs, metric=metric, ablation=ablation, per_position=per_position, seed=seed,
                         memory_mb=memory_mb, progress=progress)
    engine.check_task(check)
    out: MethodOutput = method_fn(engine, threshold=threshold, checkpoint=checkpoint, **method_kwargs)
    scores_t = out.scores.detach().to(torch.float64).cpu()
    E, P = engine.index.n_edges, engine.P
    if tuple(scores_t.shape) != (E, P):
        raise DiscoveryError(f"method {method!r} returned scores of shape {tuple(scores_t.shape)}, expected {(E, P)}.")
    curve = curve_from_scores(engine, scores_t, curve_counts)
    keep = _select(scores_t, out, top_k, threshold, curve, target_faithfulness)
    fa: Faithfulness = evaluate_masks(engine, keep)
    scores_graph = _scored_graph(engine, scores_t)
    circuit = _circuit_graph(engine, scores_graph, keep)
    circuit.attrs.update({"method": method, "metric": metric, "ablation": ablation,
                          "faithfulness": fa.faithfulness})
    return DiscoveryResult(
        scores=scores_graph, circuit=circuit, faithfulness=fa.faithfulness,
        faithfulness_ratio=fa.faithfulness_ratio, completeness=fa.completeness,
        n_edges=fa.n_edges, n_edges_total=E * P, seconds=time.perf_counter() - t0, method=method,
        metric=metric, ablation=ablation, curve=curve, m_full=fa.m_full, m_ablated=fa.m_ablated,
        m_circuit=fa.m_circuit, node_scores=out.node_scores, info=dict(out.info),
    )


def _select(scores: torch.Tensor, out: MethodOutput, top_k: int | None, threshold: float | None,
            curve: list[tuple[int, float]], target: float) -> torch.Tensor:
    flat = torch.nan_to_num(scores.reshape(-1).abs(), nan=-1.0)
    order = torch.argsort(flat, descending=True, stable=True)
    keep = torch.zeros(flat.numel(), dtype=torch.bool)
    if top_k is not None:
        keep[order[: min(top_k, flat.numel())]] = True
    elif out.circuit is not None:
        keep = out.circuit.reshape(-1).clone().bool()
    elif threshold is not None:
        keep = flat >= float(threshold)
    else:
        good = [c for c, f in curve if f == f and f >= target]
        n = min(good) if good else max(curve, key=lambda cf: (cf[1] if cf[1] == cf[1] else -1e300, -cf[0]))[0]
        keep[order[:n]] = True
    return keep.view(scores.shape)


def _scored_graph(engine: PatchEngine, scores: torch.Tensor) -> CircuitGraph:
    idx = engine.index
    if engine.per_position:
        graph = positional_graph(idx, engine.P)
        values = {(e.source, e.target, e.kind, p): float(scores[i, p])
                  for i, e in enumerate(idx.edges) for p in range(engine.P)}
    else:
        graph = idx.graph
        values = {e.key: float(scores[i, 0]) for i, e in enumerate(idx.edges)}
    return graph.with_scores(values)


def _circuit_graph(engine: PatchEngine, scored: CircuitGraph, keep: torch.Tensor) -> CircuitGraph:
    idx = engine.index
    kept = set()
    for i, e in enumerate(idx.edges):
        for p in range(engine.P):
            if keep[i, p]:
                kept.add((e.source, e.target, e.kind, p if engine.per_position else None))
    g = scored.filter_edges(lambda e: e.key in kept, prune_nodes=True)
    g.name = f"{scored.name}-circuit" if scored.name else "circuit"
    g.attrs = dict(g.attrs)
    return g
