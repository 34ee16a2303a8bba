"""Layer-Integrated Memory (LIMe): attention keys and values mixed from all earlier layers.

Paper: Gerasimov, Aksenov, Balagansky, Sinii & Gavrilov 2025, "You Do Not Fully Utilize
Transformer's Representation Capacity" (LIMe, arXiv 2502.09245). A vanilla transformer's layer
``l`` only reads the current residual stream ``x_l``, so information overwritten by earlier layers
is lost ("representation collapse"). In LIMe each head of layer ``l`` reads keys and values from a
learned mixture over every earlier layer. Two mixings are built here (``mix=``):

``"kv"`` (the paper's static LIMe): every layer ``j`` writes its own per-head keys and values
``K_{j,g} = LN(x_j) W_k^{j,g}``, ``V_{j,g} = LN(x_j) W_v^{j,g}`` to a buffer; head ``h`` of layer
``l >= 1`` reads a *linear* (unnormalised) combination over all earlier layers and heads,

    K~_{l,h} = sum_{j<=l} sum_g R^l_{h,(j,g)} K_{j,g},     V~_{l,h} = same with V,
    x_{l+1}  = x_l + Attn(LN(x_l) W_q^l, K~_l, V~_l) W_o  (+ MLP, pre-LN),

with ``R^l`` in R^(H x (l+1)H) initialised to the identity on the current layer's heads plus
``U(-sqrt(3/fan_in), sqrt(3/fan_in))`` elsewhere (``fan_in = (l+1)H``). Layer 0 has no router. The
routers add ``sum_{l>=1} H^2 (l+1)`` parameters; with ``R^l = [0 .. 0 | I]`` the model is exactly
the vanilla transformer. ``dynamic_router=True`` adds a token-dependent term (the paper's dynamic
LIMe in spirit): the K/V at position ``s`` are mixed with ``R^l + reshape(W_dyn LN(x_{l,s}))``,
``W_dyn`` initialised to zero.

``"residual"``: head ``h`` of layer ``l`` projects a convex mixture of residuals,
``m_{l,h} = sum_{j<=l} softmax(r_{l,h})_j x_j``, ``K = LN(m) W_k^h``, ``V = LN(m) W_v^h``; routers
start on the current layer (logit ``router_init``); a one-hot router is the vanilla layer.

:func:`value_matrix_entropy` is the paper's collapse measure: the matrix-based Renyi entropy of a
sequence's value vectors (standardised per feature over the data set),
``S_alpha = log(sum_i (lambda_i / tr G)^alpha) / (1 - alpha)`` of the Gram matrix ``G = V V^T``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..hooks import HookPoint


def _attention_and_mlp(block: nn.Module, layer: int, d_model: int, n_heads: int, d_mlp: int,
                       fk: dict[str, Any]) -> None:
    """The q/k/v/o projections and the MLP (with its norm) that both LIMe blocks share."""
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}; change one of them.")
    block.layer, block.n_heads, block.d_head = layer, n_heads, d_model // n_heads
    block.q = nn.Linear(d_model, d_model, **fk)
    block.k = nn.Linear(d_model, d_model, **fk)
    block.v = nn.Linear(d_model, d_model, **fk)
    block.o = nn.Linear(d_model, d_model, **fk)
    block.ln_mlp = nn.LayerNorm(d_model, **fk)
    block.mlp = nn.Sequential(nn.Linear(d_model, d_mlp, **fk), nn.GELU(), nn.Linear(d_mlp, d_model, **fk))


class LIMeBlock(nn.Module):
    """One pre-LN block whose heads read K/V from a routed mixture of residuals ``x_0 .. x_l``."""

    def __init__(self, layer: int, d_model: int, n_heads: int, d_mlp: int, router_init: float = 4.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        _attention_and_mlp(self, layer, d_model, n_heads, d_mlp, fk)
        self.ln_q = nn.LayerNorm(d_model, **fk)
        self.ln_kv = nn.LayerNorm(d_model, **fk)
        init = torch.zeros(n_heads, layer + 1, **fk)
        init[:, -1] = router_init
        self.router = nn.Parameter(init)
        self.hook_v = HookPoint()

    def route(self) -> Tensor:
        """Router weights ``[heads, layer + 1]`` (rows sum to 1)."""
        return self.router.softmax(-1)

    def forward(self, history: list[Tensor]) -> Tensor:
        """``history = [x_0, ..., x_l]`` (each ``[batch, time, d]``) -> ``x_{l+1}``."""
        x = history[-1]
        b, t, d = x.shape
        mix = torch.einsum("hj,jbtd->hbtd", self.route(), torch.stack(history))        # [heads, b, t, d]
        kv = self.ln_kv(mix)
        w_k = self.k.weight.view(self.n_heads, self.d_head, d)
        w_v = self.v.weight.view(self.n_heads, self.d_head, d)
        k = torch.einsum("hbtd,hed->bhte", kv, w_k) + self.k.bias.view(1, self.n_heads, 1, self.d_head)
        v = torch.einsum("hbtd,hed->bhte", kv, w_v) + self.v.bias.view(1, self.n_heads, 1, self.d_head)
        v = self.hook_v(v)
        q = self.q(self.ln_q(x)).view(b, t, self.n_heads, self.d_head).transpose(1, 2)
        x = x + self.o(_causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln_mlp(x))

    def advance(self, history: list[Tensor], memory: list[Tensor]) -> Tensor:
        """Uniform step used by :class:`LIMeTransformer` (this block keeps no K/V memory)."""
        return self(history)


class LIMeKVBlock(nn.Module):
    """One pre-LN block of the paper's static LIMe: heads read linear mixtures of all earlier K/V.

    Args:
        layer: index ``l`` of the block (0 has no router).
        d_model, n_heads, d_mlp: sizes.
        routed: ``False`` builds no router (the vanilla block: each head reads its own K/V).
        dynamic: add a token-dependent term, ``R^l(x_s) = R^l + reshape(W_dyn LN(x_{l,s}))``, so the
            K/V at position ``s`` are mixed with weights computed from that position's residual
            (``W_dyn`` starts at zero: the block starts as the static one).
    """

    def __init__(self, layer: int, d_model: int, n_heads: int, d_mlp: int, routed: bool = True,
                 dynamic: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        _attention_and_mlp(self, layer, d_model, n_heads, d_mlp, fk)
        self.ln_attn = nn.LayerNorm(d_model, **fk)
        self.router: nn.Parameter | None = None
        if routed and layer > 0:
            fan_in = (layer + 1) * n_heads
            bound = math.sqrt(3.0 / fan_in)
            w = torch.empty(n_heads, fan_in, **fk).uniform_(-bound, bound)
            with torch.no_grad():
                w[:, -n_heads:] = torch.eye(n_heads, **fk)
            self.router = nn.Parameter(w)
        self.dynamic: nn.Linear | None = None
        if self.router is not None and dynamic:
            self.dynamic = nn.Linear(d_model, n_heads * (layer + 1) * n_heads, bias=False, **fk)
            nn.init.zeros_(self.dynamic.weight)
        self.hook_v = HookPoint()

    def advance(self, history: list[Tensor], memory: list[Tensor]) -> Tensor:
        """Append this layer's K/V ``[heads, b, t, 2 d_head]`` to ``memory``; return ``x_{l+1}``."""
        x = history[-1]
        b, t, d = x.shape
        h = self.ln_attn(x)
        k = self.k(h).view(b, t, self.n_heads, self.d_head)
        v = self.v(h).view(b, t, self.n_heads, self.d_head)
        memory.append(torch.cat([k, v], -1).permute(2, 0, 1, 3))                       # [heads, b, t, 2e]
        if self.router is not None:
            if len(memory) != self.layer + 1:
                raise ValueError(f"LIMeKVBlock {self.layer} needs the K/V of layers 0..{self.layer - 1} in memory, "
                                 f"got {len(memory) - 1} layers; run the blocks in order.")
            if self.dynamic is None:
                kv = torch.einsum("hg,gbtc->bhtc", self.router, torch.cat(memory, 0))
            else:
                r = self.router + self.dynamic(h).view(b, t, *self.router.shape)                # [b, t, H, G]
                kv = torch.einsum("bthg,gbtc->bhtc", r, torch.cat(memory, 0))
        else:
            kv = memory[-1].transpose(0, 1)
        k, v = kv[..., : self.d_head], self.hook_v(kv[..., self.d_head:])
        q = self.q(h).view(b, t, self.n_heads, self.d_head).transpose(1, 2)
        x = x + self.o(_causal_attention(q, k, v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln_mlp(x))


def _causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    t = q.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return scores.softmax(-1) @ v


_MIXES = {"residual": "softmax mixture of residual streams, projected by the reading layer",
          "kv": "linear mixture of every earlier layer's and head's keys/values (the paper's static LIMe)"}


class LIMeTransformer(nn.Module):
    """Causal LM with LIMe blocks: ``forward(tokens [batch, time]) -> logits [batch, time, vocab]``.

    Args:
        vocab, d_model, n_heads, n_layers, d_mlp, max_len: sizes.
        lime: route K/V over all earlier layers; ``False`` is the vanilla transformer (``mix="residual"``:
            routers frozen one-hot on the current layer; ``mix="kv"``: no routers at all).
        router_init: ``mix="residual"`` only, the initial logit of the current layer.
        mix: ``"residual"`` or ``"kv"`` (see the module docstring).
        dynamic_router: ``mix="kv"`` only, add the token-dependent router term (see :class:`LIMeKVBlock`).
    """

    def __init__(self, vocab: int = 16, d_model: int = 32, n_heads: int = 4, n_layers: int = 2, d_mlp: int = 64,
                 max_len: int = 64, lime: bool = True, router_init: float = 4.0, mix: str = "residual",
                 dynamic_router: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(vocab, d_model, n_heads, n_layers, d_mlp, max_len) < 1:
            raise ValueError("vocab, d_model, n_heads, n_layers, d_mlp and max_len must all be >= 1.")
        if mix not in _MIXES:
            raise ValueError(f"unknown LIMe mix {mix!r}; choose one of {sorted(_MIXES)}.")
        if dynamic_router and mix != "kv":
            raise ValueError("dynamic_router=True needs mix='kv' (the residual mix has only static routers).")
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.max_len, self.lime, self.mix = vocab, max_len, lime, mix
        self.embed = nn.Embedding(vocab, d_model, **fk)
        self.pos = nn.Parameter(torch.randn(max_len, d_model, **fk) * 0.02)
        blocks: list[nn.Module] = []
        for i in range(n_layers):
            if mix == "kv":
                blocks.append(LIMeKVBlock(i, d_model, n_heads, d_mlp, routed=lime, dynamic=dynamic_router, **fk))
            else:
                blocks.append(LIMeBlock(i, d_model, n_heads, d_mlp, router_init, **fk))
        self.blocks = nn.ModuleList(blocks)
        if not lime and mix == "residual":
            for blk in self.blocks:
                with torch.no_grad():
                    blk.router.fill_(-1e4)
                    blk.router[:, -1] = 0.0
                blk.router.requires_grad_(False)
        self.ln_f = nn.LayerNorm(d_model, **fk)
        self.unembed = nn.Linear(d_model, vocab, **fk)
        self.hook_resid = nn.ModuleList(HookPoint() for _ in range(n_layers + 1))

    def router_parameters(self) -> list[nn.Parameter]:
        """The trainable router parameters (for their own optimiser group: the paper uses a 10x lr)."""
        out = [b.router for b in self.blocks if b.router is not None and b.router.requires_grad]
        return out + [b.dynamic.weight for b in self.blocks if getattr(b, "dynamic", None) is not None]

    def residuals(self, tokens: Tensor) -> list[Tensor]:
        """Residual streams ``[x_0, ..., x_L]``."""
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"LIMeTransformer expects integer token ids of shape [batch, time], got {shape}.")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}; build with a larger max_len.")
        history = [self.hook_resid[0](self.embed(tokens) + self.pos[: tokens.shape[1]])]
        memory: list[Tensor] = []
        for blk, hook in zip(self.blocks, self.hook_resid[1:]):
            history.append(hook(blk.advance(history, memory)))
        return history

    def forward(self, tokens: Tensor) -> Tensor:
        return self.unembed(self.ln_f(self.residuals(tokens)[-1]))

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.randint(0, self.vocab, (batch, min(6, self.max_len)), device=self.pos.device)


def value_matrix_entropy(values: Tensor, alpha: float = 0.5, eps: float = 1e-5) -> Tensor:
    """Matrix-based Renyi entropy of value vectors per sequence (the paper's collapse measure).

    Args:
        values: ``[batch, time, features]`` (e.g. a block's ``hook_v`` output reshaped
            ``b h t e -> b t (h e)``). Features are standardised with the mean and std over
            batch and time, then for each sequence ``G = V V^T`` (``[time, time]``).
        alpha: Renyi order (the paper uses 0.5); must be > 0 and != 1.

    Returns:
        ``[batch]`` entropies ``log(sum_i (lambda_i / tr G)^alpha) / (1 - alpha)``, in nats;
        0 for a rank-1 sequence, ``log(time)`` when the values are orthogonal with equal norms.
    """
    if values.dim() != 3:
        raise ValueError(f"value_matrix_entropy expects values [batch, time, features], got {tuple(values.shape)}.")
    if alpha <= 0 or alpha == 1:
        raise ValueError(f"alpha={alpha} must be > 0 and != 1 (use e.g. 0.5).")
    v = values.detach().to(torch.float64)
    v = (v - v.mean((0, 1), keepdim=True)) / (v.std((0, 1), keepdim=True) + eps)
    gram = v @ v.transpose(1, 2)
    lam = torch.linalg.eigvalsh(gram).clamp_min(0)
    p = lam / lam.sum(-1, keepdim=True)
    return torch.log((p ** alpha).sum(-1)) / (1 - alpha)
