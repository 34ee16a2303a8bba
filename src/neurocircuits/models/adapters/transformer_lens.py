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

from typing import Any

import torch
from torch import nn

from ...graph import CircuitGraph
from ...layers.hooks import HookPoint, name_hook_points

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
        name_hook_points(self)
        modules = dict(self.named_modules())
        for tl_name, targets in self._bridged.items():
            points = [modules[t] for t in targets]
            tl_model.add_perma_hook(tl_name, _bridge(points))

    # -- discovery contract ---------------------------------------------------------------------
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
        """Logits (batch, pos, d_vocab) of the wrapped model."""
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.long:
            raise TLAdapterError(
                f"TLAdapter.forward takes (batch, pos) long token ids, got "
                f"{getattr(tokens, 'dtype', type(tokens).__name__)} of shape {tuple(getattr(tokens, 'shape', ()))}."
            )
        return self.tl(tokens, return_type="logits")

    def initial_state(self, batch: int) -> None:
        return None


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
