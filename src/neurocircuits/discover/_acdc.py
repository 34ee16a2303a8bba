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

Batching without changing the algorithm: the decisions for one reader are sequential, but the
likely outcome is "remove". For the remaining candidates ``c_i, c_{i+1}, ...`` we evaluate, in ONE
batched forward, the cumulative configurations ``removed + {c_i..c_j}`` for every j. Walking these
values in order replays exactly the sequential decisions until the first "keep" ``c_j`` (whose test
``removed + {c_i..c_{j-1}} + c_j`` was also evaluated); the walk then restarts at ``c_{j+1}``. The
number of forward passes is about (kept edges + 1) per reader instead of one per edge.

The pruned set is written atomically after every reader, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..graph import write_atomic
from ._engine import PatchEngine
from ._index import DiscoveryError
from ._methods import METHODS, MethodOutput, _no_extra


def _distance(engine: PatchEngine, values: torch.Tensor) -> torch.Tensor:
    if engine.metric_kind == "distance":
        return values
    return (values - engine.m_full).abs()


@METHODS.register("acdc", level="edge", doc="ACDC greedy reverse-topological pruning with threshold tau")
def acdc(engine: PatchEngine, threshold: float | None = None, checkpoint: str | os.PathLike[str] | None = None,
         window: int | None = None, **kwargs: Any) -> MethodOutput:
    """Run ACDC with ``tau = threshold`` (default 0.01 of the full-vs-ablated distance... see below).

    Args:
        threshold: tau. Default: ``0.01 * d(all edges ablated)``, i.e. 1% of the total effect.
        checkpoint: JSON file for the pruned set; an existing file from the same run is resumed.
        window: at most this many speculative configurations per forward (default: the memory chunk).

    Returns:
        scores: the increase of the distance when the edge was tested (0 when it decreased; 0 for
        edges removed without a test); circuit: the kept edges.
    """
    _no_extra("acdc", kwargs)
    idx = engine.index
    E, P = idx.n_edges, engine.P
    d_abl = float(_distance(engine, torch.tensor([engine.m_ablated], dtype=torch.float64))[0])
    tau = 0.01 * d_abl if threshold is None else float(threshold)
    if tau < 0:
        raise DiscoveryError(f"ACDC threshold tau must be >= 0, got {tau}.")
    window = engine.n_patch_configs_per_chunk if window is None else max(1, int(window))
    order = sorted(range(len(idx.readers)), reverse=True)
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
    n_forward = 0
    n_configs = 0
    n_kept, n_tested = 0, 0
    bar = range(start, len(order))
    if engine.progress:
        from tqdm.auto import tqdm

        bar = tqdm(bar, desc=f"ACDC tau={tau:.3g}", initial=start, total=len(order), leave=False)
    for step in bar:
        r = order[step]
        reader = idx.readers[r]
        cands = sorted(idx.edges_into(r), key=lambda e: -int(idx.edge_writer[e]))
        flat = [e * P + p for e in cands for p in range(P)]
        owner = reader.owner
        if owner is not None and _unreachable(engine, owner, removed):
            removed.view(-1)[torch.tensor(flat, dtype=torch.long)] = True
        else:
            i = 0
            w = _best_window(n_kept, n_tested, window)
            while i < len(flat):
                chunk = flat[i:i + w]
                base = removed.view(-1).clone()

                def masks(a: int, b: int, chunk: list[int] = chunk, base: torch.Tensor = base) -> torch.Tensor:
                    m = engine.empty_mask(b - a).view(b - a, E * P)
                    m[:] = base.to(m.dtype)
                    for t in range(b - a):
                        m[t, torch.tensor(chunk[: a + t + 1], dtype=torch.long)] = 1.0
                    return m.view(b - a, E, P)

                d = _distance(engine, engine.run_masks(masks, n=len(chunk), desc="acdc"))
                n_forward += 1
                prev = cur
                j = 0
                while j < len(chunk):
                    inc = float(d[j]) - prev
                    scores.view(-1)[chunk[j]] = max(inc, 0.0)
                    if inc < tau:
                        removed.view(-1)[chunk[j]] = True
                        prev = float(d[j])
                        j += 1
                    else:
                        break
                cur = prev
                n_configs += len(chunk)
                n_tested += min(j + 1, len(chunk))
                n_kept += int(j < len(chunk))
                # speculation window from the keep rate so far (a wasted configuration costs a forward row)
                w = _best_window(n_kept, n_tested, window)
                i += j + 1 if j < len(chunk) else j
        if checkpoint is not None:
            write_atomic(checkpoint, json.dumps({
                **ident, "next_reader": step + 1, "current": cur,
                "removed": torch.nonzero(removed.view(-1)).flatten().tolist(),
                "scores": scores.view(-1).tolist(),
            }))
    return MethodOutput(scores, circuit=~removed, info={"tau": tau, "n_batched_forwards": n_forward,
                                                       "n_configs": n_configs, "distance": cur})


def _best_window(n_kept: int, n_tested: int, window: int) -> int:
    """Number of speculative configurations per forward that minimises the expected cost per decision.

    With keep probability ``p`` (estimated from the decisions so far, prior 1 keep in 4 tests), a
    forward of ``w`` cumulative configurations decides ``(1 - (1 - p)^w) / p`` edges on average and
    costs about ``1 + w`` configuration-rows (the unpatched prefix, then ``w`` patched rows). Only the
    cost changes with ``w``: the decisions are replayed exactly whatever the window.
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


def _unreachable(engine: PatchEngine, writer_name: str, removed: torch.Tensor) -> bool:
    """True when every outgoing edge of ``writer_name`` (at every position) is removed."""
    idx = engine.index
    w = next(x.index for x in idx.writers if x.name == writer_name)
    out = idx.edges_from(w)
    return bool(removed[out].all()) if out else True
