"""The patching engine: batched edge ablations on any model that declares its computation graph.

In a patched run, reader ``r`` sees

    input_r  -  sum_{w : (w, r) ablated}  (out_w(current run) - out_w(ablation source))

applied at the reader's hook point, so any model that exposes its writers and readers as hook
points can be patched without model-specific code. K ablation configurations (masks over edges,
1 = ablated) are stacked along the batch axis and run in one forward pass of batch ``K * B``; the
writer differences of the current run are kept in one buffer ``(n_writers, K, B, P, F)`` and each
reader hook applies one einsum with its ``(K, U, R, P)`` slice of the masks. K is chunked so that a
forward stays within a memory budget.

Readers may name a ``cut_hook`` (node attribute): a hook point that fires before the reader and
through which all later computation flows (for the transformer, the residual stream entering the
reader's block). A patched forward then runs the unpatched prefix once, on one clean prompt, and the
cut hook returns the cached clean activation repeated K times; writers that ran before the cut have
the same difference in every configuration and are contracted once. A model that can start a forward
at a residual hook (``can_resume_from`` / ``forward_from``) skips that prefix altogether, and readers at
the cut hand models that accept it a description of their per-head inputs instead of the written
copies (:class:`~neurocircuits.layers.hooks.LazyHeads`, see :mod:`._static_readers`). ``use_cut = False``
forces the full K * B forward (the reference path; all agree to rounding, see
tests/unit/test_discover_perf.py, test_discover_blocks.py and test_discover_resume.py).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from ..layers.hooks import (HookPoint, Trimmed, accept_trimmed, cache_activations, hook_points, hooks, mark_repeated,
                           trimmed)
from ._index import DiscoveryError, GraphIndex, ReaderGroup, build_index
from ._loops import patching_loop
from ._metrics import ABLATIONS, METRICS
from ._static_readers import StaticReaders, _plan_mask, _scatter_configs
from ._trimmed import trimmed_delta, window

MaskSource = torch.Tensor | Callable[[int, int], torch.Tensor]


class TaskNotPerformedWarning(UserWarning):
    """The full model barely separates clean from ablated prompts, so a circuit for it is meaningless."""


class TaskNotPerformedError(DiscoveryError):
    """Raised instead of the warning when ``check="raise"``."""


def _call(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    if isinstance(out, tuple):  # recurrent contract: forward(x) -> (out, state)
        out = out[0]
    if not isinstance(out, torch.Tensor):
        raise DiscoveryError(f"model forward returned {type(out).__name__}; discovery needs a tensor (or (tensor, state)).")
    return out


def _repeat(x: torch.Tensor, k: int) -> torch.Tensor:
    return x.repeat((k,) + (1,) * (x.ndim - 1)) if k > 1 else x


def _slice_head(x: torch.Tensor, head: int | None) -> torch.Tensor:
    return x if head is None else x.select(2, head)


Plan = tuple[str, torch.Tensor, list[int], list[int]]  # mode, mask slice, complement writers/readers


class PatchEngine(StaticReaders):
    """Caches clean and ablation activations of a model on prompt pairs and runs patched forwards.

    Args:
        model: a discoverable model (``computation_graph()`` and ``forward``).
        pairs: :class:`~neurocircuits.data.tasks.PromptPairs` (or any object with ``clean``,
            ``corrupt``, ``answer``, ``wrong``, ``answer_pos``).
        metric: a registered metric name (``list_metrics()``).
        ablation: a registered ablation source (``list_ablations()``).
        per_position: resolve every edge per token position (hook tensors must be (batch, pos, ...)).
        seed: seed of the resampling generator.
        memory_mb: memory budget of one batched forward; K configurations are chunked to fit.
        progress: show tqdm progress bars for multi-chunk runs.
    """

    def __init__(self, model: nn.Module, pairs: Any, metric: str = "logit_diff", ablation: str = "corrupt",
                 per_position: bool = False, seed: int = 0, memory_mb: float = 1024.0, progress: bool = True) -> None:
        if not hasattr(model, "computation_graph"):
            raise DiscoveryError(
                f"{type(model).__name__} has no computation_graph() method; implement the discovery contract "
                "(writer and reader nodes with hook names) to make it discoverable."
            )
        for name in ("clean", "corrupt", "answer", "wrong"):
            if not hasattr(pairs, name):
                raise DiscoveryError(f"pairs has no {name!r}; pass neurocircuits.data.tasks.PromptPairs.")
        if tuple(pairs.clean.shape) != tuple(pairs.corrupt.shape):
            raise DiscoveryError(
                f"clean inputs have shape {tuple(pairs.clean.shape)} but corrupt inputs {tuple(pairs.corrupt.shape)}; "
                "patching needs aligned clean/corrupt inputs of the same shape."
            )
        stochastic = [n for n, mod in model.named_modules()
                      if isinstance(mod, (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)) and mod.training]
        if stochastic:
            warnings.warn(
                f"{type(model).__name__} is in training mode with dropout/batch-norm layers ({', '.join(stochastic[:3])}); "
                "patched runs would not be comparable. Call model.eval() before discovery.", UserWarning, stacklevel=3)
        self.model = model
        self.pairs = pairs
        self.metric_name = metric
        self.metric_fn = METRICS.get(metric)
        self.metric_kind = METRICS.meta(metric).get("kind", "score")
        self.ablation_name = ablation
        ablate = ABLATIONS.get(ablation)
        self.per_position = bool(per_position)
        self.progress = progress
        self.memory_bytes = float(memory_mb) * 2**20
        self.index: GraphIndex = build_index(model.computation_graph())
        self.B = int(pairs.clean.shape[0])
        points = hook_points(model)
        self.points = points  # walked once; every patched run reuses the table
        needed = {w.hook for w in self.index.writers} | {g.hook for g in self.index.groups}
        missing = sorted(needed - set(points))
        if missing:
            raise DiscoveryError(
                f"the computation graph names hook points {missing} that {type(model).__name__} does not have; "
                f"its hook points are e.g. {list(points)[:8]}."
            )
        self.writer_hook_names = list(self.index.writer_hooks)
        gen = torch.Generator().manual_seed(int(seed))
        # cache only what the engine reads (writers, readers, cut hooks): hooking every point would
        # also take models off their fast paths (e.g. the TransformerLens adapter's)
        cuts = {c for c in (self._group_cut(g, points) for g in self.index.groups) if c is not None}
        with torch.no_grad():
            with cache_activations(model, sorted(needed | cuts), points=points) as cache:
                recorded = _call(model, pairs.clean)
            clean_all = dict(cache)
            # the reference output is the unhooked forward's, the path of an unpatched run: the recording
            # forward's when the model declares that reading hooks leave its output bitwise as it is
            exact = bool(getattr(model, "passive_hooks_exact", False))
            self.clean_out = (recorded if exact else _call(model, pairs.clean)).detach()
            with cache_activations(model, self.writer_hook_names, points=points) as cache:
                self.corrupt_out = _call(model, pairs.corrupt).detach()
            corrupt_w = dict(cache)
        for hook in needed:
            if hook not in clean_all:
                raise DiscoveryError(f"hook point {hook!r} did not fire during the forward pass; the graph names a "
                                     "hook the model never calls.")
        clean_w = {h: clean_all[h] for h in self.writer_hook_names}
        self.clean_hooks = clean_w
        self.clean_readers = {g.hook: clean_all[g.hook] for g in self.index.groups}
        self.reader_shapes = {g.hook: tuple(clean_all[g.hook].shape) for g in self.index.groups}
        self.abl_hooks = ablate(clean_w, corrupt_w, gen)
        self.n_pos = self._n_pos(clean_all)
        self.P = self.n_pos if self.per_position else 1
        self._layout()
        self.clean_flat = [self._flat_writer(clean_w[w.hook], w.head) for w in self.index.writers]
        self.abl_flat = [self._flat_writer(self.abl_hooks[w.hook], w.head) for w in self.index.writers]
        # the cached hooks are about half of all activations of a forward (1.5-2x measured for transformers)
        per_example = 2.0 * sum(t.numel() * t.element_size() for t in clean_all.values()) / max(self.B, 1)
        buf = sum(n * self.P * f for (p, f), n in zip(self.class_shapes, self.class_sizes)) * self.clean_out.element_size()
        # measured: a patched forward holds ~0.3x the summed hook activations per configuration
        self.bytes_per_config = self.B * (0.5 * per_example + buf)
        self.dtype = self.clean_flat[0].dtype
        self.device = self.clean_out.device
        self._metric_cache: dict[str, float] = {}
        self.use_complement = True  # see _patch_hooks; False forces the direct einsum everywhere
        self.use_blocks = True  # see _blocks_reader; False keeps the per-configuration contraction
        # cut hooks (optional reader attribute ``cut_hook``): a hook that fires before the reader and
        # through which all later computation flows. A patched forward runs the unpatched prefix at
        # batch B and repeats the batch K times at the cut before the first patched reader.
        self.group_cut: list[str | None] = [self._group_cut(g, points) for g in self.index.groups]
        self.cpu_rows_per_forward = 4096  # measured: 15-20% faster than 1536 or 16384 rows on CPU (0 = no cap)
        self.use_cut = True  # False forces the whole forward at batch K * B (the reference path)
        self.last_cut: str | None = None  # cut hook of the last patched run (None: none used)
        # on the clean prompts the prefix before the cut is the clean run: it runs on one prompt only
        # and the cut hook returns the cached clean activation, repeated K times
        self.clean_cut = {c: clean_all[c] for c in set(self.group_cut) if c is not None and c in clean_all}
        self.group_cut = [c if c in self.clean_cut else None for c in self.group_cut]
        self._cut_by_hook = {g.hook: c for g, c in zip(self.index.groups, self.group_cut)}
        # models with ``can_resume_from(hook)`` / ``forward_from(hook, x)`` start a patched forward at
        # its cut (the prefix only recomputes the cached clean block); False runs every prefix
        self.use_resume = True
        fired = list(clean_all)  # the cache fills in the order the hooks first fired
        self._before_cut = self._writers_before_cuts(fired) if callable(getattr(model, "forward_from", None)) else {}
        # per reader group, the patch plan of each recent mask slice (plans hold read-only tensors)
        self._plan_cache: OrderedDict[tuple[Any, ...], tuple[int, Plan, list[int], list[int]] | None] = OrderedDict()
        self._fwd_written: set[int] = set()
        self._fwd_static: set[int] = set()
        self._last_replace = False
        self._static_cache: dict[int, torch.Tensor] = {}
        # static reader contributions sum_u m_u (clean_u - abl_u) per (group, reader, mask column): in
        # ACDC consecutive forwards share all but one reader's column, so most are reused (LRU by bytes)
        self.use_static_delta_cache = True
        self._delta_cache: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()
        self._delta_cache_bytes = 0
        self.delta_cache_limit_bytes = min(256 * 2**20, self.memory_bytes / 4)
        # readers at the cut whose writers all ran before it hand models that accept it a description
        # of their per-head inputs (LazyHeads) instead of the written copies; False writes them
        self.use_lazy_heads = True
        # ... and so do per-head readers whose edges from every writer after the cut are ablated: by the
        # discovery contract their input is then one stream, the same in every configuration (see
        # _ablated_stream); False writes their copies
        self.use_ablated_stream = True
        # models with ``output_positions(positions)`` (a context manager) may skip the positions of
        # their last layer that the metric does not read; only metrics declaring positions="answer"
        # allow it, and only inside run_masks / reader_grads (patched_output stays complete)
        answer_pos = getattr(pairs, "answer_pos", -1)
        self.trim_positions: tuple[int, ...] | None = None
        if (METRICS.meta(metric).get("positions") == "answer" and isinstance(answer_pos, int)
                and callable(getattr(model, "output_positions", None))):
            self.trim_positions = (int(answer_pos),)
        self.use_output_positions = True  # False forces complete outputs (the reference path)
        self.last_modes: dict[str, str] = {}  # reader hook -> "direct" / "complement" of the last patched run

    def _group_cut(self, g: ReaderGroup, points: dict[str, HookPoint]) -> str | None:
        cuts = {self.index.graph.node(self.index.readers[r].name).attrs.get("cut_hook") for r in g.readers}
        if len(cuts) != 1:
            return None
        cut = cuts.pop()
        return cut if isinstance(cut, str) and cut in points else None

    # -- layout -------------------------------------------------------------------------------
    def _n_pos(self, cache: dict[str, torch.Tensor]) -> int:
        if not self.per_position:
            t = cache[self.index.writers[0].hook]
            return int(t.shape[1]) if t.ndim >= 3 else 1
        sizes = set()
        for w in self.index.writers:
            t = _slice_head(cache[w.hook], w.head)
            if t.ndim < 3:
                raise DiscoveryError(
                    f"per_position=True needs (batch, pos, ...) activations, but writer {w.name!r} at hook "
                    f"{w.hook!r} has shape {tuple(t.shape)}."
                )
            sizes.add(int(t.shape[1]))
        if len(sizes) != 1:
            raise DiscoveryError(f"per_position=True needs one position count; writers have {sorted(sizes)}.")
        return sizes.pop()

    def _flat(self, t: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (N, P, F)."""
        n = t.shape[0]
        return t.reshape(n, self.P, -1)

    def _flat_writer(self, t: torch.Tensor, head: int | None) -> torch.Tensor:
        return self._flat(_slice_head(t, head))

    def _layout(self) -> None:
        idx = self.index
        shapes: dict[tuple[int, int], int] = {}
        self.wclass: list[int] = []
        self.wlocal: list[int] = []
        sizes: list[int] = []
        for w in idx.writers:
            t = _slice_head(self.clean_hooks[w.hook], w.head)
            f = t[:1].numel() // self.P
            key = (self.P, f)
            if key not in shapes:
                shapes[key] = len(shapes)
                sizes.append(0)
            c = shapes[key]
            self.wclass.append(c)
            self.wlocal.append(sizes[c])
            sizes[c] += 1
        self.class_shapes = list(shapes)
        self.class_sizes = sizes
        self.group_class: list[int] = []
        self.group_slice: list[slice | torch.Tensor] = []
        self.group_table: list[torch.Tensor] = []
        self.group_contiguous: list[bool] = []
        for g in idx.groups:
            classes = {self.wclass[u] for u in g.writers}
            if len(classes) != 1:
                raise DiscoveryError(
                    f"the writers into hook {g.hook!r} have outputs of different sizes; writers into one reader "
                    "must add into the same stream."
                )
            c = classes.pop()
            local = [self.wlocal[u] for u in g.writers]
            rshape = self.reader_shapes[g.hook]
            rsl = rshape[:2] + rshape[3:] if g.heads[0] is not None else rshape
            if math.prod(rsl[1:]) != self.class_shapes[c][0] * self.class_shapes[c][1]:
                raise DiscoveryError(
                    f"reader hook {g.hook!r} has per-reader shape {rsl[1:]} but its writers output "
                    f"{self.class_shapes[c][0] * self.class_shapes[c][1]} values; a reader must equal a sum of writer outputs."
                )
            self.group_class.append(c)
            self.group_contiguous.append(local == list(range(local[0], local[0] + len(local))))
            if self.group_contiguous[-1]:
                self.group_slice.append(slice(local[0], local[0] + len(local)))
            else:
                self.group_slice.append(torch.tensor(local, dtype=torch.long))
            table = g.edge_table.clone()
            table[table < 0] = idx.n_edges
            self.group_table.append(table)
        # the per-forward planning runs on these numpy copies: a few dozen tiny array operations per
        # reader group cost microseconds in numpy and several times more as torch dispatches
        self.group_table_np = [t.numpy() for t in self.group_table]

    @property
    def n_configs_per_chunk(self) -> int:
        return max(1, int(self.memory_bytes // max(self.bytes_per_config, 1.0)))

    @property
    def n_patch_configs_per_chunk(self) -> int:
        """Configurations per patched forward: the memory chunk, and on CPU at most ``cpu_rows_per_forward``
        (batch x positions) rows, since large batches run slower per row there (cache misses)."""
        n = self.n_configs_per_chunk
        if self.device.type == "cpu" and self.cpu_rows_per_forward:
            n = min(n, max(1, int(self.cpu_rows_per_forward) // max(1, self.B * self.n_pos)))
        return n

    @property
    def n_mask_edges(self) -> int:
        return self.index.n_edges

    def empty_mask(self, k: int) -> torch.Tensor:
        """K all-zero masks (nothing ablated), shape (K, n_edges, P)."""
        return torch.zeros(k, self.index.n_edges, self.P, dtype=self.dtype, device=self.device)

    # -- patched forward -------------------------------------------------------------------
    def _patch_hooks(self, mask: torch.Tensor, clean_inputs: bool = False) -> list[tuple[str, Callable[..., Any]]]:
        """Hooks for one batched patched forward. Reader hooks are attached only where some edge into
        them is ablated (an unhooked reader keeps the model's fast path), and only the writers that feed
        those readers are recorded."""
        k = mask.shape[0]
        idx = self.index
        B = self.B
        host = mask.detach().cpu()
        mask_np = (host if host.dtype in (torch.float32, torch.float64) else host.double()).numpy()  # numpy has no bf16
        m_pad = np.concatenate([mask_np, np.zeros_like(mask_np[:, :1])], axis=1)  # (K, E+1, P)

        def to_torch(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device=mask.device, dtype=mask.dtype)

        active: list[tuple[int, Plan, list[int], list[int]]] = []
        needed: set[int] = set()
        for gi, g in enumerate(idx.groups):
            m_g = m_pad[:, self.group_table_np[gi]]  # (K, U, R, P)
            same = k > 1 and bool((m_g == m_g[:1]).all())  # one mask in every configuration: planned for one
            rows = m_g[:1] if same else m_g
            key = (gi, rows.shape, rows.tobytes(), self.use_complement, mask.dtype, mask.device)
            if key in self._plan_cache:  # ACDC's consecutive forwards repeat most groups' masks: planned once
                self._plan_cache.move_to_end(key)
                planned = self._plan_cache[key]
            else:
                planned = self._plan_cache[key] = self._plan_group(gi, rows, len(rows), to_torch)
                if len(self._plan_cache) > 4 * len(idx.groups) + 64:
                    self._plan_cache.popitem(last=False)
            if planned is not None and same:  # its mask tensor, viewed K times
                mode, m_plan, cu, cr = planned[1]
                planned = (gi, (mode, m_plan.expand((k,) + tuple(m_plan.shape[1:])), cu, cr), planned[2], planned[3])
            if planned is not None:
                active.append(planned)
                needed.update(g.writers[u] for u in planned[2])
        cut: str | None = None
        if self.use_cut and active:
            cut = self.group_cut[min(gi for gi, _, _, _ in active)]
        replace = cut is not None and clean_inputs  # prefix on one prompt, cut = cached clean activation
        if cut is not None and k == 1 and not replace:
            cut = None  # nothing to gain
        self.last_cut = cut
        self._last_replace = replace
        # one buffer row per writer up to the last needed one, in writer order, so that a reader's
        # writers (usually all writers before it) are a contiguous slice: no gather copies
        slot = {w: self.wlocal[w] for w in needed}
        rows_needed: dict[int, int] = {}
        for w in needed:
            rows_needed[self.wclass[w]] = max(rows_needed.get(self.wclass[w], 0), self.wlocal[w] + 1)
        bufs = {c: torch.empty((n, k, B) + self.class_shapes[c], dtype=self.dtype, device=self.device)
                for c, n in rows_needed.items()}
        written: set[int] = set()
        windows: dict[int, Trimmed] = {}  # writers recorded at some positions only (trimmed hooks)
        fired: set[str] = set()
        static: set[int] = set()  # writers before the cut on the clean prompts: same difference in every configuration
        self._fwd_written, self._fwd_static = written, static
        self._fwd_fired, self._fwd_readers = fired, [idx.groups[gi].hook for gi, _, _, _ in active]

        def writer_fn(hook: str, ws: list[int]) -> Callable[..., Any]:
            @accept_trimmed
            def fn(x: torch.Tensor, point: HookPoint) -> None:
                if hook in fired:
                    raise DiscoveryError(
                        f"hook point {hook!r} fired twice in one forward pass; discovery needs one hook point per "
                        "writer/reader instance (unroll recurrent steps into separate hook points)."
                    )
                fired.add(hook)
                if replace and "cut" not in fired:  # the one-prompt clean prefix: readers use the cached clean values
                    written.update(ws)
                    static.update(ws)
                    return None
                kk = x.shape[0] // B  # 1 before the cut (unpatched prefix), k after it
                tr = trimmed(x)
                for w in ws:
                    written.add(w)
                    val = _slice_head(x, idx.writers[w].head)  # (kk * B, pos, ...), a strided view for a head
                    shape = (kk, B) + tuple(val.shape[1:])
                    abl = self.abl_flat[w]
                    dst = bufs[self.wclass[w]][slot[w]]
                    if tr is not None:  # only the positions the model computed: the same window of both
                        abl, dst = window(abl, tr, self.P), window(dst, tr, self.P)
                        windows[w] = tr
                    abl = abl.view(shape[1:])
                    if kk == k:  # subtract straight from the strided view into the buffer: no gathered copy
                        torch.sub(val.view(shape), abl, out=dst.view(shape))
                    else:
                        dst.copy_(torch.sub(val.view(shape), abl).view(dst.shape[1:]))
                return None

            return fn

        def reader_fn(gi: int, plan: Plan, usel: list[int], rsel: list[int]) -> Callable[..., Any]:
            g = idx.groups[gi]
            writers = [g.writers[u] for u in usel]
            c = self.group_class[gi]
            rows = [slot[w] for w in writers]
            contiguous = rows == list(range(rows[0], rows[0] + len(rows)))
            sel: slice | torch.Tensor = slice(rows[0], rows[0] + len(rows)) if contiguous else torch.tensor(rows)
            mode, m_g, cu, cr = plan
            if mode == "complement":
                crow_list = [rows[u] for u in cu]
                crows_sel: slice | torch.Tensor = (slice(crow_list[0], crow_list[-1] + 1) if crow_list and
                                                   crow_list == list(range(crow_list[0], crow_list[-1] + 1))
                                                   else torch.tensor(crow_list, dtype=torch.long))
                all_cr = cr == list(range(len(rsel)))

            @accept_trimmed
            def fn(x: torch.Tensor, point: HookPoint) -> torch.Tensor:
                key = "reader:" + g.hook
                if key in fired:
                    raise DiscoveryError(
                        f"reader hook {g.hook!r} fired twice in one forward pass; discovery needs one hook point per "
                        "reader instance (unroll recurrent steps into separate hook points)."
                    )
                fired.add(key)
                if x.shape[0] != k * B:
                    raise DiscoveryError(
                        f"reader hook {g.hook!r} saw batch {x.shape[0]} instead of {k * B}: its cut_hook "
                        f"{cut!r} did not fire before it; fix the graph's cut_hook attribute or set engine.use_cut = False."
                    )
                for w in writers:
                    if w not in written:
                        raise DiscoveryError(
                            f"writer {idx.writers[w].name!r} feeds reader {idx.readers[g.readers[0]].name!r} but had not "
                            "run when the reader was read; the graph's edges must follow the order of execution."
                        )
                tr = trimmed(x)
                if tr is not None or any(w in windows for w in writers):
                    if tr is None or any(windows.get(w, tr) != tr for w in writers):
                        raise DiscoveryError(
                            f"reader hook {g.hook!r} reads positions {tr} but its writers were recorded at "
                            f"{ {idx.writers[w].name: windows.get(w) for w in writers} }; a model trimming positions "
                            "must trim a reader exactly where it trims the writers it reads."
                        )
                    m_all = _plan_mask(plan, len(writers), len(rsel), self.P, k)
                    delta = trimmed_delta(m_all, writers, rows, static, self._static_diff, bufs[c], tr, self.P)
                    return self._reader_delta_to_hook(g, rsel, delta, x)
                if any(w in static for w in writers):
                    return self._static_reader(g, c, plan, rsel, x, writers, rows, static, bufs, k)
                d_g = bufs[c][sel]  # (U', K, B, P, F)
                if mode == "sparse":
                    rows_k = torch.tensor(cu, dtype=torch.long, device=x.device)
                    delta = torch.einsum("kurp,ukbpf->kbprf", m_g, d_g.index_select(1, rows_k))
                    xs = x.reshape((k, B) + tuple(x.shape[1:]))
                    sub = xs.index_select(0, rows_k).reshape((len(cu) * B,) + tuple(x.shape[1:]))
                    patched = self._reader_delta_to_hook(g, rsel, delta, sub)
                    return _scatter_configs(xs, rows_k, patched, x.shape)
                if mode == "direct":
                    delta = torch.einsum("kurp,ukbpf->kbprf", m_g, d_g)
                else:
                    total = d_g.sum(0).unsqueeze(3)  # (K, B, P, 1, F)
                    if not cu:
                        delta = total.expand(-1, -1, -1, len(rsel), -1)
                    else:
                        kept = torch.einsum("kurp,ukbpf->kbprf", m_g, bufs[c][crows_sel])
                        if all_cr:
                            delta = total - kept
                        else:
                            delta = total.repeat(1, 1, 1, len(rsel), 1)
                            delta[:, :, :, cr] -= kept
                return self._reader_delta_to_hook(g, rsel, delta, x)

            return fn

        fns: list[tuple[str, Callable[..., Any]]] = []
        self.last_modes = {idx.groups[gi].hook: plan[0] for gi, plan, _, _ in active}  # for inspection/tests
        if cut is not None:
            def expand(x: torch.Tensor, point: HookPoint) -> torch.Tensor:
                if "cut" in fired:
                    raise DiscoveryError(f"cut hook {cut!r} fired twice in one forward pass.")
                fired.add("cut")
                if replace:
                    clean = self.clean_cut[cut]
                    if x.shape[1:] != clean.shape[1:]:
                        raise DiscoveryError(f"cut hook {cut!r} has shape {tuple(x.shape)}, cached {tuple(clean.shape)}.")
                    return mark_repeated(_repeat(clean, k), k)
                return mark_repeated(_repeat(x, k), k)

            fns.append((cut, expand))  # first, so that hooks on the same point see the repeated batch
        for gi, plan, usel, rsel in active:
            fns.append((idx.groups[gi].hook, reader_fn(gi, plan, usel, rsel)))
        for hook, ws in idx.writer_hooks.items():
            mine = [w for w in ws if w in needed]
            if mine:
                fns.append((hook, writer_fn(hook, mine)))
        return fns

    def _plan_group(self, gi: int, m_g: np.ndarray, k: int, to_torch: Callable[[np.ndarray], torch.Tensor]
                    ) -> tuple[int, Plan, list[int], list[int]] | None:
        """How reader group ``gi`` is patched under its masks ``m_g`` (K, U, R, P): None when nothing into
        it is ablated, else ``(gi, plan, writers used, readers patched)``."""
        g = self.index.groups[gi]
        table = self.group_table_np[gi]
        nz = m_g != 0
        if not nz.any():
            return None
        nz_ur = nz.any(axis=(0, 3))  # (U, R)
        usel = np.flatnonzero(nz_ur.any(1)).tolist()
        rsel = np.flatnonzero(nz_ur.any(0)).tolist()
        # Mostly-ablated heads: delta_r = S - sum_u (1 - m_ur) D_u with S = sum_u D_u shared by all
        # readers of the group; cheaper than the direct einsum when few edges are kept.
        n_u = len(g.writers)
        full_in = bool((table[:, rsel] < self.index.n_edges).all())
        kept = 1 - m_g[:, :, rsel]
        c_ur = (kept != 0).any(axis=(0, 3))
        cu = np.flatnonzero(c_ur.any(1)).tolist()
        cr = np.flatnonzero(c_ur.any(0)).tolist()
        if self.use_complement and full_in and len(rsel) > 1 and n_u + len(cu) * len(cr) < len(usel) * len(rsel):
            return gi, ("complement", to_torch(kept[:, cu][:, :, cr]), cu, cr), list(range(n_u)), rsel
        if self.group_contiguous[gi]:  # a covering slice beats gathering the selected writers
            usel = list(range(usel[0], usel[-1] + 1))
        m_sel = m_g[:, usel][:, :, rsel]
        ksel = np.flatnonzero(nz.any(axis=(1, 2, 3))).tolist()
        if 2 * len(ksel) <= k:  # only some configurations touch this reader: patch just their rows
            return gi, ("sparse", to_torch(m_sel[ksel]), ksel, []), usel, rsel
        return gi, ("direct", to_torch(m_sel), [], []), usel, rsel

    def _static_diff(self, w: int) -> torch.Tensor:
        """Clean-minus-ablation output of writer ``w`` (B, P, F): its difference in every configuration
        when it ran before the cut on the clean prompts."""
        return self._static_class(self.wclass[w])[self.wlocal[w]]

    def _positions(self, trim: bool) -> contextlib.AbstractContextManager[Any]:
        if not trim or self.trim_positions is None or not self.use_output_positions:
            return contextlib.nullcontext()
        return self.model.output_positions(self.trim_positions)  # type: ignore[operator]

    def patched_output(self, mask: torch.Tensor, inputs: torch.Tensor | None = None, trim: bool = False) -> torch.Tensor:
        """Outputs ``(K, B, ...)`` of K patched runs (one batched forward; no chunking).

        Args:
            mask: (K, n_edges, P) with 1 where an edge is ablated (fractions interpolate).
            inputs: model inputs (default: the clean prompts).
            trim: let the model compute only the positions the metric reads (``output_positions``);
                the other positions of the output are then meaningless.
        """
        mask = self._check_mask(mask)
        k = mask.shape[0]
        x = self.pairs.clean if inputs is None else inputs
        fns = self._patch_hooks(mask, clean_inputs=inputs is None)
        if not fns and self.use_cut and k > 1:  # nothing ablated: one unpatched run serves every configuration
            with torch.no_grad(), self._positions(trim):
                out = _call(self.model, x)
            return _repeat(out, k).reshape((k, self.B) + tuple(out.shape[1:]))
        with torch.no_grad(), hooks(self.model, fns, points=self.points), self._positions(trim):
            if self._resumable():
                out = self._resume_at_cut()
            else:
                run = x if self.last_cut is not None else _repeat(x, k)
                out = _call(self.model, run[:1] if self._last_replace else run)
        silent = [h for h in self._fwd_readers if "reader:" + h not in self._fwd_fired]
        if silent:
            raise DiscoveryError(
                f"reader hooks {silent} did not fire in the patched forward (cut hook {self.last_cut!r}), so their "
                "patches were not applied; fix the graph's cut_hook attribute (it must fire before its readers) "
                "or set engine.use_cut = False."
            )
        if out.shape[0] != k * self.B:
            raise DiscoveryError(
                f"the patched forward returned batch {out.shape[0]} instead of {k * self.B}: cut hook "
                f"{self.last_cut!r} did not fire; fix the graph's cut_hook attribute or set engine.use_cut = False."
            )
        return out.reshape((k, self.B) + tuple(out.shape[1:]))

    def _writers_before_cuts(self, fired: list[str]) -> dict[str, frozenset[int]]:
        """For each cut hook, the writers whose hooks fire before it (``fired``: hook names in the order
        they first fired in a forward that hooked every writer and cut)."""
        out: dict[str, frozenset[int]] = {}
        for cut in {c for c in self.group_cut if c is not None}:
            if cut in fired:
                before = fired[:fired.index(cut)]
                out[cut] = frozenset(w for h in before for w in self.index.writer_hooks.get(h, []))
        return out

    def _resumable(self) -> bool:
        """Whether this forward may start at its cut (``model.forward_from``): the cut returns the cached
        clean block and the model can resume there."""
        cut = self.last_cut
        return (self.use_resume and self._last_replace and cut is not None and cut in self._before_cut
                and callable(getattr(self.model, "can_resume_from", None)) and self.model.can_resume_from(cut))

    def _resume_at_cut(self) -> torch.Tensor:
        """The model run from its cut hook on (the hook returns the K repeated clean blocks): the
        unpatched prefix is skipped, and its writers count as written before the cut."""
        cut = self.last_cut
        before = self._before_cut[cut]  # type: ignore[index]
        self._fwd_written.update(before)
        self._fwd_static.update(before)
        out = self.model.forward_from(cut, self.clean_cut[cut][:1])  # type: ignore[index, operator]
        return out[0] if isinstance(out, tuple) else out

    def _check_mask(self, mask: torch.Tensor) -> torch.Tensor:
        if mask.ndim == 2:
            mask = mask.unsqueeze(-1)
        if mask.ndim != 3 or mask.shape[1] != self.index.n_edges or mask.shape[2] not in (1, self.P):
            raise DiscoveryError(
                f"mask must have shape (K, {self.index.n_edges}, {self.P}) (K configurations x edges x positions), "
                f"got {tuple(mask.shape)}."
            )
        if mask.shape[2] != self.P:
            mask = mask.expand(-1, -1, self.P)
        return mask.to(dtype=self.dtype, device=self.device)

    def run_masks(self, masks: MaskSource, n: int | None = None, desc: str = "patching") -> torch.Tensor:
        """Metric (K,) of K patched runs, chunked to the memory budget.

        Args:
            masks: a (K, n_edges, P) tensor, or a function ``(start, stop) -> masks[start:stop]`` that
                builds chunks lazily (then ``n`` gives K).
        """
        if isinstance(masks, torch.Tensor):
            total = masks.shape[0]
            get = lambda a, b: masks[a:b]  # noqa: E731
        else:
            if n is None:
                raise DiscoveryError("run_masks with a mask function needs n (the number of configurations).")
            total, get = n, masks
        chunk = self.n_patch_configs_per_chunk
        starts = range(0, total, chunk)
        values = []
        bar = _progress(starts, desc, self.progress and len(starts) > 1)
        with patching_loop():
            for a in bar:
                b = min(a + chunk, total)
                out = self.patched_output(get(a, b), trim=True)
                values.append(self.metric(out))
        return torch.cat(values) if values else torch.zeros(0)

    def metric(self, out: torch.Tensor) -> torch.Tensor:
        """The metric of stacked outputs (K, B, ...) -> (K,)."""
        return self.metric_fn(out, self.pairs, self.clean_out).detach().to(torch.float64)

    # -- reference values ------------------------------------------------------------------
    @property
    def m_full(self) -> float:
        if "full" not in self._metric_cache:
            self._metric_cache["full"] = float(self.metric(self.clean_out.unsqueeze(0))[0])
        return self._metric_cache["full"]

    @property
    def m_corrupt(self) -> float:
        if "corrupt" not in self._metric_cache:
            self._metric_cache["corrupt"] = float(self.metric(self.corrupt_out.unsqueeze(0))[0])
        return self._metric_cache["corrupt"]

    @property
    def m_ablated(self) -> float:
        """Metric with every edge ablated."""
        if "ablated" not in self._metric_cache:
            mask = torch.ones(1, self.index.n_edges, self.P, dtype=self.dtype, device=self.device)
            self._metric_cache["ablated"] = float(self.run_masks(mask)[0])
        return self._metric_cache["ablated"]

    def check_task(self, mode: str = "warn", min_gap: float = 0.05) -> None:
        """Check that the full model performs the task: its metric clearly differs from the ablated one.

        The gap must exceed ``min_gap`` times the larger magnitude (and 1e-6).
        """
        if mode == "off":
            return
        if mode not in ("warn", "raise"):
            raise DiscoveryError(f"check must be 'warn', 'raise' or 'off', not {mode!r}.")
        full, abl = self.m_full, self.m_ablated
        gap = abs(full - abl)
        need = max(1e-6, min_gap * max(abs(full), abs(abl)))
        problem = None
        if not math.isfinite(full) or not math.isfinite(abl):
            problem = f"the metric is not finite (full model {full}, ablated {abl})"
        elif gap < need:
            problem = (f"the full model's {self.metric_name} is {full:.4g} and with every edge ablated "
                       f"({self.ablation_name}) it is {abl:.4g}: a gap of {gap:.3g} < {need:.3g}")
        elif self.metric_name == "logit_diff" and full <= 0:
            problem = (f"the full model's mean logit difference is {full:.4g} <= 0: it does not prefer the answer "
                       "over the wrong token")
        if problem is None:
            return
        msg = (f"{problem}. The model does not perform this task, so a circuit for it is meaningless; "
               "check the model was trained on the task and that the prompts/answers match it.")
        if mode == "raise":
            raise TaskNotPerformedError(msg)
        warnings.warn(msg, TaskNotPerformedWarning, stacklevel=3)

    # -- gradients -------------------------------------------------------------------------
    def reader_grads(self, k: int = 1,
                     writer_patch: Callable[[str, torch.Tensor, int, torch.Tensor | None], torch.Tensor] | None = None,
                     objective: Callable[[torch.Tensor, Any, torch.Tensor | None], torch.Tensor] | None = None,
                     rows: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Gradient of the summed metric over K stacked runs w.r.t. every reader group's input.

        The batch is split into chunks of prompts when K stacked copies of it would exceed the memory
        budget (the metric is a batch mean, so chunk gradients are weighted by chunk size / B).

        Args:
            k: number of stacked copies of the batch (e.g. integration steps).
            writer_patch: optional ``fn(hook, activation (K*b, ...), k, rows) -> new activation`` applied
                at every writer hook (used for integrated gradients); ``rows`` are the prompt indices of
                the chunk (``None`` = the whole batch).
            objective: optional ``fn(out (K, b, ...), pairs, rows) -> scalar`` differentiated instead of
                the summed metric (``pairs`` and ``rows`` as for ``writer_patch``).
            rows: only these prompts (indices; one pass, no chunking).
        Returns:
            per reader group, the gradient summed over the K copies, shape (B or len(rows), P, R, F).
        """
        if not METRICS.meta(self.metric_name).get("differentiable", True):
            raise DiscoveryError(
                f"metric {self.metric_name!r} is not differentiable, so gradient methods (eap, eap_ig, ...) cannot "
                "use it; use logit_diff, prob or kl_divergence."
            )
        if rows is not None:
            return self._reader_grads_rows(k, writer_patch, rows, objective)
        per_example = 4.0 * k * self.bytes_per_config / max(self.B, 1)  # autograd keeps activations
        rows_per = max(1, int(self.memory_bytes // max(per_example, 1.0)))
        if rows_per >= self.B or not hasattr(self.pairs, "__getitem__"):
            return self._reader_grads_rows(k, writer_patch, None, objective)
        parts = [self._reader_grads_rows(k, writer_patch, torch.arange(a, min(a + rows_per, self.B)), objective)
                 for a in range(0, self.B, rows_per)]
        return [torch.cat([p[gi] for p in parts], dim=0) for gi in range(len(self.index.groups))]

    def _reader_grads_rows(self, k: int, writer_patch: Any, rows: torch.Tensor | None,
                           objective: Any = None) -> list[torch.Tensor]:
        idx = self.index
        pairs = self.pairs if rows is None else self.pairs[rows]
        clean_out = self.clean_out if rows is None else self.clean_out[rows.to(self.clean_out.device)]
        b = self.B if rows is None else len(rows)
        eps: list[torch.Tensor] = [None] * len(idx.groups)  # type: ignore[list-item]

        def reader_fn(gi: int) -> Callable[..., Any]:
            def fn(x: torch.Tensor, point: HookPoint) -> torch.Tensor:
                e = torch.zeros_like(x, requires_grad=True)
                eps[gi] = e
                return x + e

            return fn

        fns: list[tuple[str, Callable[..., Any]]] = [(g.hook, reader_fn(gi)) for gi, g in enumerate(idx.groups)]
        if writer_patch is not None:
            for hook in idx.writer_hooks:
                fns.append((hook, (lambda h: lambda x, point: writer_patch(h, x, k, rows))(hook)))
        with torch.enable_grad(), hooks(self.model, fns, points=self.points), self._positions(True):
            out = _call(self.model, _repeat(pairs.clean, k))
            out = out.reshape((k, b) + tuple(out.shape[1:]))
            if objective is None:
                total = self.metric_fn(out, pairs, clean_out).sum() * (b / self.B)
            else:
                total = objective(out, pairs, rows)
            if not total.requires_grad:
                raise DiscoveryError("the metric does not depend on the model's activations through autograd.")
            missing = [idx.groups[i].hook for i, e in enumerate(eps) if e is None]
            if missing:
                raise DiscoveryError(f"reader hooks {missing} did not fire in the forward pass.")
            grads = torch.autograd.grad(total, eps, allow_unused=True)
        result = []
        for gi, (g, gr) in enumerate(zip(idx.groups, grads)):
            if gr is None:
                gr = torch.zeros_like(eps[gi])
            result.append(self._hook_to_group_layout(g, gr.detach(), k, b).sum(0))
        return result

    def _hook_to_group_layout(self, g: ReaderGroup, t: torch.Tensor, k: int, b: int) -> torch.Tensor:
        """Hook tensor (K*B, ...) -> (K, B, P, R, F)."""
        n = t.shape[0]
        if g.heads[0] is None:
            t = t.reshape(n, 1, -1)
        else:
            t = t.index_select(2, torch.tensor(g.heads, device=t.device)).movedim(2, 1).reshape(n, len(g.heads), -1)
        t = t.reshape(n, t.shape[1], self.P, -1).permute(0, 2, 1, 3)  # (N, P, R, F)
        return t.reshape((k, b) + tuple(t.shape[1:]))

    def attribution_scores(self, grads: list[torch.Tensor], squares_per_prompt: bool = False,
                           rows: torch.Tensor | None = None) -> torch.Tensor:
        """Edge scores (n_edges, P): (ablation - clean) writer outputs dotted with reader gradients,
        summed over the prompts (``squares_per_prompt``: each prompt's product squared, then summed;
        ``rows``: the prompts the gradients are of)."""
        scores = torch.zeros(self.index.n_edges + 1, self.P, dtype=torch.float64, device=self.device)
        for gi, g in enumerate(self.index.groups):
            # clean - ablation (U, B, P, F) from the engine's stack: the negative of the difference
            # scored, negated back below (exact: IEEE rounding is symmetric)
            diff = self._static_rows(self.group_class[gi], [self.wlocal[u] for u in g.writers])
            if rows is not None:
                diff = diff.index_select(1, rows.to(diff.device))
            if squares_per_prompt:
                s = torch.einsum("ubpf,bprf->ubrp", diff.double(), grads[gi].double()).square().sum(1)
            else:
                s = -torch.einsum("ubpf,bprf->urp", diff.double(), grads[gi].double())  # (U, R, P)
            scores.index_put_((self.group_table[gi].flatten().to(scores.device),), s.reshape(-1, self.P), accumulate=True)
        return scores[:-1]


def _progress(it: Any, desc: str, enabled: bool) -> Any:
    if not enabled:
        return it
    from tqdm.auto import tqdm

    return tqdm(it, desc=desc, leave=False)
