"""Per-head input copies of attention: normalise and project only what a hook changed.

Attention with split q/k/v inputs (TransformerLens ``use_split_qkv_input``) hands every head its own
copy of the residual stream at a hook point, so that one head's input can be patched alone. A
patched copy must be normalised and projected on its own (the norm is nonlinear), but the copies
a hook left alone equal the shared residual and are projected once from it. Which copies changed
comes from the hook's :func:`~neurocircuits.layers.hooks.mark_changed` hint when it gives one
(discovery's patching engine does), else from comparing the copies with the shared residual.
A hook may also describe the copies without writing them (:class:`~neurocircuits.layers.hooks.LazyHeads`):
then each distinct copy is normalised and projected once, and kept in the hook's store for later
forwards (discovery's ACDC tests one edge at a time, so almost every copy recurs).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .hooks import Changed, LazyHeads, changed_slices, repeated_blocks

Norm = Callable[[torch.Tensor], torch.Tensor]

#: measured with a fused layer norm: projecting every copy is cheaper once 1/8 of the rows changed
PER_COPY_FRACTION = 8


def project_copies(split: torch.Tensor, norm: Norm, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``norm(split[:, :, h]) @ w[h] + b[h]`` for every head: (batch, pos, head, d_head)."""
    return torch.einsum("bphd,hde->bphe", norm(split), w) + b


def project_shared(resid: torch.Tensor, norm: Norm, w: torch.Tensor, b: torch.Tensor,
                   keep: torch.Tensor | None = None) -> torch.Tensor:
    """Every head's projection of one shared residual (batch, pos, d_model): (batch, pos, head, d_head).

    With ``keep``, only those positions. A residual marked by
    :func:`~neurocircuits.layers.hooks.mark_repeated` (K identical batch blocks) is projected once
    per block and repeated.
    """
    blocks = repeated_blocks(resid)
    if keep is not None:
        resid = resid.index_select(1, keep)
    if blocks > 1 and resid.shape[0] % blocks == 0 and not (torch.is_grad_enabled() and resid.requires_grad):
        one = torch.einsum("bpd,hde->bphe", norm(resid[:resid.shape[0] // blocks]), w) + b
        return one.repeat(blocks, 1, 1, 1)
    return torch.einsum("bpd,hde->bphe", norm(resid), w) + b


def project_changed_heads(resid: torch.Tensor, split: torch.Tensor, norm: Norm, w: torch.Tensor, b: torch.Tensor,
                          keep: torch.Tensor | None = None, fast: bool = True) -> torch.Tensor:
    """Projections of the per-head copies ``split`` that a hook returned in place of ``resid``'s.

    Args:
        resid: (batch, pos, d_model) residual stream the copies were made from.
        split: (batch, pos, head, d_model) the hook's output (not the unchanged expanded view:
            callers take the shared path themselves when the hook returned its input).
        norm: the per-row normalisation (LayerNorm / RMSNorm; acts on each row alone).
        w: (head, d_model, d_head) per-head weights; b: (head, d_head) biases.
        keep: positions to project (index along ``pos``); None: all.
        fast: False forces the per-copy reference path.

    Returns:
        (batch, len(keep) or pos, head, d_head), equal to :func:`project_copies` of ``split``.
    """
    hint = changed_slices(split)
    full_resid, full_split = resid, split
    if keep is not None:
        resid = resid.index_select(1, keep)
        split = split.index_select(1, keep)
    expected = resid.shape[:2] + (w.shape[0], resid.shape[-1])
    if not fast or split.shape != expected or (torch.is_grad_enabled() and split.requires_grad):
        return project_copies(split, norm, w, b)
    if full_split.stride(2) == 0:  # a stride-0 view: every head reads one and the same stream
        return project_shared(full_split.select(2, 0), norm, w, b, keep)
    if hint is not None and hint.dim == 2:
        return _project_hinted(full_resid, split, norm, w, b, hint, keep)
    # probe the last position first: when at least 1/8 of its rows changed, project every copy
    # without comparing every row
    shared = resid.unsqueeze(2).expand_as(split)
    probe = (split[:, -1] != shared[:, -1]).any(-1)  # (batch, head)
    if PER_COPY_FRACTION * int(probe.sum()) >= probe.numel():
        return project_copies(split, norm, w, b)
    changed = (split != shared).any(-1)  # (batch, pos, head)
    rows = changed.nonzero(as_tuple=True)
    n_changed = rows[0].numel()
    if PER_COPY_FRACTION * n_changed >= changed.numel():
        return project_copies(split, norm, w, b)
    out = project_shared(full_resid, norm, w, b, keep)
    if n_changed == 0:
        return out
    normed = norm(split[rows])  # (M, d_model)
    heads = rows[2]
    new = torch.empty(n_changed, w.shape[-1], dtype=out.dtype, device=out.device)
    for h in torch.unique(heads).tolist():
        sel = (heads == h).nonzero().flatten()
        new[sel] = torch.addmm(b[h], normed.index_select(0, sel), w[h])
    out.index_put_(rows, new)
    return out


def _project_hinted(resid: torch.Tensor, split: torch.Tensor, norm: Norm, w: torch.Tensor, b: torch.Tensor,
                    hint: Changed, keep: torch.Tensor | None) -> torch.Tensor:
    """Shared projection for the heads the hook left alone; the changed heads' copies projected on
    their own: once per set of equal copies (``hint.groups``), and once per batch block for those
    the hint says repeat over the blocks."""
    n_heads = w.shape[0]
    n = split.shape[0]
    blocks = hint.blocks if hint.blocks > 1 and n % hint.blocks == 0 else 1
    uniform = set(hint.uniform) if blocks > 1 else set()
    groups = [tuple(gr) for gr in hint.groups if len(gr) > 1]
    grouped = {h for gr in groups for h in gr}
    single_u = [h for h in hint.index if h not in grouped and h in uniform]
    single_v = [h for h in hint.index if h not in grouped and h not in uniform]
    if len(single_v) == n_heads:
        return project_copies(split, norm, w, b)
    out = project_shared(resid, norm, w, b, keep)

    def put(heads: list[int] | tuple[int, ...], rows: int, shared_copy: bool) -> None:
        idx = torch.tensor(heads, dtype=torch.long, device=split.device)
        w_h, b_h = w.index_select(0, idx), b.index_select(0, idx)
        if shared_copy:  # equal copies: normalise one of them
            own = project_shared(split[:rows, :, heads[0]], norm, w_h, b_h)
        else:
            own = project_copies(split[:rows].index_select(2, idx), norm, w_h, b_h)
        out.index_copy_(2, idx, own if rows == n else own.repeat(blocks, 1, 1, 1))

    for gr in groups:
        put(gr, n // blocks if gr[0] in uniform else n, True)
    if single_u:
        put(single_u, n // blocks, False)
    if single_v:
        put(single_v, n, False)
    return out


def project_lazy(lazy: LazyHeads, norm: Norm, w: torch.Tensor, b: torch.Tensor,
                 keep: torch.Tensor | None = None) -> torch.Tensor:
    """Projections of the per-head copies a :class:`~neurocircuits.layers.hooks.LazyHeads` hint describes.

    Every distinct (copy, head) is normalised and projected once and kept in ``lazy.store``; the
    output gathers them: (K * B, len(keep) or pos, head, d_head), equal to :func:`project_copies` of
    the written copies.
    """
    base = lazy.base
    n_heads = w.shape[0]
    kt = None if keep is None else tuple(keep.tolist())
    shared_key = (lazy.base_key, kt)
    shared = lazy.store.get(shared_key)
    if shared is None:
        shared = project_shared(base, norm, w, b, keep)
        lazy.store.put(shared_key, shared)
    table: list[torch.Tensor] = [shared.select(2, h) for h in range(n_heads)]  # row h: head h unpatched
    rows: dict[tuple[object, int], int] = {}
    idx: list[int] = []
    missing: dict[object, list[tuple[int, tuple[object, ...]]]] = {}  # copy key -> (row, store key) to compute
    for keys in lazy.keys:
        for h, key in enumerate(keys):
            if key is None:
                idx.append(h)
                continue
            row = rows.get((key, h))
            if row is None:
                row = rows[(key, h)] = len(table)
                store_key = (key, h, kt)
                hit = lazy.store.get(store_key)
                if hit is None:
                    missing.setdefault(key, []).append((row, store_key))
                table.append(hit)  # type: ignore[arg-type]  # filled below when missing
            idx.append(row)
    if len(table) == n_heads:  # nothing patched
        return shared.repeat(len(lazy.keys), 1, 1, 1)
    base_kept = base if keep is None else base.index_select(1, keep)
    for key, todo in missing.items():  # normalise each copy once, project it for every head that reads it
        delta = lazy.delta(key)
        x = base_kept - (delta if keep is None else delta.index_select(1, keep))
        normed = norm(x).reshape(-1, x.shape[-1])
        for row, store_key in todo:
            h = store_key[1]
            val = torch.addmm(b[h], normed, w[h]).view(x.shape[:2] + (w.shape[-1],))  # type: ignore[index]
            lazy.store.put(store_key, val)
            table[row] = val
    # each copy written once into its slot, head-major within a configuration: the returned
    # (K * B, pos', head, d_head) is a view whose (batch, head, pos', d_head) order is contiguous, the
    # layout attention's products read, so neither a gather nor a permuting copy is made
    k = len(lazy.keys)
    n_b, n_p, n_e = shared.shape[0], shared.shape[1], shared.shape[3]
    heads_of = [[table[row] for row in idx[kk * n_heads:(kk + 1) * n_heads]] for kk in range(k)]
    if torch.is_grad_enabled() and any(t.requires_grad for t in table):  # out= does not record a graph
        out = torch.stack([torch.stack(heads, dim=1) for heads in heads_of])
    else:
        out = torch.empty((k, n_b, n_heads, n_p, n_e), dtype=shared.dtype, device=shared.device)
        for kk, heads in enumerate(heads_of):
            torch.stack(heads, dim=1, out=out[kk])
    return out.view(k * n_b, n_heads, n_p, n_e).permute(0, 2, 1, 3)
