"""Discovery methods behind one interface: ``method(engine, **options) -> MethodOutput``.

Every method scores the edges of the engine's computation graph (shape ``(n_edges, P)``, P = number
of positions for position-resolved runs, else 1). Scores of patching methods are
``metric(patched) - metric(clean)``; gradient methods estimate the same quantity to first order, so
signs and magnitudes are comparable across methods. Methods that build a circuit themselves
(ACDC, information-flow routes) also return the circuit's edge mask.

References:
    node/edge patching: Vig et al. 2020; Meng et al. 2022; Wang et al. 2023 (path patching).
    EAP: Nanda 2023; Syed, Rager & Conmy 2023, "Attribution Patching Outperforms Automated Circuit
    Discovery". EAP-IG: Hanna, Pezzelle & Belinkov 2024, "Have Faith in Faithfulness".
    Position-aware EAP: Haklay et al. 2025. Information-flow routes: Ferrando & Voita 2024.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..graph import write_atomic
from ..registry import Registry
from ._engine import PatchEngine, _slice_head
from ._index import DiscoveryError


@dataclass
class MethodOutput:
    """What a discovery method returns.

    Attributes:
        scores: (n_edges, P) float64 edge scores.
        circuit: optional (n_edges, P) bool mask of the edges the method itself selected.
        node_scores: optional writer-name -> score (node-level methods).
        info: anything else worth reporting (number of forwards, tau, ...).
    """

    scores: torch.Tensor
    circuit: torch.Tensor | None = None
    node_scores: dict[str, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)


MethodFn = Callable[..., MethodOutput]
METHODS: Registry[MethodFn] = Registry("discovery method")


def list_methods() -> list[str]:
    """Names of the registered discovery methods."""
    return METHODS.names()


def _no_extra(name: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise DiscoveryError(f"method {name!r} got unknown options {sorted(kwargs)}.")


@METHODS.register("node_patching", level="node", doc="ablate each writer's output (all its outgoing edges)")
def node_patching(engine: PatchEngine, **kwargs: Any) -> MethodOutput:
    """Activation patching of nodes: one configuration per writer, all batched."""
    kwargs.pop("threshold", None), kwargs.pop("checkpoint", None)
    _no_extra("node_patching", kwargs)
    idx = engine.index
    P = engine.P
    n_w = idx.n_writers

    def masks(a: int, b: int) -> torch.Tensor:
        m = engine.empty_mask(b - a)
        for i, w in enumerate(range(a, b)):
            m[i, idx.edge_writer == w] = 1.0
        return m

    values = engine.run_masks(masks, n=n_w, desc="node patching") - engine.m_full
    node_scores = {w.name: float(values[w.index]) for w in idx.writers}
    scores = values[idx.edge_writer].unsqueeze(1).expand(-1, P).clone()
    return MethodOutput(scores, node_scores=node_scores, info={"n_forward_configs": n_w})


@METHODS.register("edge_patching", level="edge", doc="exact effect of ablating each edge alone, batched")
def edge_patching(engine: PatchEngine, checkpoint: str | os.PathLike[str] | None = None, **kwargs: Any) -> MethodOutput:
    """Exact edge patching: metric(edge e ablated alone) - metric(clean), for every edge (and position).

    Configurations are batched per reader hook: a forward then hooks a single reader, so the model
    keeps its fast path everywhere else (e.g. no per-head copies of the residual stream). With a
    ``checkpoint`` path the scores of finished reader hooks are written atomically after each one,
    and an interrupted run resumes from them.
    """
    kwargs.pop("threshold", None)
    _no_extra("edge_patching", kwargs)
    idx = engine.index
    E, P = idx.n_edges, engine.P
    values = torch.full((E * P,), float("nan"), dtype=torch.float64)
    groups = [torch.unique(engine.group_table[gi][engine.group_table[gi] < E]) for gi in range(len(idx.groups))]
    ident = {"format": "neurocircuits.edge_patching", "version": 1, "metric": engine.metric_name,
             "ablation": engine.ablation_name, "n_edges": E, "P": P, "graph": idx.graph.name}
    done: list[int] = []
    if checkpoint is not None and Path(checkpoint).is_file():
        data = json.loads(Path(checkpoint).read_text())
        mismatch = {k: (data.get(k), v) for k, v in ident.items() if data.get(k) != v}
        if mismatch:
            raise DiscoveryError(f"checkpoint {str(checkpoint)!r} belongs to another run (differs in {mismatch}); "
                                 "delete it or pass another checkpoint path.")
        done = list(data["done_groups"])
        values = torch.tensor([float("nan") if v is None else v for v in data["values"]], dtype=torch.float64)
    todo = [gi for gi in range(len(groups)) if gi not in set(done)]
    for gi in _progress(todo, "edge patching", engine.progress):
        flat = (groups[gi].view(-1, 1) * P + torch.arange(P).view(1, -1)).flatten()

        def masks(a: int, b: int, flat: torch.Tensor = flat) -> torch.Tensor:
            m = engine.empty_mask(b - a)
            m.view(b - a, E * P)[torch.arange(b - a), flat[a:b]] = 1.0
            return m

        values[flat] = (engine.run_masks(masks, n=len(flat), desc="edge patching") - engine.m_full).cpu()
        done.append(gi)
        if checkpoint is not None:
            write_atomic(checkpoint, json.dumps({**ident, "done_groups": done,
                                                 "values": [None if v != v else v for v in values.tolist()]}))
    return MethodOutput(values.view(E, P), info={"n_forward_configs": E * P})


@METHODS.register("eap", level="edge", doc="edge attribution patching: 2 forwards + 1 backward")
def eap(engine: PatchEngine, **kwargs: Any) -> MethodOutput:
    """Attribution patching: (ablation - clean) writer output . d metric / d reader input."""
    kwargs.pop("threshold", None), kwargs.pop("checkpoint", None)
    _no_extra("eap", kwargs)
    grads = engine.reader_grads()
    return MethodOutput(engine.attribution_scores(grads), info={"n_backward": 1})


def _ig_alphas(steps: int, k0: int, k1: int, like: torch.Tensor) -> torch.Tensor:
    a = (torch.arange(k0, k1, dtype=like.dtype, device=like.device) + 0.5) / steps
    return a


@METHODS.register("eap_ig", level="edge", doc="EAP with integrated gradients over inputs or activations")
def eap_ig(engine: PatchEngine, steps: int = 5, over: str = "inputs", **kwargs: Any) -> MethodOutput:
    """EAP-IG: gradients averaged along the straight path from the ablated to the clean run.

    Args:
        steps: number of integration points (midpoint rule); all stacked into one batch (chunked).
        over: ``"inputs"`` interpolates the source writers (those that own no reader, e.g. the
            embedding) and lets the model propagate; ``"activations"`` sets every writer's output to
            its own interpolation while gradients flow through the model's local computation.
    """
    kwargs.pop("threshold", None), kwargs.pop("checkpoint", None)
    _no_extra("eap_ig", kwargs)
    if not isinstance(steps, int) or steps < 1:
        raise DiscoveryError(f"eap_ig needs steps >= 1, got {steps!r}.")
    if over not in ("inputs", "activations"):
        raise DiscoveryError(f"eap_ig over must be 'inputs' or 'activations', not {over!r}.")
    idx = engine.index
    source_hooks = {idx.writers[w].hook for w in idx.source_writers()}
    if over == "inputs" and not source_hooks:
        raise DiscoveryError("eap_ig over='inputs' needs source writers (writers that own no reader).")
    chunk = max(1, engine.n_configs_per_chunk // 3)
    total: list[torch.Tensor] | None = None
    state = {"k0": 0}

    def patch(hook: str, x: torch.Tensor, k: int, rows: torch.Tensor | None) -> torch.Tensor:
        if over == "inputs" and hook not in source_hooks:
            return x
        abl = engine.abl_hooks[hook]
        clean = engine.clean_hooks[hook]
        if rows is not None:
            abl, clean = abl[rows.to(abl.device)], clean[rows.to(clean.device)]
        alpha = _ig_alphas(steps, state["k0"], state["k0"] + k, x).view((k, 1) + (1,) * (abl.ndim - 1))
        abl_k = abl.unsqueeze(0)
        if over == "inputs":
            xk = x.reshape((k, abl.shape[0]) + tuple(x.shape[1:]))
            return (abl_k + alpha * (xk - abl_k)).reshape(x.shape)
        clean_k = clean.unsqueeze(0)
        target = (abl_k + alpha * (clean_k - abl_k)).reshape(x.shape)
        return x + (target - x).detach()

    for k0 in _range_progress(0, steps, chunk, "eap-ig", engine.progress):
        k = min(chunk, steps - k0)
        state["k0"] = k0
        g = engine.reader_grads(k=k, writer_patch=patch)
        total = g if total is None else [a + b for a, b in zip(total, g)]
    assert total is not None
    grads = [t / steps for t in total]
    return MethodOutput(engine.attribution_scores(grads), info={"steps": steps, "over": over})


@METHODS.register("eap_positional", level="edge", positional=True,
                  doc="position-aware EAP: one score per edge and token position")
def eap_positional(engine: PatchEngine, ig_steps: int = 0, **kwargs: Any) -> MethodOutput:
    """EAP (or EAP-IG with ``ig_steps`` > 0) with every edge resolved per token position."""
    if not engine.per_position:
        raise DiscoveryError("eap_positional needs a position-resolved engine (per_position=True).")
    if ig_steps:
        return eap_ig(engine, steps=ig_steps, **kwargs)
    return eap(engine, **kwargs)


@METHODS.register("info_flow", level="edge", doc="information-flow routes: one forward, top-down threshold")
def info_flow(engine: PatchEngine, threshold: float | None = None, **kwargs: Any) -> MethodOutput:
    """Information-flow routes (Ferrando & Voita 2024) from one clean forward pass.

    The importance of writer ``w`` for reader ``r`` is its proximity to the reader's total input,
    ``max(0, ||y_r|| - ||y_r - z_w||)``, normalised over all writers into ``r`` and the constant
    term (biases). Importances are computed per prompt and position and averaged over prompts; a
    final reader (one that feeds no writer, e.g. the logits) is read at the answer position only.
    The route keeps, top-down from the final readers, every edge whose importance is at least
    ``threshold`` (default 0.04) into a reader that is already on the route.
    """
    kwargs.pop("checkpoint", None)
    _no_extra("info_flow", kwargs)
    tau = 0.04 if threshold is None else float(threshold)
    idx = engine.index
    E, P = idx.n_edges, engine.P
    scores = torch.zeros(E + 1, P, dtype=torch.float64)
    answer_pos = getattr(engine.pairs, "answer_pos", -1)
    for gi, g in enumerate(idx.groups):
        y_all = engine.clean_readers[g.hook]
        for ri, (r, head) in enumerate(zip(g.readers, g.heads)):
            y = _slice_head(y_all, head).double()
            y = y.reshape(y.shape[0], y.shape[1], -1) if y.ndim >= 3 else y.reshape(y.shape[0], 1, -1)  # (B, T, F)
            zs = []
            for u in g.writers:
                w = idx.writers[u]
                z = _slice_head(engine.clean_hooks[w.hook], w.head).double().reshape(y.shape)
                zs.append(z)
            z = torch.stack(zs)  # (U, B, T, F)
            const = y - z.sum(0)
            ny = y.norm(dim=-1)
            prox = (ny.unsqueeze(0) - (y.unsqueeze(0) - z).norm(dim=-1)).clamp_min(0)  # (U, B, T)
            prox_c = (ny - (y - const).norm(dim=-1)).clamp_min(0)
            imp = prox / (prox.sum(0) + prox_c + 1e-12).unsqueeze(0)  # (U, B, T)
            final = idx.readers[r].owner is None
            if P > 1:
                s = imp.mean(1)  # (U, T)
            elif final and imp.shape[2] > 1:
                s = imp[:, :, answer_pos].mean(1, keepdim=True)
            else:
                s = imp.mean((1, 2)).unsqueeze(1)
            rows = engine.group_table[gi][:, ri]
            scores[rows] = s.detach().to(device='cpu', dtype=scores.dtype)
    scores = scores[:-1]
    # top-down route
    keep = torch.zeros(E, P, dtype=torch.bool)
    active_readers = [r.index for r in idx.readers if r.owner is None]
    seen: set[int] = set()
    while active_readers:
        r = active_readers.pop()
        if r in seen:
            continue
        seen.add(r)
        for e in idx.edges_into(r):
            hit = scores[e] >= tau
            if bool(hit.any()):
                keep[e] = hit
                w = idx.writers[int(idx.edge_writer[e])]
                active_readers.extend(idx.owned_readers(w.name))
    return MethodOutput(scores, circuit=keep, info={"tau": tau, "n_forward": 1})


def _progress(items: list[Any], desc: str, progress: bool) -> Any:
    if progress and len(items) > 1:
        from tqdm.auto import tqdm

        return tqdm(items, desc=desc, leave=False)
    return items


def _range_progress(start: int, stop: int, step: int, desc: str, progress: bool) -> Any:
    steps = range(start, stop, step)
    if progress and len(steps) > 1:
        from tqdm.auto import tqdm

        return tqdm(steps, desc=desc, leave=False)
    return steps
