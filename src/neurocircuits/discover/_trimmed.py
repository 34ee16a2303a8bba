"""Patching hooks on position-trimmed tensors.

A model that computes only the positions its output needs in its last layer (``output_positions``,
used when the metric reads one answer position) can hand hooks there the computed positions alone
(:func:`~neurocircuits.layers.hooks.hook_trimmed`) instead of full-size tensors padded with zeros.
The engine's writer and reader hooks accept them: a writer records its difference at those positions
only, and a reader's input is patched from the same window of every writer's difference. The window
is a few positions of many, so the reader contracts its whole mask directly, without the caches the
full-size readers need.
"""

from __future__ import annotations

from typing import Any

import torch

from ..layers.hooks import Trimmed


def window(t: torch.Tensor, tr: Trimmed, P: int) -> torch.Tensor:
    """The view of ``t`` (..., P, F) at the positions of ``tr``: along P with one mask entry per position
    (``P == tr.full``), else (P == 1) the matching slice of F, which holds the positions in order."""
    if P == 1:
        per = t.shape[-1] // tr.full
        return t[..., tr.start * per:tr.stop * per]
    return t[..., tr.start:tr.stop, :]


def window_mask(m: torch.Tensor, tr: Trimmed, P: int) -> torch.Tensor:
    """The mask (..., P) at the positions of ``tr`` (unchanged for P == 1)."""
    return m if P == 1 else m[..., tr.start:tr.stop]


def trimmed_delta(m: torch.Tensor, writers: list[int], rows: list[int], static: set[int],
                  static_diff: Any, bufs_c: torch.Tensor, tr: Trimmed, P: int) -> torch.Tensor:
    """Reader deltas (K, B, P', R, F') in the window of ``tr``: ``sum_u m[k, u, r] D_u`` with ``m``
    (K, U, R, P) over ``writers`` (buffer ``rows``), ``D_u`` the writer's clean-minus-ablation
    difference (``static_diff(u)`` (B, P, F), the same in every configuration) for the ``static``
    writers and its buffer row ``bufs_c[row]`` (K, B, P, F) for the others."""
    m = window_mask(m, tr, P)
    pre = [i for i, w in enumerate(writers) if w in static]
    post = [i for i, w in enumerate(writers) if w not in static]
    delta = None
    if pre:
        S = torch.stack([window(static_diff(writers[i]), tr, P) for i in pre])  # (U', B, P', F')
        delta = torch.einsum("kurp,ubpf->kbprf", m[:, pre], S)
    if post:
        D = window(bufs_c, tr, P).index_select(0, torch.tensor([rows[i] for i in post], device=bufs_c.device))
        part = torch.einsum("kurp,ukbpf->kbprf", m[:, post], D)
        delta = part if delta is None else delta + part
    assert delta is not None  # a reader hook has at least one writer
    return delta
