"""A hookable decoder-only transformer (GPT-2 / Llama family) that declares its circuit graph.

Papers: Vaswani et al. 2017, "Attention Is All You Need"; Radford et al. 2019 (GPT-2, pre-norm);
Elhage et al. 2021, "A Mathematical Framework for Transformer Circuits" (the residual stream as a
sum of per-head writes, which is what :meth:`HookedTransformer.computation_graph` declares);
Touvron et al. 2023 (Llama: RMSNorm, rotary positions, gated SiLU MLP, grouped-query attention).

Equations (pre-norm block ``l``, head ``h``, residual stream ``x``):

    x_0        = W_E[t] + W_pos[p]                                   (hook_embed)
    q_h        = N(x) W_Q^h + b_Q^h,  k_h = N(x) W_K^{g(h)} + b_K,  v_h = N(x) W_V^{g(h)} + b_V
    A_h        = softmax(q_h k_h^T / sqrt(d_head) + causal mask)     (hook_pattern)
    z_h        = A_h v_h                                             (hook_z)
    r_h        = z_h W_O^h                                           (hook_result)
    x_mid      = x + sum_h r_h + b_O
    x_post     = x_mid + W_out act(N(x_mid) W_in + b_in) + b_out     (hook_mlp_out)
    logits     = N_final(x_L) W_U + b_U

``N`` is LayerNorm, RMSNorm or the identity; ``g(h)`` maps a query head to its key/value group
(grouped-query attention). With rotary positions, ``W_pos`` is absent and q/k are rotated after
``hook_q``/``hook_k``.

Every reader of the residual stream sees its own copy: ``hook_q_input``, ``hook_k_input`` and
``hook_v_input`` hold the pre-norm stream split per head, shape (batch, pos, head, d_model), so that
a patch of one head's key input touches that head only. Each such activation equals the sum of the
outputs of the upstream writers (embedding, heads, MLPs) plus the constant biases ``b_O``/``b_out``;
:meth:`HookedTransformer.computation_graph` declares this (the discovery contract).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..graph import CircuitGraph
from ..layers.attention_ops import causal_minus_inf, head_results
from ..layers.head_inputs import project_changed_heads, project_lazy, project_shared
from ..layers.hooks import (HookPoint, accept_lazy_heads, cache_activations, hook_trimmed, lazy_heads, mark_repeated,
                           name_hook_points, repeated_blocks)
from ._registry import register_model

__all__ = [
    "TransformerConfig",
    "HookedTransformer",
    "TokenError",
    "ACTIVATIONS",
    "transformer",
    "attn_only_transformer",
]


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": _gelu_tanh,
    "relu": F.relu,
    "silu": F.silu,
}
_NORMS = ("ln", "rms", None)
_POSITIONALS = ("learned", "rotary")


class TokenError(ValueError):
    """Token ids are malformed for this model (wrong shape/dtype, out of vocabulary, too long)."""


@dataclass(frozen=True)
class TransformerConfig:
    """Shape and options of a :class:`HookedTransformer`.

    Attributes:
        n_layers: number of blocks.
        n_heads: query heads per block.
        d_model: residual stream width.
        d_head: width of each head's query/key/value.
        d_mlp: hidden width of the MLP; 0 makes the model attention-only.
        n_ctx: maximum sequence length.
        d_vocab: vocabulary size.
        normalization: ``"ln"`` (LayerNorm), ``"rms"`` (RMSNorm) or ``None`` (identity).
        act: MLP non-linearity, one of ``ACTIVATIONS`` (gelu, gelu_new, relu, silu).
        n_kv_heads: key/value heads for grouped-query attention (``None`` = ``n_heads``).
        positional: ``"learned"`` absolute embeddings or ``"rotary"`` (RoPE on q and k).
        rotary_base: RoPE base frequency (theta).
        gated_mlp: Llama-style MLP ``W_out (act(x W_gate) * (x W_in))``.
        attn_bias: biases on q/k/v/o projections.
        mlp_bias: biases on the MLP projections.
        unembed_bias: bias on the unembedding.
        norm_eps: epsilon of the normalisation layers.
        init_std: standard deviation of the normal weight initialisation.
    """

    n_layers: int = 2
    n_heads: int = 2
    d_model: int = 64
    d_head: int = 32
    d_mlp: int = 0
    n_ctx: int = 64
    d_vocab: int = 32
    normalization: str | None = "ln"
    act: str = "gelu"
    n_kv_heads: int | None = None
    positional: str = "learned"
    rotary_base: float = 10000.0
    gated_mlp: bool = False
    attn_bias: bool = True
    mlp_bias: bool = True
    unembed_bias: bool = True
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("n_layers", "n_heads", "d_model", "d_head", "n_ctx", "d_vocab"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"TransformerConfig.{name} must be a positive integer, got {value!r}.")
        if not isinstance(self.d_mlp, int) or self.d_mlp < 0:
            raise ValueError(f"TransformerConfig.d_mlp must be an integer >= 0 (0 = attention-only), got {self.d_mlp!r}.")
        if self.normalization not in _NORMS:
            raise ValueError(f"TransformerConfig.normalization must be one of 'ln', 'rms' or None, got {self.normalization!r}.")
        if self.act not in ACTIVATIONS:
            raise ValueError(f"TransformerConfig.act must be one of {sorted(ACTIVATIONS)}, got {self.act!r}.")
        if self.positional not in _POSITIONALS:
            raise ValueError(f"TransformerConfig.positional must be one of {_POSITIONALS}, got {self.positional!r}.")
        kv = self.kv_heads
        if not isinstance(kv, int) or kv < 1 or self.n_heads % kv != 0:
            raise ValueError(
                f"TransformerConfig.n_kv_heads={self.n_kv_heads!r} must be a positive divisor of n_heads={self.n_heads} "
                "(each key/value head serves n_heads // n_kv_heads query heads)."
            )
        if self.positional == "rotary" and self.d_head % 2 != 0:
            raise ValueError(f"rotary positions need an even d_head, got d_head={self.d_head}.")
        if self.norm_eps <= 0:
            raise ValueError(f"TransformerConfig.norm_eps must be > 0, got {self.norm_eps!r}.")

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def attn_only(self) -> bool:
        return self.d_mlp == 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerConfig:
        """Build a config from ``asdict(cfg)`` output, naming unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TransformerConfig fields {sorted(unknown)}; valid fields: {sorted(known)}.")
        return cls(**data)


class _Norm(nn.Module):
    """LayerNorm / RMSNorm / identity over the last dimension (works on per-head copies too)."""

    def __init__(self, kind: str | None, d: int, eps: float, device: Any, dtype: Any) -> None:
        super().__init__()
        self.kind = kind
        self.eps = eps
        if kind is not None:
            self.w = nn.Parameter(torch.ones(d, device=device, dtype=dtype))
        if kind == "ln":
            self.b = nn.Parameter(torch.zeros(d, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind is None:
            return x
        if self.kind == "ln":  # one fused kernel (the same function as centring and scaling by hand)
            return F.layer_norm(x, (x.shape[-1],), self.w, self.b, self.eps)
        return F.rms_norm(x, (x.shape[-1],), self.w, self.eps)



def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    """Multi-head (optionally grouped-query) causal self-attention with per-head hook points."""

    def __init__(self, cfg: TransformerConfig, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.cfg = cfg
        h, kv, dm, dh = cfg.n_heads, cfg.kv_heads, cfg.d_model, cfg.d_head
        kw = {"device": device, "dtype": dtype}
        self.W_Q = nn.Parameter(torch.empty(h, dm, dh, **kw))
        self.W_K = nn.Parameter(torch.empty(kv, dm, dh, **kw))
        self.W_V = nn.Parameter(torch.empty(kv, dm, dh, **kw))
        self.W_O = nn.Parameter(torch.empty(h, dh, dm, **kw))
        self.b_Q = nn.Parameter(torch.zeros(h, dh, **kw), requires_grad=cfg.attn_bias)
        self.b_K = nn.Parameter(torch.zeros(kv, dh, **kw), requires_grad=cfg.attn_bias)
        self.b_V = nn.Parameter(torch.zeros(kv, dh, **kw), requires_grad=cfg.attn_bias)
        self.b_O = nn.Parameter(torch.zeros(dm, **kw), requires_grad=cfg.attn_bias)
        self.ln = _Norm(cfg.normalization, dm, cfg.norm_eps, device, dtype)
        self.hook_q_input = HookPoint()  # (batch, pos, head, d_model)
        self.hook_k_input = HookPoint()
        self.hook_v_input = HookPoint()
        self.hook_q = HookPoint()  # (batch, pos, head, d_head)
        self.hook_k = HookPoint()
        self.hook_v = HookPoint()
        self.hook_attn_scores = HookPoint()  # (batch, head, q_pos, k_pos), pre-softmax
        self.hook_pattern = HookPoint()  # (batch, head, q_pos, k_pos)
        self.hook_z = HookPoint()  # (batch, pos, head, d_head)
        self.hook_result = HookPoint()  # (batch, pos, head, d_model)

    fast_patched_projection = True  # see _project; False = normalise and project every per-head copy

    @property
    def group_size(self) -> int:
        return self.cfg.n_heads // self.cfg.kv_heads

    def _per_query_head(self, w: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """Repeat key/value tensors so that query head ``h`` uses group ``h // group_size``."""
        return w.repeat_interleave(self.group_size, dim=dim) if w.shape[dim] != self.cfg.n_heads else w

    def _project(self, resid: torch.Tensor, hook: HookPoint, w: torch.Tensor, b: torch.Tensor,
                 keep: torch.Tensor | None = None) -> torch.Tensor:
        """Split the residual per head, pass it through ``hook``, normalise and project.

        When a hook replaces only some (batch, pos, head) rows of the per-head copy (a patch of a few
        heads' inputs), the other rows are normalised and projected once from the shared residual
        and only the replaced rows are recomputed (without autograd through the hook's output;
        ``fast_patched_projection = False`` forces the per-copy reference path). With ``keep`` (a
        position index) only those positions are projected; the hook still sees every position.
        """
        if not hook._forward_hooks:
            return self._per_query_head(project_shared(resid, self.ln, w, b, keep), dim=2)
        shared = resid.unsqueeze(2).expand(-1, -1, self.cfg.n_heads, -1)
        split = hook(accept_lazy_heads(mark_repeated(shared, repeated_blocks(resid))))  # someone reads or patches it
        lazy = lazy_heads(split)
        if lazy is not None:
            return project_lazy(lazy, self.ln, self._per_query_head(w), self._per_query_head(b), keep)
        if split is shared:
            return self._per_query_head(project_shared(resid, self.ln, w, b, keep), dim=2)
        return project_changed_heads(resid, split, self.ln, self._per_query_head(w), self._per_query_head(b), keep,
                                     fast=self.fast_patched_projection)

    def forward(self, resid: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None,
                keep: torch.Tensor | None = None) -> torch.Tensor:
        """Attention output (batch, pos, d_model); with ``keep`` only the query positions ``keep``
        (batch, len(keep), d_model), keys and values at every position."""
        n_pos = resid.shape[1]
        q = hook_trimmed(self.hook_q, self._project(resid, self.hook_q_input, self.W_Q, self.b_Q, keep), keep, 1, n_pos)
        k = self.hook_k(self._project(resid, self.hook_k_input, self.W_K, self.b_K))
        v = self.hook_v(self._project(resid, self.hook_v_input, self.W_V, self.b_V))
        if rotary is not None:
            cos, sin = rotary  # (pos, d_head)
            cos, sin = cos[:, None, :], sin[:, None, :]
            q_cos, q_sin = (cos, sin) if keep is None else (cos.index_select(0, keep), sin.index_select(0, keep))
            q = q * q_cos + _rotate_half(q) * q_sin
            k = k * cos + _rotate_half(k) * sin
        scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / math.sqrt(self.cfg.d_head)
        minus_inf = causal_minus_inf(n_pos, scores.dtype, resid.device)
        scores = scores.add_(minus_inf if keep is None else minus_inf.index_select(0, keep))
        scores = hook_trimmed(self.hook_attn_scores, scores, keep, 2, n_pos)
        pattern = hook_trimmed(self.hook_pattern, torch.softmax(scores, dim=-1), keep, 2, n_pos)
        z = hook_trimmed(self.hook_z, torch.einsum("bhqk,bkhe->bqhe", pattern, v), keep, 1, n_pos)
        result = hook_trimmed(self.hook_result, head_results(z, self.W_O), keep, 1, n_pos)
        return result.sum(dim=2) + self.b_O


class MLP(nn.Module):
    """Position-wise MLP (optionally gated) with hook points on its hidden pre/post activations."""

    def __init__(self, cfg: TransformerConfig, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.act_name = cfg.act
        self.ln = _Norm(cfg.normalization, cfg.d_model, cfg.norm_eps, device, dtype)
        self.W_in = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp, **kw))
        self.b_in = nn.Parameter(torch.zeros(cfg.d_mlp, **kw), requires_grad=cfg.mlp_bias)
        self.W_gate = nn.Parameter(torch.empty(cfg.d_model, cfg.d_mlp, **kw)) if cfg.gated_mlp else None
        self.W_out = nn.Parameter(torch.empty(cfg.d_mlp, cfg.d_model, **kw))
        self.b_out = nn.Parameter(torch.zeros(cfg.d_model, **kw), requires_grad=cfg.mlp_bias)
        self.hook_pre = HookPoint()  # (batch, pos, d_mlp)
        self.hook_post = HookPoint()  # (batch, pos, d_mlp)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None, n_pos: int = 0) -> torch.Tensor:
        x = self.ln(x)
        act = ACTIVATIONS[self.act_name]
        pre = hook_trimmed(self.hook_pre, x @ self.W_in + self.b_in, keep, 1, n_pos)
        post = act(x @ self.W_gate) * pre if self.W_gate is not None else act(pre)
        return hook_trimmed(self.hook_post, post, keep, 1, n_pos) @ self.W_out + self.b_out


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(x)``, then ``+ mlp(.)`` unless attention-only."""

    def __init__(self, cfg: TransformerConfig, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.attn = Attention(cfg, device, dtype)
        self.mlp = MLP(cfg, device, dtype) if not cfg.attn_only else None
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        if self.mlp is not None:
            self.hook_mlp_in = HookPoint()
            self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None,
                keep: torch.Tensor | None = None, from_mid: bool = False) -> torch.Tensor:
        """Block output; with ``keep`` (a position index) only those positions (see
        :meth:`HookedTransformer.output_positions`). With ``from_mid``, ``x`` is the residual after
        attention (``hook_resid_mid``, every position) and only the MLP half runs."""
        n = x.shape[1]
        if from_mid:
            x = self.hook_resid_mid(x)
            x = x if keep is None else x.index_select(1, keep)
        else:
            x = self.hook_resid_pre(x)
            attn = hook_trimmed(self.hook_attn_out, self.attn(x, rotary, keep), keep, 1, n)
            x = hook_trimmed(self.hook_resid_mid, (x if keep is None else x.index_select(1, keep)) + attn, keep, 1, n)
        if self.mlp is not None:
            mlp_in = hook_trimmed(self.hook_mlp_in, x, keep, 1, n)
            x = x + hook_trimmed(self.hook_mlp_out, self.mlp(mlp_in, keep, n), keep, 1, n)
        return hook_trimmed(self.hook_resid_post, x, keep, 1, n)


class HookedTransformer(nn.Module):
    """Decoder-only transformer exposing TransformerLens-style hook points and its circuit graph.

    Args:
        cfg: the model's :class:`TransformerConfig` (or a dict of its fields).
        device: where to allocate parameters.
        dtype: parameter dtype (default: torch's default float dtype).
        seed: seed for the weight initialisation (``None``: torch's global generator).

    Example:
        >>> model = HookedTransformer(TransformerConfig(n_layers=2, n_heads=2, d_vocab=16))
        >>> logits = model(torch.randint(0, 16, (4, 10)))          # (4, 10, 16)
        >>> graph = model.computation_graph()                       # writers -> readers
    """

    #: hooks that only read (return None) leave the forward's arithmetic as it is: the output is bitwise
    #: the unhooked one (discovery then reuses its caching forward's output; tested)
    passive_hooks_exact = True

    def __init__(self, cfg: TransformerConfig | dict[str, Any], device: Any = None, dtype: Any = None,
                 seed: int | None = None) -> None:
        super().__init__()
        if isinstance(cfg, dict):
            cfg = TransformerConfig.from_dict(cfg)
        if not isinstance(cfg, TransformerConfig):
            raise TypeError(f"cfg must be a TransformerConfig or a dict of its fields, got {type(cfg).__name__}.")
        self.cfg = cfg
        kw = {"device": device, "dtype": dtype}
        self.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model, **kw))
        self.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model, **kw)) if cfg.positional == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg, device, dtype) for _ in range(cfg.n_layers))
        self.ln_final = _Norm(cfg.normalization, cfg.d_model, cfg.norm_eps, device, dtype)
        self.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab, **kw))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab, **kw), requires_grad=cfg.unembed_bias)
        self.hook_tok_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.hook_embed = HookPoint()
        self.hook_resid_final = HookPoint()
        self._positions: tuple[int, ...] | None = None  # see output_positions
        self.reset_parameters(seed)
        name_hook_points(self)

    # -- parameters -------------------------------------------------------------------------
    def reset_parameters(self, seed: int | None = None) -> None:
        """Normal(0, init_std) matrices (output projections scaled by 1/sqrt(2 n_layers)); zero biases."""
        gen = None
        if seed is not None:
            gen = torch.Generator(device="cpu").manual_seed(int(seed))
        std = self.cfg.init_std
        out_std = std / math.sqrt(2 * self.cfg.n_layers)
        with torch.no_grad():
            for name, p in self.named_parameters():
                leaf = name.rsplit(".", 1)[-1]
                if leaf.startswith("W_"):
                    s = out_std if leaf in ("W_O", "W_out") else std
                    p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).mul_(s).to(p.dtype))
                elif leaf == "w":
                    p.fill_(1.0)
                else:
                    p.zero_()

    @property
    def device(self) -> torch.device:
        return self.W_E.device

    @property
    def dtype(self) -> torch.dtype:
        return self.W_E.dtype

    def initial_state(self, batch: int) -> None:
        """Feed-forward model: no recurrent state (``None``), kept for the model contract."""
        return None

    # -- forward ----------------------------------------------------------------------------
    def check_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Validate token ids and return them as a (batch, pos) long tensor on the model's device."""
        if not isinstance(tokens, torch.Tensor):
            tokens = torch.as_tensor(tokens)
        if tokens.dtype.is_floating_point or tokens.dtype == torch.bool or tokens.is_complex():
            raise TokenError(f"tokens must be integer ids, got dtype {tokens.dtype}; convert with tokens.long().")
        if tokens.ndim == 1:
            tokens = tokens.unsqueeze(0)
        if tokens.ndim != 2:
            raise TokenError(f"tokens must have shape (batch, pos), got {tuple(tokens.shape)}.")
        if tokens.shape[1] == 0:
            raise TokenError("tokens have zero positions; give at least one token per sequence.")
        if tokens.shape[1] > self.cfg.n_ctx:
            raise TokenError(
                f"sequence length {tokens.shape[1]} exceeds the model's context n_ctx={self.cfg.n_ctx}; "
                "truncate the prompts or build a model with a larger n_ctx."
            )
        if tokens.numel():
            lo, hi = int(tokens.min()), int(tokens.max())
            if lo < 0 or hi >= self.cfg.d_vocab:
                bad = lo if lo < 0 else hi
                raise TokenError(
                    f"token id {bad} is outside the vocabulary [0, {self.cfg.d_vocab - 1}] of this model "
                    f"(d_vocab={self.cfg.d_vocab}); check the tokenizer/task matches the model."
                )
        return tokens.to(device=self.W_E.device, dtype=torch.long)

    def _rotary(self, n_pos: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.cfg.positional != "rotary":
            return None
        d = self.cfg.d_head
        inv_freq = 1.0 / (self.cfg.rotary_base ** (torch.arange(0, d, 2, device=self.device, dtype=torch.float32) / d))
        freqs = torch.arange(n_pos, device=self.device, dtype=torch.float32)[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.hook_tok_embed(self.W_E[tokens])
        if self.W_pos is not None:
            pos = self.hook_pos_embed(self.W_pos[: tokens.shape[1]].unsqueeze(0).expand(tokens.shape[0], -1, -1))
            x = x + pos
        return self.hook_embed(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, pos, d_vocab) for token ids of shape (batch, pos)."""
        tokens = self.check_tokens(tokens)
        x = self.embed(tokens)
        rotary = self._rotary(tokens.shape[1])
        return self._run_blocks(x, rotary, 0, False)

    def _keep(self, n_pos: int, device: torch.device) -> torch.Tensor | None:
        if self._positions is None:
            return None
        return torch.tensor(sorted({p % n_pos for p in self._positions}), dtype=torch.long, device=device)

    def _run_blocks(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None, first: int,
                    from_mid: bool) -> torch.Tensor:
        """Blocks ``first`` onwards (the first from its ``hook_resid_mid`` when ``from_mid``), the final
        norm and the unembedding; ``len(blocks)`` as ``first`` runs only ``hook_resid_final`` onwards."""
        n_pos = x.shape[1]
        keep = self._keep(n_pos, x.device)
        last = len(self.blocks) - 1
        for i in range(first, len(self.blocks)):
            x = self.blocks[i](x, rotary, keep if i == last else None, from_mid=from_mid and i == first)
        if first == len(self.blocks):  # resumed at hook_resid_final: x holds every position
            x = self.hook_resid_final(x)
            x = x if keep is None else x.index_select(1, keep)
        else:
            x = hook_trimmed(self.hook_resid_final, x, keep, 1, n_pos)
        logits = self.ln_final(x) @ self.W_U + self.b_U
        if keep is None:
            return logits
        return logits.new_zeros((logits.shape[0], n_pos, logits.shape[-1])).index_copy(1, keep, logits)

    def _resume_point(self, hook: str) -> tuple[int, bool] | None:
        """(first block, from its middle) of a residual hook a forward can start at, else None."""
        if hook == "hook_resid_final":
            return len(self.blocks), False
        parts = hook.split(".")
        if len(parts) == 3 and parts[0] == "blocks" and parts[1].isdigit() and int(parts[1]) < len(self.blocks):
            if parts[2] == "hook_resid_pre":
                return int(parts[1]), False
            if parts[2] == "hook_resid_mid" and self.blocks[int(parts[1])].mlp is not None:
                return int(parts[1]), True
        return None

    def can_resume_from(self, hook: str) -> bool:
        """Whether :meth:`forward_from` can start at hook point ``hook`` (a residual-stream hook)."""
        return self._resume_point(hook) is not None

    def forward_from(self, hook: str, x: torch.Tensor) -> torch.Tensor:
        """Logits of a forward that starts at residual hook point ``hook`` with activation ``x`` (batch,
        pos, d_model) there: ``blocks.{i}.hook_resid_pre``, ``blocks.{i}.hook_resid_mid`` or
        ``hook_resid_final``. The hook itself runs on ``x`` (so a hook there may replace it); the
        blocks before it do not run. Discovery uses it to skip the unpatched prefix of a patched run."""
        point = self._resume_point(hook)
        if point is None:
            raise ValueError(f"cannot start a forward at {hook!r}; use blocks.<i>.hook_resid_pre, "
                             "blocks.<i>.hook_resid_mid or hook_resid_final.")
        if x.ndim != 3 or x.shape[-1] != self.cfg.d_model:
            raise ValueError(f"forward_from needs x of shape (batch, pos, {self.cfg.d_model}), got {tuple(x.shape)}.")
        return self._run_blocks(x, self._rotary(x.shape[1]), *point)

    @contextlib.contextmanager
    def output_positions(self, positions: Sequence[int] | None) -> Iterator[None]:
        """Within the block, only the logits at ``positions`` need to be right (a discovery speed-up).

        The last block then computes queries, attention outputs, its MLP and the unembedding at
        those positions only (keys and values at every position, which is all later positions
        need from earlier ones); the other positions of the output, and of the last block's hook
        tensors from ``hook_q`` on, hold zeros. Hooks see full-size tensors, except hook functions
        marked :func:`~neurocircuits.layers.hooks.accept_trimmed`, which see the computed positions
        only when ``positions`` is a range (:func:`~neurocircuits.layers.hooks.hook_trimmed`).
        Discovery uses this for metrics that read the answer position only.
        """
        previous = self._positions
        self._positions = None if positions is None else tuple(int(p) for p in positions)
        try:
            yield
        finally:
            self._positions = previous

    def run_with_cache(self, tokens: torch.Tensor, names: Sequence[str] | None = None,
                       detach: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward pass that also returns the activations at ``names`` (default: every hook point)."""
        with cache_activations(self, names, detach=detach) as cache:
            logits = self(tokens)
        return logits, dict(cache)

    # -- the discovery contract -------------------------------------------------------------
    def computation_graph(self) -> CircuitGraph:
        """Writers (embed, heads, MLPs) and readers (q/k/v inputs, MLP inputs, logits) with every edge.

        See the module docstring and the discovery contract: each reader's activation equals a
        constant (biases) plus the sum of the outputs of its upstream writers.
        """
        return build_transformer_graph(self.cfg.n_layers, self.cfg.n_heads, not self.cfg.attn_only,
                                       name=f"transformer-{self.cfg.n_layers}L{self.cfg.n_heads}H")

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
        """Write weights as safetensors with ``asdict(cfg)`` (and ``metadata``) in the header."""
        from safetensors.torch import save_file

        path = Path(path)
        meta = {"config": json.dumps(asdict(self.cfg)), "format": "neurocircuits.HookedTransformer"}
        for key, value in (metadata or {}).items():
            meta[str(key)] = value if isinstance(value, str) else json.dumps(value)
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        tmp = path.with_name(path.name + ".tmp")
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, device: Any = None, dtype: Any = None) -> HookedTransformer:
        """Load a model written by :meth:`save` (config from the safetensors metadata)."""
        model, _ = load_with_metadata(path, device=device, dtype=dtype)
        return model


def load_with_metadata(path: str | Path, device: Any = None, dtype: Any = None) -> tuple[HookedTransformer, dict[str, Any]]:
    """Load a saved :class:`HookedTransformer` and its metadata (JSON values decoded)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}.")
    with safe_open(str(path), framework="pt") as f:
        raw_meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    if "config" not in raw_meta:
        raise ValueError(f"{str(path)!r} has no 'config' entry in its safetensors metadata; it was not written by HookedTransformer.save.")
    meta: dict[str, Any] = {}
    for key, value in raw_meta.items():
        try:
            meta[key] = json.loads(value)
        except (json.JSONDecodeError, TypeError):
            meta[key] = value
    model = HookedTransformer(TransformerConfig.from_dict(meta["config"]), device=device, dtype=dtype)
    model.load_state_dict({k: v.to(dtype=model.dtype) if v.is_floating_point() else v for k, v in tensors.items()})
    return model, meta


def build_transformer_graph(n_layers: int, n_heads: int, has_mlp: bool, name: str = "transformer") -> CircuitGraph:
    """The writer/reader graph of a standard pre-norm transformer (see the discovery contract).

    Each reader also names a ``cut_hook``: the residual-stream hook that fires before it and through
    which all later computation flows (``blocks.{l}.hook_resid_pre`` for head inputs,
    ``blocks.{l}.hook_resid_mid`` for MLP inputs, ``hook_resid_final`` for the logits). The patching
    engine runs the unpatched prefix of a batched forward once and repeats the batch there.
    """
    g = CircuitGraph(name=name, attrs={"n_layers": n_layers, "n_heads": n_heads, "has_mlp": has_mlp})
    g.add_node("embed", kind="embed", layer=-1, role="writer", hook="hook_embed")
    writers = ["embed"]
    for layer in range(n_layers):
        for h in range(n_heads):
            for inp in ("q", "k", "v"):
                reader = f"a{layer}.h{h}.{inp}"
                g.add_node(reader, kind="head_input", layer=layer, head=h, role="reader",
                           hook=f"blocks.{layer}.attn.hook_{inp}_input", owner=f"a{layer}.h{h}", input=inp,
                           cut_hook=f"blocks.{layer}.hook_resid_pre")
                for w in writers:
                    g.add_edge(w, reader, kind=inp)
        heads = [f"a{layer}.h{h}" for h in range(n_heads)]
        for h, head in enumerate(heads):
            g.add_node(head, kind="head", layer=layer, head=h, role="writer", hook=f"blocks.{layer}.attn.hook_result")
        writers.extend(heads)
        if has_mlp:
            g.add_node(f"m{layer}.in", kind="mlp_input", layer=layer, role="reader",
                       hook=f"blocks.{layer}.hook_mlp_in", owner=f"m{layer}", cut_hook=f"blocks.{layer}.hook_resid_mid")
            for w in writers:
                g.add_edge(w, f"m{layer}.in", kind="mlp")
            g.add_node(f"m{layer}", kind="mlp", layer=layer, role="writer", hook=f"blocks.{layer}.hook_mlp_out")
            writers.append(f"m{layer}")
    g.add_node("logits", kind="logits", layer=n_layers, role="reader", hook="hook_resid_final", owner=None,
               cut_hook="hook_resid_final")
    for w in writers:
        g.add_edge(w, "logits", kind="resid")
    return g


def _config_from_kwargs(defaults: dict[str, Any], cfg: TransformerConfig | None, kwargs: dict[str, Any]) -> TransformerConfig:
    if cfg is not None:
        if kwargs:
            raise ValueError("pass either cfg= or keyword config fields, not both.")
        return cfg
    return TransformerConfig.from_dict({**defaults, **kwargs})


@register_model("transformer", family="transformer", paper="Vaswani et al. 2017; Elhage et al. 2021")
def transformer(cfg: TransformerConfig | None = None, device: Any = None, dtype: Any = None,
                seed: int | None = None, **kwargs: Any) -> HookedTransformer:
    """A hookable transformer with MLPs (default: 2 layers, 2 heads, d_model 64, d_mlp 256)."""
    return HookedTransformer(_config_from_kwargs({"d_mlp": 256}, cfg, kwargs), device=device, dtype=dtype, seed=seed)


@register_model("attn_only_transformer", family="transformer", paper="Elhage et al. 2021")
def attn_only_transformer(cfg: TransformerConfig | None = None, device: Any = None, dtype: Any = None,
                          seed: int | None = None, **kwargs: Any) -> HookedTransformer:
    """An attention-only hookable transformer (``d_mlp=0``)."""
    if kwargs.get("d_mlp", 0) != 0 or (cfg is not None and cfg.d_mlp != 0):
        raise ValueError("attn_only_transformer has no MLPs; use create_model('transformer', d_mlp=...) for MLPs.")
    return HookedTransformer(_config_from_kwargs({"d_mlp": 0}, cfg, kwargs), device=device, dtype=dtype, seed=seed)
