"""Readers whose ablated writers ran before the cut: contributions computed once, inputs written in place.

On the clean prompts, the writers that run before a patched forward's cut hook (see
:mod:`._engine`) give the same clean-minus-ablation difference in every configuration. A reader's
contribution from them depends only on its mask column, so each distinct column is contracted once
and kept in a byte-bounded LRU cache (ACDC's consecutive forwards share almost all columns). When the
cut hands every configuration the same input block (``mark_repeated``), a reader whose column is
the same in all configurations is patched once and broadcast, and the model is told which heads
those are (``mark_changed``), so it can project them once too. Readers at the cut whose writers all
ran before it go further when the model accepts it: they only describe each head's input as the clean
block minus a keyed column (``LazyHeads``), and the model projects each distinct column once and keeps
it in the engine's LRU across forwards.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..layers.hooks import LazyHeads, accepts_lazy_heads, changed_slices, mark_changed, mark_lazy_heads, repeated_blocks
from ._index import DiscoveryError, ReaderGroup


def _scatter_configs(xs: torch.Tensor, rows: torch.Tensor, patched: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """``xs`` (K, B, ...) with the configurations ``rows`` replaced by ``patched`` (len(rows) * B, ...),
    reshaped to ``shape``; keeps ``patched``'s changed-heads hint (the rest is ``xs`` unchanged)."""
    out = xs.index_copy(0, rows, patched.reshape((rows.numel(),) + tuple(xs.shape[1:]))).reshape(shape)
    hint = changed_slices(patched)
    return out if hint is None else mark_changed(out, *hint)


def _complement_to_direct(plan: Any, n_writers: int, n_readers: int, P: int) -> torch.Tensor:
    """The ablation mask (K, U, R, P) of a ``complement`` plan, whose mask holds the *kept* edges of
    the writers ``cu`` x readers ``cr`` (every other edge of those readers is ablated)."""
    _, kept, cu, cr = plan
    m = kept.new_ones((kept.shape[0], n_writers, n_readers, P))
    if cu and cr:
        cu_t = torch.tensor(cu, dtype=torch.long, device=kept.device)
        cr_t = torch.tensor(cr, dtype=torch.long, device=kept.device)
        m[:, cu_t[:, None], cr_t[None, :]] = 1 - kept
    return m


def _plan_mask(plan: Any, n_writers: int, n_readers: int, P: int, k: int) -> torch.Tensor:
    """The ablation mask (K, U, R, P) of any plan (``direct``, ``complement`` or ``sparse``)."""
    mode, m_g, cu, _ = plan
    if mode == "direct":
        return m_g
    if mode == "complement":
        return _complement_to_direct(plan, n_writers, n_readers, P)
    full = m_g.new_zeros((k,) + tuple(m_g.shape[1:]))
    full[torch.tensor(cu, dtype=torch.long, device=m_g.device)] = m_g
    return full


def _delta_like_heads(delta: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reader deltas (K, B, P, R, F) as a view laid out like per-head inputs (K, B, pos, R, ...) of
    ``shape`` (K, B, pos, heads, ...): F holds pos / P positions, and P or pos / P is 1."""
    k, b, p, r, f = delta.shape
    rest = tuple(shape[4:])
    per = shape[2] // p
    return delta.view((k, b, p, r, per) + rest).movedim(4, 3).reshape((k, b, shape[2], r) + rest)


def _columns(m: torch.Tensor) -> np.ndarray:
    """The mask (K, U, R, P) as host columns (K, R, U, P): ``cols[k, r].tobytes()`` keys reader r's
    column in configuration k (numpy: indexing it per column is several times cheaper than torch's)."""
    return m.permute(0, 2, 1, 3).contiguous().cpu().numpy()


def _one_edge_set(m: torch.Tensor) -> bool:
    """Whether the mask (K, U, R, P) ablates each edge fully or not at all, the same way in every
    configuration and at every position."""
    return bool(((m == 0) | (m == 1)).all()) and bool((m == m[:1, :, :, :1]).all())


class StaticReaders:
    """Mixin of :class:`~neurocircuits.discover.PatchEngine`: turning reader deltas into hook outputs, and
    the reader hooks for writers that ran before the cut."""

    # provided by PatchEngine
    B: int
    P: int
    wclass: list[int]
    wlocal: list[int]
    clean_flat: list[torch.Tensor]
    abl_flat: list[torch.Tensor]
    last_modes: dict[str, str]
    use_blocks: bool
    use_static_delta_cache: bool
    delta_cache_limit_bytes: float
    _static_cache: dict[int, torch.Tensor]
    _delta_cache: Any
    _delta_cache_bytes: int
    use_lazy_heads: bool
    use_ablated_stream: bool
    last_cut: str | None
    _last_replace: bool
    _cut_by_hook: dict[str, str | None]

    def _reader_delta_to_hook(self, g: ReaderGroup, rsel: list[int], delta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # delta (K, B, P, R', F) for the readers rsel of group g -> x minus delta, shaped like x (N, ...)
        n = x.shape[0]
        r = len(rsel)
        d = delta.reshape(n, delta.shape[2], r, -1).permute(0, 2, 1, 3)  # (N, R', P, F) (P: a window's, trimmed)
        if g.heads[0] is None:
            return x - d.reshape(x.shape)
        rest = x.shape[1:2] + x.shape[3:]
        d = d.reshape((n, r) + tuple(rest)).movedim(1, 2)  # (N, pos, R', ...)
        heads = [g.heads[i] for i in rsel]
        # hint for the model: only these heads changed, and (when x is K identical blocks) which of
        # them changed identically in every configuration, so it may project those once
        blocks = repeated_blocks(x)
        uniform: list[int] = []
        if blocks > 1 and delta.shape[0] == blocks:
            same = (delta[1:] == delta[:1]).flatten(0, 2).all(0).all(-1)  # (R',)
            uniform = [h for h, u in zip(heads, same.tolist()) if u]
        if heads == list(range(x.shape[2])):
            return mark_changed(x - d, 2, heads, blocks, uniform)
        out = x.clone()  # x - d on the patched heads (x + (-d) is exactly x - d), x elsewhere
        out.index_add_(2, torch.tensor(heads, device=x.device), d, alpha=-1)
        return mark_changed(out, 2, heads, blocks, uniform)

    def _static_class(self, c: int) -> torch.Tensor:
        """Clean-minus-ablation writer outputs of class ``c``, stacked in local order: (n_c, B, P, F)."""
        if c not in self._static_cache:
            ws = sorted((w for w in range(len(self.wclass)) if self.wclass[w] == c), key=lambda w: self.wlocal[w])
            self._static_cache[c] = torch.stack([self.clean_flat[w] - self.abl_flat[w] for w in ws])
        return self._static_cache[c]

    def _static_rows(self, c: int, locs: list[int]) -> torch.Tensor:
        """Rows ``locs`` of :meth:`_static_class` ``c`` (U, B, P, F): a view when they are contiguous."""
        S = self._static_class(c)
        if locs == list(range(locs[0], locs[0] + len(locs))):
            return S[locs[0]:locs[0] + len(locs)]
        return S.index_select(0, torch.tensor(locs, device=S.device))

    def _static_reader(self, g: ReaderGroup, c: int, plan: Any, rsel: list[int], x: torch.Tensor, writers: list[int],
                       rows: list[int], static: set[int], bufs: dict[int, torch.Tensor], k: int) -> torch.Tensor:
        """A reader hook whose writers ran (partly) before the cut on the clean prompts: their differences
        are the same in all K configurations, so they are contracted once from (U, B, P, F), not (U, K, B, P, F)."""
        B = self.B
        dev = x.device
        pre = [i for i, w in enumerate(writers) if w in static]
        post = [i for i, w in enumerate(writers) if w not in static]
        locs = [self.wlocal[writers[i]] for i in pre]
        S = self._static_rows(c, locs)
        prow = [rows[i] for i in post]
        if not prow:
            D = None
        elif prow == list(range(prow[0], prow[0] + len(prow))):  # contiguous: a view, no copy
            D = bufs[c][prow[0]:prow[0] + len(prow)]
        else:
            D = bufs[c].index_select(0, torch.tensor(prow, device=dev))
        pre_t = torch.tensor(pre, device=dev)
        post_t = torch.tensor(post, device=dev)
        key0 = (g.hook, tuple(locs))
        if (D is None and self.use_lazy_heads and self.use_static_delta_cache and g.heads[0] is not None
                and self._reads_clean_cut(g)
                and accepts_lazy_heads(x) and x.stride(2) == 0 and repeated_blocks(x) == k
                and not torch.is_grad_enabled()):
            return self._lazy_reader(g, rsel, x, _plan_mask(plan, len(writers), len(rsel), self.P, k), key0, S, k)
        m_all = None  # the plan's full mask (K, U, R, P), once made
        if D is not None and self._ablated_stream_applies(g, rsel, x, len(post), static):
            m_all = _plan_mask(plan, len(writers), len(rsel), self.P, k)
            m_post = m_all.index_select(1, post_t)
            if bool((m_post == 1).all()):
                base = self._ablated_stream(g, x, D, k)
                return self._lazy_reader(g, rsel, x, m_all.index_select(1, pre_t), key0, S, k, base)
            if _one_edge_set(m_post):
                return self._kept_reader(g, rsel, x, m_all.index_select(1, pre_t), m_post[0, :, :, 0] == 0, D,
                                         key0, S, k)
        if plan[0] != "sparse" and self.use_blocks and self.use_static_delta_cache:
            m_dir = m_all if m_all is not None else _plan_mask(plan, len(writers), len(rsel), self.P, k)
            post_part = None if D is None else (m_dir.index_select(1, post_t), D)
            return self._blocks_reader(g, rsel, x, m_dir.index_select(1, pre_t), key0, S, k, post_part)

        def contract(m: torch.Tensor, krows: torch.Tensor | None = None) -> torch.Tensor:
            m_pre = m.index_select(1, pre_t)
            if self.use_static_delta_cache:
                out = self._cached_static(key0, m_pre, S)
            else:
                out = torch.einsum("kurp,ubpf->kbprf", m_pre, S)
            if D is not None:
                d = D if krows is None else D.index_select(1, krows)
                out = out + torch.einsum("kurp,ukbpf->kbprf", m.index_select(1, post_t), d)
            return out

        mode, m_g, cu, cr = plan
        if mode == "sparse":
            rows_k = torch.tensor(cu, dtype=torch.long, device=dev)
            delta = contract(m_g, rows_k)
            xs = x.reshape((k, B) + tuple(x.shape[1:]))
            sub = xs.index_select(0, rows_k).reshape((len(cu) * B,) + tuple(x.shape[1:]))
            patched = self._reader_delta_to_hook(g, rsel, delta, sub)
            return _scatter_configs(xs, rows_k, patched, x.shape)
        if mode == "direct":
            return self._reader_delta_to_hook(g, rsel, contract(m_g), x)
        tkey = key0 + ("total",)
        total = self._delta_cache.get(tkey) if self.use_static_delta_cache else None
        if total is None:
            total = S.sum(0).unsqueeze(0)  # (1, B, P, F)
            if self.use_static_delta_cache:
                self._delta_cache[tkey] = total
                self._delta_cache_bytes += total.numel() * total.element_size()
        if D is not None:
            total = total + D.sum(0)
        total = total.expand(k, -1, -1, -1).unsqueeze(3)  # (K, B, P, 1, F)
        if not cu:
            delta = total.expand(-1, -1, -1, len(rsel), -1)
        else:
            m_full = torch.zeros((k, len(writers), len(cr), self.P), dtype=m_g.dtype, device=m_g.device)
            m_full[:, cu] = m_g
            kept = contract(m_full)
            if cr == list(range(len(rsel))):
                delta = total - kept
            else:
                delta = total.repeat(1, 1, 1, len(rsel), 1)
                delta[:, :, :, cr] -= kept
        return self._reader_delta_to_hook(g, rsel, delta, x)

    def _cached_static(self, key0: tuple[Any, ...], m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """``einsum("kurp,ubpf->kbprf", m, S)`` assembled from per-mask-column contributions,
        each computed once and kept in a byte-bounded LRU cache (identical numbers: same einsum per column)."""
        k, _, r, _ = m.shape
        cols = _columns(m)  # (K, R, U, P)
        parts = [self._static_column(key0 + (cols[kk, rr].tobytes(),), m[kk:kk + 1, :, rr:rr + 1], S)
                 for kk in range(k) for rr in range(r)]
        out = torch.stack(parts).view((k, r) + tuple(parts[0].shape))  # (K, R, B, P, F)
        return out.permute(0, 2, 3, 1, 4)  # (K, B, P, R, F)

    def _static_column(self, key: tuple[Any, ...], m_col: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """``sum_u m_col[u] S[u]`` (B, P, F) for one mask column (1, U, 1, P), from the LRU cache."""
        hit = self.get(key)
        if hit is None:
            hit = self.put(key, torch.einsum("kurp,ubpf->kbprf", m_col, S)[0, :, :, 0])  # (B, P, F)
        return hit

    # the byte-bounded LRU of derived tensors; also the ``store`` of LazyHeads hints (models keep their
    # projections of recurring per-head inputs in it)
    def get(self, key: Any) -> torch.Tensor | None:
        hit = self._delta_cache.get(key)
        if hit is not None:
            self._delta_cache.move_to_end(key)
        return hit

    def put(self, key: Any, value: torch.Tensor) -> torch.Tensor:
        old = self._delta_cache.pop(key, None)
        if old is not None:
            self._delta_cache_bytes -= old.numel() * old.element_size()
        self._delta_cache[key] = value
        self._delta_cache_bytes += value.numel() * value.element_size()
        while self._delta_cache_bytes > self.delta_cache_limit_bytes and len(self._delta_cache) > 1:
            _, gone = self._delta_cache.popitem(last=False)
            self._delta_cache_bytes -= gone.numel() * gone.element_size()
        return value

    def _reads_clean_cut(self, g: ReaderGroup) -> bool:
        """Whether the group reads the clean activation of this forward's cut (its own cut hook, and the
        cut returned the cached clean block): only then is its input the same block in every forward."""
        return bool(self._last_replace) and self.last_cut is not None and self._cut_by_hook.get(g.hook) == self.last_cut

    def _ablated_stream_applies(self, g: ReaderGroup, rsel: list[int], x: torch.Tensor, n_post: int,
                                static: set[int]) -> bool:
        """Whether the group may read :meth:`_ablated_stream`: per-head readers on the clean cut, every
        head patched, in a model that accepts :class:`~neurocircuits.layers.hooks.LazyHeads` on one
        stream shared by all heads, with the differences of all ``n_post`` of its writers after the cut
        at hand (a direct plan leaves out writers no head ablates)."""
        return (self.use_ablated_stream and self.use_lazy_heads and self.use_static_delta_cache
                and g.heads[0] is not None
                and bool(self._last_replace) and self.last_cut is not None
                and accepts_lazy_heads(x) and x.stride(2) == 0 and not torch.is_grad_enabled()
                and {g.heads[r] for r in rsel} == set(range(x.shape[2]))
                and n_post == sum(w not in static for w in g.writers))

    def _ablated_stream(self, g: ReaderGroup, x: torch.Tensor, D: torch.Tensor, k: int
                        ) -> tuple[torch.Tensor, tuple[Any, ...]]:
        """The input of a reader whose edges from every writer after the cut are ablated, before its
        edges from writers before the cut are: the clean writers before the cut plus the ablated ones
        after it (and the terms no patch changes), (B, pos, d). It is the same in every configuration
        and every forward from this cut (the discovery contract: a reader's input is a constant plus the
        sum of its writers' outputs), so it is computed once (the stream minus the after-cut writers'
        differences) and kept in the LRU with its key. On first use with several configurations they
        are checked to agree: a model whose reader input has other varying parts (a graph missing a
        writer) raises instead of being patched wrongly."""
        key = ("ablated stream", g.hook, self.last_cut)
        hit = self.get(key)
        if hit is not None:
            return hit, key
        xs = x.view((k, self.B) + tuple(x.shape[1:])).select(3, 0)  # (K, B, pos, d): the stream, shared by heads
        diffs = D.reshape((D.shape[0],) + tuple(xs.shape))  # (U, K, B, pos, d)
        stream = xs[0] - diffs[:, 0].sum(0)
        # the first and the last configuration must agree (to rounding: the sum has U + 1 terms)
        scale = float(xs[0].abs().amax()) + D.shape[0] * float(diffs[:, 0].abs().amax())
        tol = 1e3 * torch.finfo(xs.dtype).eps * max(scale, 1.0)
        if k > 1 and float((xs[-1] - diffs[:, -1].sum(0) - stream).abs().amax()) > tol:
            raise DiscoveryError(
                f"reader hook {g.hook!r}: with every edge from its writers after the cut ablated, its input "
                "still differs between configurations, so it is not a constant plus the sum of its writers' "
                "outputs (the discovery contract); add the missing writers and edges to the model's graph, "
                "or set engine.use_ablated_stream = False.")
        return self.put(key, stream), key

    def _kept_reader(self, g: ReaderGroup, rsel: list[int], x: torch.Tensor, m_pre: torch.Tensor, kept: torch.Tensor,
                     D: torch.Tensor, key0: tuple[Any, ...], S: torch.Tensor, k: int) -> torch.Tensor:
        """Per-head copies written from the fewer of a head's edges from writers after the cut: the
        ablated stream (:meth:`_ablated_stream`) minus the head's cached column plus the differences of
        the writers whose edges it keeps (``kept`` (U, R), the same in every configuration), or, when
        it keeps most, the stream minus the column and the removed ones. ACDC's late-layer value inputs
        keep one or two of their edges from after the cut, so this adds one or two differences where
        the full contraction subtracts them all (same numbers up to float rounding)."""
        self.last_modes[g.hook] = "kept"
        B, U = self.B, D.shape[0]
        base, base_key = self._ablated_stream(g, x, D, k)
        stream = x.view((k, B) + tuple(x.shape[1:])).select(3, 0)  # (K, B, pos, d)
        diffs = D.reshape((U,) + tuple(stream.shape))  # (U, K, B, pos, d)
        out = torch.empty((k, B) + tuple(x.shape[1:]), dtype=x.dtype, device=x.device)  # (K, B, pos, heads, d)
        cols = _columns(m_pre)  # (K, R, U', P)
        for rr, r in enumerate(rsel):
            dst = out.select(3, g.heads[r])
            keys = [key0 + (cols[kk, rr].tobytes(),) for kk in range(k)]
            blocks = [(slice(None), keys[0], 0)] if all(key == keys[0] for key in keys) else \
                [(slice(kk, kk + 1), keys[kk], kk) for kk in range(k)]
            keep_u = kept[:, rr].nonzero().flatten().tolist()
            for rows, key, kk in blocks:
                column = self._static_column(key, m_pre[kk:kk + 1, :, rr:rr + 1], S).reshape(base.shape)
                part = dst[rows]
                if 2 * len(keep_u) <= U:  # from the ablated stream: add what the head keeps
                    ablated = self.get(key + (base_key,))
                    if ablated is None:
                        ablated = self.put(key + (base_key,), base - column)
                    if keep_u:
                        torch.add(diffs[keep_u[0], rows], ablated, out=part)
                    else:
                        part.copy_(ablated.expand_as(part))
                    for u in keep_u[1:]:
                        part.add_(diffs[u, rows])
                else:  # from this forward's stream: subtract what the head removes
                    torch.sub(stream[rows], column, out=part)
                    for u in sorted(set(range(U)) - set(keep_u)):
                        part.sub_(diffs[u, rows])
        return mark_changed(out.view(x.shape), 2, [g.heads[r] for r in rsel])

    def _lazy_reader(self, g: ReaderGroup, rsel: list[int], x: torch.Tensor, m: torch.Tensor,
                     key0: tuple[Any, ...], S: torch.Tensor, k: int,
                     base_of: tuple[torch.Tensor, tuple[Any, ...]] | None = None) -> torch.Tensor:
        """Per-head inputs described, not written (:class:`~neurocircuits.layers.hooks.LazyHeads`): for a
        reader group at the cut, all of whose writers ran before it, on K identical clean input blocks
        shared by all heads. Head ``h`` of configuration ``k`` reads the clean block minus one cached
        contribution per mask column; the model projects each distinct column once and keeps it
        across forwards (ACDC's consecutive forwards repeat almost every column). With ``base_of``
        (a stream and its store key, see :meth:`_ablated_stream`) the heads read that stream instead
        of the clean block."""
        self.last_modes[g.hook] = "lazy" if base_of is None else "lazy-ablated"
        B = self.B
        if base_of is None:
            base = x.view((k, B) + tuple(x.shape[1:]))[0].select(2, 0)  # (B, pos, d): the shared clean stream
            base_key: tuple[Any, ...] = key0[:1] + ("clean",)
        else:
            base, base_key = base_of
        cols = _columns(m)  # (K, R, U, P)
        touched = cols.reshape(cols.shape[:2] + (-1,)).any(-1).tolist()  # (K, R): the column ablates something
        n_heads = x.shape[2]
        first: dict[tuple[Any, ...], tuple[tuple[Any, ...], int, int]] = {}  # copy key -> (column key, k, r)
        keys: list[tuple[Any, ...]] = []
        for kk in range(k):
            row: list[Any] = [None] * n_heads
            for rr, r in enumerate(rsel):
                if touched[kk][rr]:
                    column = key0 + (cols[kk, rr].tobytes(),)
                    key = column if base_of is None else column + (base_key,)  # a copy: its column on its base
                    first.setdefault(key, (column, kk, rr))
                    row[g.heads[r]] = key
            keys.append(tuple(row))

        def delta(key: Any) -> torch.Tensor:
            column, kk, rr = first[key]
            return self._static_column(column, m[kk:kk + 1, :, rr:rr + 1], S).reshape(base.shape)

        return mark_lazy_heads(x, LazyHeads(base, tuple(keys), delta, self, base_key))

    def _blocks_reader(self, g: ReaderGroup, rsel: list[int], x: torch.Tensor, m: torch.Tensor,
                       key0: tuple[Any, ...], S: torch.Tensor, k: int,
                       post: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """A reader hook whose ablated writers ran (partly) before the cut, written straight into its
        output: each configuration's input minus one cached contribution per (configuration, reader)
        for the writers before the cut (``m`` (K, U, R, P) over ``S``), minus the einsum of the writers
        after it (``post = (m_post, D)``). On K identical input blocks (``mark_repeated``) a reader
        whose contribution is the same in every configuration is computed once and broadcast, and the
        output says which heads those are (``mark_changed``). Same numbers as the stacked contraction."""
        B = self.B
        self.last_modes[g.hook] = "blocks"
        cols = _columns(m)  # (K, R, U, P)
        by_head = g.heads[0] is not None
        if by_head and len(rsel) == x.shape[2] and x.stride(2) == 0:
            one = self._one_input_for_all_heads(x, m, cols, key0, S, k, post)
            if one is not None:
                return one
        xs = x.view((k, B) + tuple(x.shape[1:]))
        block = tuple(xs.shape[1:3]) + tuple(xs.shape[4:]) if by_head else tuple(xs.shape[1:])  # one reader's (B, pos, ...)
        repeated = k > 1 and repeated_blocks(x) == k
        post_free = [True] * len(rsel) if post is None else (post[0] != 0).any(3).any(1).logical_not().all(0).tolist()
        # Every value is written once: with repeated blocks, one block holds x with every reader whose
        # contribution is the same in all configurations patched and is broadcast to all K; otherwise
        # each reader's slice is x's minus its contribution, straight into a fresh output.
        if repeated:
            base = xs[0].clone()
        else:
            base = torch.empty_like(xs)
            if by_head:
                for h in sorted(set(range(x.shape[2])) - {g.heads[r] for r in rsel}):
                    base.select(3, h).copy_(xs.select(3, h))
        members = self._equal_readers(x, cols, post) if by_head else {rr: [] for rr in range(len(rsel))}
        grouping = any(members.values())
        uniform: list[int] = []
        varying: list[tuple[int, int, list[tuple[Any, ...]]]] = []
        for rr in members:
            r = rsel[rr]
            keys = [key0 + (cols[kk, rr].tobytes(),) for kk in range(k)]
            if any(key != keys[0] for key in keys):
                varying.append((rr, r, keys))
                continue
            dst = base.select(base.dim() - x.dim() + 2, g.heads[r]) if by_head else base
            src = xs[0] if repeated else xs
            src = src.select(src.dim() - x.dim() + 2, g.heads[r]) if by_head else src
            part = self._static_column(keys[0], m[:1, :, rr:rr + 1], S)
            torch.sub(src, part.reshape(block), out=dst)  # broadcast over the K configurations when not repeated
            if by_head and repeated and post_free[rr]:
                uniform += [g.heads[rsel[i]] for i in [rr, *members[rr]]]
        out = base.unsqueeze(0).expand_as(xs).contiguous() if repeated else base
        for rr, r, keys in varying:
            for kk in range(k):
                part = self._static_column(keys[kk], m[kk:kk + 1, :, rr:rr + 1], S)
                dst = out[kk].select(2, g.heads[r]) if by_head else out[kk]
                src = xs[0] if repeated else xs[kk]
                src = src.select(2, g.heads[r]) if by_head else src
                torch.sub(src, part.reshape(src.shape), out=dst)
        if post is not None:
            m_post, D = post
            delta = torch.einsum("kurp,ukbpf->kbprf", m_post, D)  # (K, B, P, R, F)
            if by_head:
                d = _delta_like_heads(delta, out.shape)  # (K, B, pos, R, ...) view
                heads = [g.heads[r] for r in rsel]
                if grouping:
                    for rr in members:
                        out.select(3, heads[rr]).sub_(d.select(3, rr))
                elif heads == list(range(out.shape[3])):
                    out.sub_(d)
                else:
                    out.index_add_(3, torch.tensor(heads, device=x.device), d, alpha=-1)
            else:
                out.sub_(delta.reshape(out.shape))
        groups = []
        for rr, same in members.items():  # readers equal to a computed one: copies
            for other in same:
                out.select(3, g.heads[rsel[other]]).copy_(out.select(3, g.heads[rsel[rr]]))
            if same:
                groups.append([g.heads[rsel[i]] for i in [rr, *same]])
        out = out.view(x.shape)
        if not by_head:
            return out
        return mark_changed(out, 2, [g.heads[r] for r in rsel], k if repeated else 1, uniform, groups)

    @staticmethod
    def _equal_readers(x: torch.Tensor, cols: np.ndarray, post: tuple[torch.Tensor, torch.Tensor] | None
                       ) -> dict[int, list[int]]:
        """Readers (positions in ``rsel``) to compute -> the later readers equal to each: same mask
        column in every configuration (before and after the cut) on one input stream shared by all
        heads (stride 0). Without a shared stream every reader is computed."""
        n_r = cols.shape[1]
        if x.stride(2) != 0:
            return {rr: [] for rr in range(n_r)}
        first: dict[tuple[bytes, bytes], int] = {}
        members: dict[int, list[int]] = {}
        for rr in range(n_r):
            key = (cols[:, rr].tobytes(), b"" if post is None else post[0][:, :, rr].cpu().numpy().tobytes())
            if key in first:
                members[first[key]].append(rr)
            else:
                first[key] = rr
                members[rr] = []
        return members

    def _one_input_for_all_heads(self, x: torch.Tensor, m: torch.Tensor, cols: np.ndarray, key0: tuple[Any, ...],
                                 S: torch.Tensor, k: int, post: tuple[torch.Tensor, torch.Tensor] | None
                                 ) -> torch.Tensor | None:
        """Every head patched with the same mask column in every configuration, on an input that is one
        stream shared by all heads (stride 0 over heads, as a transformer's per-head copies of the
        residual are): all heads get the same input, computed once and returned as a stride-0 view over
        the heads, which a model can normalise and project once (ACDC's late layers, with all or none
        of a group's edges removed, are mostly like this). None when the columns differ."""
        n_r = cols.shape[1]
        if any(not np.array_equal(cols[:, r], cols[:, 0]) for r in range(1, n_r)):
            return None
        if post is not None and any(not torch.equal(post[0][:, :, r], post[0][:, :, 0]) for r in range(1, n_r)):
            return None
        B = self.B
        xs = x.view((k, B) + tuple(x.shape[1:])).select(3, 0)  # (K, B, pos, ...): the shared stream
        keys = [key0 + (cols[kk, 0].tobytes(),) for kk in range(k)]
        if all(key == keys[0] for key in keys):
            y = xs - self._static_column(keys[0], m[:1, :, :1], S).reshape(xs.shape[1:])
        else:
            y = torch.stack([xs[kk] - self._static_column(keys[kk], m[kk:kk + 1, :, :1], S).reshape(xs.shape[1:])
                             for kk in range(k)])
        if post is not None:
            m_post, D = post
            y = y - torch.einsum("kup,ukbpf->kbpf", m_post[:, :, 0], D).reshape(y.shape)
        heads = list(range(x.shape[2]))
        out = y.unsqueeze(3).expand((k, B) + tuple(x.shape[1:])).reshape(x.shape)  # a view: stride 0 over heads
        return mark_changed(out, 2, heads)

