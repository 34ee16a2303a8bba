"""Layer-Integrated Memory (LIMe): attention keys and values mixed from all earlier layers.

Paper: Gerasimov et al. 2025, "You Do Not Fully Utilize Transformer's Representation Capacity"
(LIMe). A vanilla transformer's layer ``l`` only reads the current residual stream ``x_l``, so
information overwritten by earlier layers is lost ("representation collapse"). In LIMe each head
``h`` of layer ``l`` reads keys and values from a learned mixture of every earlier residual:

    m_{l,h}  = sum_{j=0}^{l} softmax(r_{l,h})_j  x_j           per-head router r_{l,h} in R^(l+1)
    Q_{l,h}  = LN(x_l) W_q^h,   K_{l,h} = LN(m_{l,h}) W_k^h,   V_{l,h} = LN(m_{l,h}) W_v^h
    x_{l+1}  = x_l + Attn(Q, K, V) W_o  (+ MLP, pre-LN)

``x_0`` is the embedding. Routers start on the current layer (logit ``router_init`` for ``j = l``,
0 elsewhere); with a one-hot router the layer is exactly the vanilla one. The routers add only
``sum_l heads (l + 1)`` parameters.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..hooks import HookPoint


class LIMeBlock(nn.Module):
    """One pre-LN block whose heads read K/V from a routed mixture of residuals ``x_0 .. x_l``."""

    def __init__(self, layer: int, d_model: int, n_heads: int, d_mlp: int, router_init: float = 4.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}; change one of them.")
        fk = {"device": device, "dtype": dtype}
        self.layer, self.n_heads, self.d_head = layer, n_heads, d_model // n_heads
        self.ln_q = nn.LayerNorm(d_model, **fk)
        self.ln_kv = nn.LayerNorm(d_model, **fk)
        self.q = nn.Linear(d_model, d_model, **fk)
        self.k = nn.Linear(d_model, d_model, **fk)
        self.v = nn.Linear(d_model, d_model, **fk)
        self.o = nn.Linear(d_model, d_model, **fk)
        self.ln_mlp = nn.LayerNorm(d_model, **fk)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp, **fk), nn.GELU(), nn.Linear(d_mlp, d_model, **fk))
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
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        x = x + self.o((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln_mlp(x))


class LIMeTransformer(nn.Module):
    """Causal LM with LIMe blocks: ``forward(tokens [batch, time]) -> logits [batch, time, vocab]``.

    Args:
        vocab, d_model, n_heads, n_layers, d_mlp, max_len: sizes.
        lime: route K/V over all earlier layers; ``False`` freezes routers one-hot on the current
            layer (the vanilla transformer with identical weights).
    """

    def __init__(self, vocab: int = 16, d_model: int = 32, n_heads: int = 4, n_layers: int = 2, d_mlp: int = 64,
                 max_len: int = 64, lime: bool = True, router_init: float = 4.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(vocab, d_model, n_heads, n_layers, d_mlp, max_len) < 1:
            raise ValueError("vocab, d_model, n_heads, n_layers, d_mlp and max_len must all be >= 1.")
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.max_len, self.lime = vocab, max_len, lime
        self.embed = nn.Embedding(vocab, d_model, **fk)
        self.pos = nn.Parameter(torch.randn(max_len, d_model, **fk) * 0.02)
        self.blocks = nn.ModuleList(LIMeBlock(i, d_model, n_heads, d_mlp, router_init, **fk) for i in range(n_layers))
        if not lime:
            for blk in self.blocks:
                with torch.no_grad():
                    blk.router.fill_(-1e4)
                    blk.router[:, -1] = 0.0
                blk.router.requires_grad_(False)
        self.ln_f = nn.LayerNorm(d_model, **fk)
        self.unembed = nn.Linear(d_model, vocab, **fk)
        self.hook_resid = nn.ModuleList(HookPoint() for _ in range(n_layers + 1))

    def residuals(self, tokens: Tensor) -> list[Tensor]:
        """Residual streams ``[x_0, ..., x_L]``."""
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"LIMeTransformer expects integer token ids of shape [batch, time], got {shape}.")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}; build with a larger max_len.")
        history = [self.hook_resid[0](self.embed(tokens) + self.pos[: tokens.shape[1]])]
        for blk, hook in zip(self.blocks, self.hook_resid[1:]):
            history.append(hook(blk(history)))
        return history

    def forward(self, tokens: Tensor) -> Tensor:
        return self.unembed(self.ln_f(self.residuals(tokens)[-1]))

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.randint(0, self.vocab, (batch, min(6, self.max_len)), device=self.pos.device)
