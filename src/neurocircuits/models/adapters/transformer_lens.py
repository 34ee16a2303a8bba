"""Adapter: a TransformerLens 2.x ``HookedTransformer`` as a discoverable neurocircuits model.

TransformerLens (Nanda & Bloom, 2022) exposes its activations through its own ``HookPoint`` class.
:class:`TLAdapter` wraps a ``HookedTransformer`` built with ``use_split_qkv_input=True``,
``use_attn_result=True`` (and ``use_hook_mlp_in=True`` when it has MLPs) and bridges each
TransformerLens hook point to a neurocircuits :class:`~neurocircuits.layers.hooks.HookPoint` whose
module path follows the names of :class:`neurocircuits.models.transformer.HookedTransformer`:

=====================================  ================================================
TransformerLens hook                   neurocircuits hook point (adapter module path)
=====================================  ================================================
``hook_embed``                         ``hook_tok_embed``
``hook_pos_embed``                     ``hook_pos_embed``
``blocks.0.hook_resid_pre``            ``hook_embed`` (token + position embedding), then
                                       ``blocks.0.hook_resid_pre``
``blocks.{l}.hook_{q,k,v}_input``      ``blocks.{l}.attn.hook_{q,k,v}_input``
``blocks.{l}.attn.hook_*``             same path (``hook_q``, ``hook_pattern``, ``hook_result``...)
``blocks.{l}.hook_*``, ``mlp.hook_*``  same path
``blocks.{L-1}.hook_resid_post``       ``blocks.{L-1}.hook_resid_post``, then ``hook_resid_final``
=====================================  ================================================

A bridged hook point sees (and may replace) exactly the tensor TransformerLens computes, so the
computation graph of the discovery contract (writers ``embed``, ``a{l}.h{h}``, ``m{l}``; readers
``a{l}.h{h}.{q,k,v}``, ``m{l}.in``, ``logits``) holds: each reader equals a constant (the output
biases ``b_O``/``b_out`` of earlier blocks) plus the sum of the outputs of the writers upstream of
it. Every discovery method then runs on the TransformerLens model unchanged.

TransformerLens is an optional dependency (the ``bench`` extra, ``transformer-lens<3``; version 4
removed ``HookedTransformer``); it is imported only when an adapter is built. Nothing is
downloaded: build the model from a ``HookedTransformerConfig`` in code (see :func:`tiny_tl_model`)
or pass one you already hold.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...graph import CircuitGraph
from ...layers.attention_ops import causal_minus_inf, head_results
from ...layers.head_inputs import project_changed_heads, project_lazy, project_shared
from ...layers.hooks import (HookPoint, accept_lazy_heads, hook_trimmed, lazy_heads, mark_repeated, name_hook_points,
                              repeated_blocks)

__all__ = [
    "TLAdapter", "TLAdapterError", "from_transformer_lens", "tiny_tl_model",
    "convert_tl_state_dict", "transformer_from_tl_weights",
]


class TLAdapterError(ValueError):
    """The TransformerLens model cannot be adapted (missing option, unsupported architecture)."""


def _require_tl() -> Any:
    try:
        import transformer_lens
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the TransformerLens adapter needs transformer-lens 2.x: pip install 'transformer-lens<3' "
            "(or the neurocircuits[bench] extra)."
        ) from err
    if not hasattr(transformer_lens, "HookedTransformer"):  # pragma: no cover
        raise ImportError(
            f"transformer-lens {getattr(transformer_lens, '__version__', '?')} has no HookedTransformer "
            "(removed in version 4); install 'transformer-lens<3'."
        )
    return transformer_lens


def _tl_to_nc_names(tl_name: str, n_layers: int) -> list[str]:
    """The neurocircuits hook-point paths a TransformerLens hook name is bridged to (in call order)."""
    parts = tl_name.split(".")
    if tl_name == "hook_embed":
        return ["hook_tok_embed"]
    if tl_name == "hook_pos_embed":
        return ["hook_pos_embed"]
    if len(parts) == 3 and parts[0] == "blocks" and parts[2] in ("hook_q_input", "hook_k_input", "hook_v_input"):
        return [f"blocks.{parts[1]}.attn.{parts[2]}"]
    if tl_name == "blocks.0.hook_resid_pre":
        return ["hook_embed", "blocks.0.hook_resid_pre"]
    if tl_name == f"blocks.{n_layers - 1}.hook_resid_post":
        return [tl_name, "hook_resid_final"]
    if parts[0] == "blocks":
        return [tl_name]
    return []  # e.g. ln_final.hook_scale: not bridged


class _Container(nn.Module):
    """An empty module used to build nested hook-point paths (``blocks.0.attn``)."""


def _attach(root: nn.Module, path: str, module: nn.Module) -> None:
    *parents, leaf = path.split(".")
    node = root
    for p in parents:
        child = node._modules.get(p)
        if child is None:
            child = _Container()
            node.add_module(p, child)
        node = child
    node.add_module(leaf, module)


class TLAdapter(nn.Module):
    """A TransformerLens ``HookedTransformer`` that satisfies the discovery contract.

    Args:
        tl_model: a ``transformer_lens.HookedTransformer`` whose config has
            ``use_split_qkv_input=True`` and ``use_attn_result=True`` (and ``use_hook_mlp_in=True``
            if it has MLPs). The adapter adds permanent TransformerLens hooks to it (one per bridged
            hook point); they survive ``tl_model.reset_hooks()``.

    Example:
        >>> from neurocircuits.models.adapters.transformer_lens import TLAdapter, tiny_tl_model
        >>> model = TLAdapter(tiny_tl_model(n_layers=2, n_heads=4, d_model=64))
        >>> model.computation_graph().n_edges
        110
    """

    def __init__(self, tl_model: nn.Module) -> None:
        super().__init__()
        tl = _require_tl()
        if not isinstance(tl_model, tl.HookedTransformer):
            raise TLAdapterError(
                f"TLAdapter wraps a transformer_lens.HookedTransformer, got {type(tl_model).__name__}."
            )
        cfg = tl_model.cfg
        missing = [flag for flag in ("use_split_qkv_input", "use_attn_result") if not getattr(cfg, flag)]
        if not cfg.attn_only and not cfg.use_hook_mlp_in:
            missing.append("use_hook_mlp_in")
        if missing:
            raise TLAdapterError(
                f"the TransformerLens config needs {', '.join(f'{m}=True' for m in missing)} so that every head "
                "input and output is a separate hook point; set them in HookedTransformerConfig or call "
                "model.set_use_split_qkv_input(True) / set_use_attn_result(True) / set_use_hook_mlp_in(True)."
            )
        if getattr(cfg, "parallel_attn_mlp", False):
            raise TLAdapterError("parallel attention/MLP blocks are not supported by the TransformerLens adapter.")
        self.tl = tl_model
        self.cfg = cfg
        self._bridged: dict[str, list[str]] = {}
        for tl_name, tl_point in tl_model.hook_dict.items():
            targets = _tl_to_nc_names(tl_name, cfg.n_layers)
            if not targets or not _usable(tl_model, tl_point, tl_name):
                continue
            for target in targets:
                _attach(self, target, HookPoint())
            self._bridged[tl_name] = targets
        self._points = name_hook_points(self)
        modules = dict(self.named_modules())
        for tl_name, targets in self._bridged.items():
            points = [modules[t] for t in targets]
            tl_model.add_perma_hook(tl_name, _bridge(points))
        self.fast_forward = True  # False: always run TransformerLens's own forward
        # (name, point, hooks allowed: the adapter's bridge) of every TransformerLens hook point, for
        # fast_path_reason (asked twice per patched forward)
        self._tl_points = [(name, point, 1 if name in self._bridged else 0) for name, point in tl_model.hook_dict.items()]
        self._fast_config = _fast_unsupported(tl_model)
        self._fast = _FastTL(tl_model, self._points)
        self._unfired = sorted(set(self._points) - self._fast.fires)
        self._positions: tuple[int, ...] | None = None

    # -- discovery contract ---------------------------------------------------------------------
    @property
    def passive_hooks_exact(self) -> bool:
        """Whether hooks that only read leave the output bitwise the unhooked one: on the fast path (it
        calls the bridged points and goes on with their input when they return None; tested), not
        through TransformerLens's own forward."""
        return self.fast_forward and self.fast_path_reason() is None

    @property
    def n_layers(self) -> int:
        return int(self.cfg.n_layers)

    @property
    def n_heads(self) -> int:
        return int(self.cfg.n_heads)

    @property
    def device(self) -> torch.device:
        return next(self.tl.parameters()).device

    def computation_graph(self) -> CircuitGraph:
        """Writers (embed, heads, MLPs) and readers (q/k/v inputs, MLP inputs, logits) with hook names."""
        from ..transformer import build_transformer_graph

        g = build_transformer_graph(self.n_layers, self.n_heads, has_mlp=not self.cfg.attn_only,
                                    name=f"tl-{self.cfg.model_name}")
        g.attrs["source"] = "transformer_lens"
        return g

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (batch, pos, d_vocab) of the wrapped model.

        Runs :class:`_FastTL` (the same computation on the same parameters, one projection per
        head instead of TransformerLens's broadcast products) when :attr:`fast_forward` is on and
        :meth:`fast_path_reason` is ``None``; otherwise ``tl_model(tokens)``.
        """
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.long:
            raise TLAdapterError(
                f"TLAdapter.forward takes (batch, pos) long token ids, got "
                f"{getattr(tokens, 'dtype', type(tokens).__name__)} of shape {tuple(getattr(tokens, 'shape', ()))}."
            )
        if self.fast_forward and self.fast_path_reason() is None:
            return self._fast(tokens, self._positions)
        return self.tl(tokens, return_type="logits")

    def fast_path_reason(self) -> str | None:
        """Why :meth:`forward` would call TransformerLens itself (``None``: the fast path runs).

        The fast path needs a supported config (LayerNorm, learned absolute positions, causal
        attention, plain MLP) and no hooks except the adapter's bridges: a hook added on the
        TransformerLens model, or on an adapter hook point the fast path does not call (the layer
        norms' ``hook_scale``/``hook_normalized``), sends the forward through TransformerLens.
        """
        if self._fast_config is not None:
            return self._fast_config
        for name, point, allowed in self._tl_points:
            if len(point._forward_hooks) > allowed or point._backward_hooks or point._forward_pre_hooks:
                return f"TransformerLens hook point {name!r} has hooks of its own"
        for name in self._unfired:
            if self._points[name]._forward_hooks:
                return f"adapter hook point {name!r} is hooked and only TransformerLens calls it"
        return None

    def can_resume_from(self, hook: str) -> bool:
        """Whether :meth:`forward_from` can start at ``hook`` now (the fast path runs, and ``hook`` is a
        residual hook: ``blocks.<i>.hook_resid_pre``, ``blocks.<i>.hook_resid_mid``, ``hook_resid_final``)."""
        return self.fast_forward and self.fast_path_reason() is None and self._fast.resume_point(hook) is not None

    def forward_from(self, hook: str, x: torch.Tensor) -> torch.Tensor:
        """Logits of a forward that starts at residual hook ``hook`` with activation ``x`` (batch, pos,
        d_model) there; the hook runs on ``x``, the layers before it do not (fast path only, see
        :meth:`can_resume_from`). Discovery uses it to skip the unpatched prefix of a patched run."""
        if not self.can_resume_from(hook):
            raise TLAdapterError(f"cannot start a forward at {hook!r}: {self.fast_path_reason() or 'not a residual hook'}.")
        if x.ndim != 3 or x.shape[-1] != self.cfg.d_model:
            raise TLAdapterError(f"forward_from needs x of shape (batch, pos, {self.cfg.d_model}), got {tuple(x.shape)}.")
        return self._fast(x.new_zeros(x.shape[:2], dtype=torch.long), self._positions, start=(hook, x))

    @contextlib.contextmanager
    def output_positions(self, positions: Sequence[int] | None) -> Iterator[None]:
        """Within the block, only the logits at ``positions`` need to be right (discovery speed-up).

        The last block then computes queries, attention outputs, its MLP and the unembedding at
        those positions only (keys and values at every position); every other position of the
        output, and of the last block's hook tensors after ``hook_k``/``hook_v``, holds zeros.
        Hooks there see full-size tensors, except hook functions marked
        :func:`~neurocircuits.layers.hooks.accept_trimmed` (see
        :func:`~neurocircuits.layers.hooks.hook_trimmed`). The TransformerLens fallback computes everything.
        """
        previous = self._positions
        self._positions = None if positions is None else tuple(int(p) for p in positions)
        try:
            yield
        finally:
            self._positions = previous

    def initial_state(self, batch: int) -> None:
        return None


_FAST_ACTS = ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh", "relu", "silu")


def _fast_unsupported(tl_model: Any) -> str | None:
    """Why the config cannot take the fast path (``None`` when it can)."""
    cfg = tl_model.cfg
    checks = [
        (cfg.normalization_type == "LN", f"normalization_type={cfg.normalization_type!r}"),
        (cfg.positional_embedding_type == "standard", f"positional_embedding_type={cfg.positional_embedding_type!r}"),
        (cfg.attention_dir == "causal", f"attention_dir={cfg.attention_dir!r}"),
        (not getattr(cfg, "use_normalization_before_and_after", False), "use_normalization_before_and_after"),
        (not getattr(cfg, "use_qk_norm", False), "use_qk_norm"),
        (not getattr(cfg, "use_attn_in", False), "use_attn_in"),
        (getattr(cfg, "attn_scores_soft_cap", -1.0) <= 0, "attn_scores_soft_cap"),
        (getattr(cfg, "output_logits_soft_cap", -1.0) <= 0, "output_logits_soft_cap"),
        (getattr(cfg, "n_devices", 1) == 1, "a model split over several devices"),
        (getattr(cfg, "n_key_value_heads", None) in (None, cfg.n_heads), "grouped-query attention"),
        (not getattr(cfg, "gated_mlp", False), "gated_mlp"),
        (not getattr(cfg, "num_experts", None), "mixture of experts"),
        (not getattr(cfg, "load_in_4bit", False), "load_in_4bit"),
        (getattr(cfg, "attn_types", None) is None, "local attention (attn_types)"),
        (not getattr(cfg, "post_embedding_ln", False), "post_embedding_ln"),
        (cfg.dtype in (torch.float32, torch.float64), f"dtype {cfg.dtype}"),
        (cfg.attn_only or cfg.act_fn in _FAST_ACTS, f"act_fn={cfg.act_fn!r}"),
        (getattr(tl_model, "tokenizer", None) is None or getattr(tl_model.tokenizer, "padding_side", "right") != "left",
         "a left-padding tokenizer (attention masks)"),
    ]
    bad = [why for ok, why in checks if not ok]
    return f"unsupported config for the fast path: {', '.join(bad)}" if bad else None


def _ln(x: torch.Tensor, ln: nn.Module) -> torch.Tensor:
    """TransformerLens ``LayerNorm.forward`` without its hook points, as one fused ``layer_norm``
    (same function; 10x faster than TransformerLens's five passes on per-head copies)."""
    return F.layer_norm(x, (x.shape[-1],), ln.w, ln.b, ln.eps)


def _addmm(b: torch.Tensor, w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """TransformerLens ``batch_addmm``: ``x @ w + b`` over the last dimension."""
    return torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(x.shape[:-1] + (w.shape[-1],))


class _FastTL:
    """The forward pass of a TransformerLens ``HookedTransformer`` computed on its own parameters.

    Same operations as TransformerLens, except (i) each head's output ``z_h W_O^h`` is one batched
    matrix product instead of a broadcast product summed over ``d_head`` (which materialises a
    (batch, pos, head, d_head, d_model) tensor: two thirds of TransformerLens's forward time), and
    (ii) the layer norm and projection of the per-head q/k/v input copies run once on the shared
    residual stream, plus once per row that a hook changed. Logits agree with TransformerLens to
    float rounding (tests/peer/test_adapters_tl.py). Only the adapter's bridged hook points in
    :attr:`fires` are called (each with the tensor TransformerLens would give it).
    """

    def __init__(self, tl_model: Any, points: dict[str, HookPoint]) -> None:
        self.tl = tl_model
        self.points = points
        n = tl_model.cfg.n_layers
        names = ["hook_tok_embed", "hook_pos_embed", "hook_embed", "hook_resid_final"]
        for layer in range(n):
            b = f"blocks.{layer}"
            names += [f"{b}.hook_resid_pre", f"{b}.hook_attn_out", f"{b}.hook_resid_post"]
            names += [f"{b}.attn.hook_{x}" for x in ("q_input", "k_input", "v_input", "q", "k", "v", "attn_scores",
                                                      "pattern", "z", "result")]
            if not tl_model.cfg.attn_only:
                names += [f"{b}.hook_resid_mid", f"{b}.hook_mlp_in", f"{b}.hook_mlp_out", f"{b}.mlp.hook_pre",
                          f"{b}.mlp.hook_post"]
        self.fires = {x for x in names if x in points}

    def _call(self, name: str, x: torch.Tensor, keep: torch.Tensor | None = None, dim: int = 1,
              full: int = 0) -> torch.Tensor:
        """Run hook point ``name`` on ``x``; with ``keep`` (trimmed positions along ``dim``) see
        :func:`~neurocircuits.layers.hooks.hook_trimmed`."""
        point = self.points.get(name)
        if point is None or not point._forward_hooks:
            return x
        return hook_trimmed(point, x, keep, dim, full)

    def _project(self, resid: torch.Tensor, name: str, ln: nn.Module, w: torch.Tensor, b: torch.Tensor,
                 keep: torch.Tensor | None = None) -> torch.Tensor:
        """Per-head copies of ``resid`` through hook ``name``, layer norm, projection (b, pos, head, d_head)."""
        norm = functools.partial(_ln, ln=ln)
        point = self.points.get(name)
        if point is None or not point._forward_hooks:
            return project_shared(resid, norm, w, b, keep)
        shared = resid.unsqueeze(2).expand(-1, -1, w.shape[0], -1)
        split = point(accept_lazy_heads(mark_repeated(shared, repeated_blocks(resid))))
        lazy = lazy_heads(split)
        if lazy is not None:
            return project_lazy(lazy, norm, w, b, keep)
        if split is shared:
            return project_shared(resid, norm, w, b, keep)
        return project_changed_heads(resid, split, norm, w, b, keep)

    def resume_point(self, hook: str) -> tuple[int, bool] | None:
        """(first layer, from its middle) of a residual hook a forward can start at, else None."""
        n = self.tl.cfg.n_layers
        if hook == "hook_resid_final":
            return n, False
        parts = hook.split(".")
        if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit() and int(parts[1]) < n:
            if parts[2] == "hook_resid_pre":
                return int(parts[1]), False
            if parts[2] == "hook_resid_mid" and not self.tl.cfg.attn_only:
                return int(parts[1]), True
        return None

    def __call__(self, tokens: torch.Tensor, positions: tuple[int, ...] | None = None,
                 start: tuple[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Logits of ``tokens``; with ``start = (hook, x)`` the forward begins at residual hook ``hook``
        with activation ``x`` (batch, pos, d_model), running the hook on it (see :meth:`resume_point`)."""
        tl, c = self.tl, self._call
        cfg = tl.cfg
        n_pos = tokens.shape[1] if start is None else start[1].shape[1]
        if n_pos > cfg.n_ctx:
            raise TLAdapterError(f"sequence length {n_pos} exceeds the model's n_ctx={cfg.n_ctx}.")
        device = tl.embed.W_E.device
        keep = None
        if positions is not None:
            keep = torch.tensor(sorted({p % n_pos for p in positions}), dtype=torch.long, device=device)
        first, from_mid = 0, False
        if start is None:
            tokens = tokens.to(device)
            x = c("hook_tok_embed", tl.embed.W_E[tokens])
            pos = tl.pos_embed.W_pos[:n_pos].unsqueeze(0).expand(tokens.shape[0], -1, -1)
            x = c("hook_embed", x + c("hook_pos_embed", pos))
        else:
            point = self.resume_point(start[0])
            if point is None:
                raise TLAdapterError(f"cannot start a forward at {start[0]!r}; use blocks.<i>.hook_resid_pre, "
                                     "blocks.<i>.hook_resid_mid or hook_resid_final.")
            (first, from_mid), x = point, start[1]
        last = cfg.n_layers - 1
        causal = torch.ones(n_pos, n_pos, dtype=torch.bool, device=x.device).tril()
        minus_inf = causal_minus_inf(n_pos, x.dtype, x.device)
        for layer in range(first, cfg.n_layers):
            blk = tl.blocks[layer]
            b, attn = f"blocks.{layer}", blk.attn
            kp = keep if layer == last else None  # positions this block must compute (None: all)
            if from_mid and layer == first:  # resumed after the attention half: x holds every position
                mid = c(f"{b}.hook_resid_mid", x)
                mid = mid if kp is None else mid.index_select(1, kp)
                x = self._mlp_half(blk, b, mid, kp, n_pos)
                continue
            x = c(f"{b}.hook_resid_pre", x)
            q = c(f"{b}.attn.hook_q", self._project(x, f"{b}.attn.hook_q_input", blk.ln1, attn.W_Q, attn.b_Q, kp),
                  kp, 1, n_pos)
            k = c(f"{b}.attn.hook_k", self._project(x, f"{b}.attn.hook_k_input", blk.ln1, attn.W_K, attn.b_K))
            v = c(f"{b}.attn.hook_v", self._project(x, f"{b}.attn.hook_v_input", blk.ln1, attn.W_V, attn.b_V))
            scores = (q.permute(0, 2, 1, 3) @ k.permute(0, 2, 3, 1)).div_(attn.attn_scale)  # (b, head, q, k)
            if float(attn.IGNORE) == float("-inf"):
                scores.add_(minus_inf if kp is None else minus_inf.index_select(0, kp))
            else:
                scores = torch.where(causal if kp is None else causal.index_select(0, kp), scores, attn.IGNORE)
            scores = c(f"{b}.attn.hook_attn_scores", scores, kp, 2, n_pos)
            pattern = c(f"{b}.attn.hook_pattern", torch.softmax(scores, dim=-1), kp, 2, n_pos)
            z = c(f"{b}.attn.hook_z", (pattern @ v.permute(0, 2, 1, 3)).permute(0, 2, 1, 3), kp, 1, n_pos)
            result = c(f"{b}.attn.hook_result", head_results(z, attn.W_O), kp, 1, n_pos)
            attn_out = c(f"{b}.hook_attn_out", result.sum(2) + attn.b_O, kp, 1, n_pos)
            resid = x if kp is None else x.index_select(1, kp)
            if cfg.attn_only:
                x = c(f"{b}.hook_resid_post", resid + attn_out, kp, 1, n_pos)
            else:
                x = self._mlp_half(blk, b, c(f"{b}.hook_resid_mid", resid + attn_out, kp, 1, n_pos), kp, n_pos)
        if first == cfg.n_layers:  # resumed at hook_resid_final: x holds every position
            x = c("hook_resid_final", x)
            x = x if keep is None else x.index_select(1, keep)
        else:
            x = c("hook_resid_final", x, keep, 1, n_pos)
        logits = _addmm(tl.unembed.b_U, tl.unembed.W_U, _ln(x, tl.ln_final))
        if keep is None:
            return logits
        return logits.new_zeros((logits.shape[0], n_pos, logits.shape[-1])).index_copy(1, keep, logits)


    def _mlp_half(self, blk: Any, b: str, mid: torch.Tensor, kp: torch.Tensor | None, n_pos: int) -> torch.Tensor:
        """``hook_resid_post`` of block ``b`` from its ``hook_resid_mid`` output ``mid``: MLP and residual."""
        c = self._call
        mlp_in = c(f"{b}.hook_mlp_in", mid.clone() if f"{b}.hook_mlp_in" in self.points and
                   self.points[f"{b}.hook_mlp_in"]._forward_hooks else mid, kp, 1, n_pos)
        mlp = blk.mlp
        pre = c(f"{b}.mlp.hook_pre", _addmm(mlp.b_in, mlp.W_in, _ln(mlp_in, blk.ln2)), kp, 1, n_pos)
        post = c(f"{b}.mlp.hook_post", mlp.act_fn(pre), kp, 1, n_pos)
        out = c(f"{b}.hook_mlp_out", _addmm(mlp.b_out, mlp.W_out, post), kp, 1, n_pos)
        return c(f"{b}.hook_resid_post", mid + out, kp, 1, n_pos)


def _usable(tl_model: Any, tl_point: Any, tl_name: str) -> bool:
    """False for hook points TransformerLens disables under this config (e.g. ``hook_attn_in``)."""
    try:
        tl_model.check_hooks_to_add(tl_point, tl_name, None)
    except AssertionError:
        return False
    return True


def _bridge(points: list[HookPoint]) -> Any:
    def hook(activation: torch.Tensor, hook: Any) -> torch.Tensor:
        for p in points:
            activation = p(activation)
        return activation

    return hook


def tiny_tl_model(
    n_layers: int = 2,
    n_heads: int = 4,
    d_model: int = 64,
    d_head: int | None = None,
    d_mlp: int | None = None,
    d_vocab: int = 50,
    n_ctx: int = 64,
    attn_only: bool = False,
    act_fn: str = "gelu",
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """A randomly initialised ``HookedTransformer`` built from a config in code (nothing downloaded).

    The config has the flags the adapter needs (split q/k/v inputs, per-head results, MLP-input
    hook). With the defaults it has 110 edges in the discovery graph.
    """
    tl = _require_tl()
    cfg = tl.HookedTransformerConfig(
        n_layers=n_layers, n_heads=n_heads, d_model=d_model, d_head=d_head or d_model // n_heads,
        d_mlp=None if attn_only else (d_mlp or 4 * d_model), d_vocab=d_vocab, n_ctx=n_ctx,
        act_fn=None if attn_only else act_fn, attn_only=attn_only, normalization_type="LN",
        use_split_qkv_input=True, use_attn_result=True, use_hook_mlp_in=not attn_only,
        seed=seed, device=str(device), model_name=f"tiny-{n_layers}l{n_heads}h{d_model}d",
    )
    model = tl.HookedTransformer(cfg)
    model.eval()
    return model


def from_transformer_lens(tl_model: nn.Module) -> TLAdapter:
    """Wrap ``tl_model`` (a TransformerLens 2.x ``HookedTransformer``); see :class:`TLAdapter`."""
    return TLAdapter(tl_model)


# -- weights only: TransformerLens state dict -> neurocircuits HookedTransformer (no TL needed) ------
_TL_ACTS = {"gelu": "gelu", "gelu_new": "gelu_new", "relu": "relu", "silu": "silu"}


def convert_tl_state_dict(state_dict: dict[str, torch.Tensor], tl_cfg: dict[str, Any]) -> tuple[Any, dict[str, torch.Tensor]]:
    """Map a TransformerLens ``HookedTransformer`` state dict to :class:`neurocircuits.models.transformer.HookedTransformer`.

    Works without TransformerLens installed: ``tl_cfg`` is the TransformerLens config as a dict
    (``model.cfg.to_dict()``). Supported: LayerNorm (``normalization_type="LN"``), learned absolute
    positions, plain (non-gated) MLPs with gelu/gelu_new/relu/silu, attention-only or not, standard
    attention scale ``sqrt(d_head)``.

    Returns:
        ``(TransformerConfig, state_dict)`` ready for ``HookedTransformer(cfg).load_state_dict(sd)``.
    """
    from ..transformer import TransformerConfig

    def need(key: str, allowed: tuple[Any, ...]) -> Any:
        value = tl_cfg.get(key)
        if value not in allowed:
            raise TLAdapterError(f"cannot convert a TransformerLens model with {key}={value!r}; supported: {allowed}.")
        return value

    need("normalization_type", ("LN",))
    need("positional_embedding_type", ("standard",))
    need("gated_mlp", (False, None))
    need("parallel_attn_mlp", (False, None))
    if tl_cfg.get("use_attn_scale", True) is False or tl_cfg.get("attn_scale", tl_cfg["d_head"] ** 0.5) != tl_cfg["d_head"] ** 0.5:
        raise TLAdapterError("cannot convert a TransformerLens model whose attention scale is not sqrt(d_head).")
    if tl_cfg.get("n_key_value_heads") not in (None, tl_cfg["n_heads"]):
        raise TLAdapterError("grouped-query TransformerLens models are not supported by the weight converter.")
    attn_only = bool(tl_cfg.get("attn_only", False))
    act = "gelu" if attn_only else _TL_ACTS.get(tl_cfg.get("act_fn"))
    if act is None:
        raise TLAdapterError(f"unsupported TransformerLens act_fn {tl_cfg.get('act_fn')!r}; supported: {sorted(_TL_ACTS)}.")
    cfg = TransformerConfig(
        n_layers=int(tl_cfg["n_layers"]), n_heads=int(tl_cfg["n_heads"]), d_model=int(tl_cfg["d_model"]),
        d_head=int(tl_cfg["d_head"]), d_mlp=0 if attn_only else int(tl_cfg["d_mlp"]), n_ctx=int(tl_cfg["n_ctx"]),
        d_vocab=int(tl_cfg["d_vocab"]), normalization="ln", act=act, norm_eps=float(tl_cfg.get("eps", 1e-5)),
    )
    rename = {"embed.W_E": "W_E", "pos_embed.W_pos": "W_pos", "unembed.W_U": "W_U", "unembed.b_U": "b_U",
              "ln_final.w": "ln_final.w", "ln_final.b": "ln_final.b"}
    for layer in range(cfg.n_layers):
        b = f"blocks.{layer}"
        rename.update({f"{b}.ln1.w": f"{b}.attn.ln.w", f"{b}.ln1.b": f"{b}.attn.ln.b"})
        for w in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
            rename[f"{b}.attn.{w}"] = f"{b}.attn.{w}"
        if not attn_only:
            rename.update({f"{b}.ln2.w": f"{b}.mlp.ln.w", f"{b}.ln2.b": f"{b}.mlp.ln.b"})
            for w in ("W_in", "b_in", "W_out", "b_out"):
                rename[f"{b}.mlp.{w}"] = f"{b}.mlp.{w}"
    missing = sorted(k for k in rename if k not in state_dict)
    if missing:
        raise TLAdapterError(f"the TransformerLens state dict lacks {missing[:5]} (and {max(0, len(missing) - 5)} more).")
    return cfg, {new: state_dict[old].detach().clone() for old, new in rename.items()}


def transformer_from_tl_weights(state_dict: dict[str, torch.Tensor], tl_cfg: dict[str, Any],
                                device: Any = None) -> nn.Module:
    """A neurocircuits ``HookedTransformer`` computing the same function as the TransformerLens model."""
    from ..transformer import HookedTransformer

    cfg, sd = convert_tl_state_dict(state_dict, tl_cfg)
    model = HookedTransformer(cfg, device=device)
    model.load_state_dict(sd)
    model.eval()
    return model
