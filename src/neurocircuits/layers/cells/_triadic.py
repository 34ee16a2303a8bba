"""Triadic modulation of queries, keys and values by two-point (context-sensitive) neurons.

Paper: Adeel et al. 2025, "Beyond Attention: Toward Machines with Intrinsic Higher Mental States"
(Co4: triadic modulation loops among Q, K and V); the two-point neuron transfer of Kay & Phillips
(1997) and Adeel (2020, "Conscious multisensory integration").

Before attention, every projection is a two-point neuron: its receptive field drive ``R`` (the usual
``W_q x``, ``W_k x``, ``W_v x``) is modulated by a context ``C`` formed from the other two:

    mod(R, C) = R * (1 + tanh(R * C))          amplify when R and C agree, attenuate when they conflict
    Q' = mod(Q, U_q [K ; V]),  K' = mod(K, U_k [Q ; V]),  V' = mod(V, U_v [Q ; K])

(``[A ; B]`` concatenates the token's own vectors; ``mod(R, 0) = R`` so a zero context gives the
vanilla transformer). ``loops`` repeats the triadic update with the modulated Q, K, V as the new
drives. Attention then runs as usual on ``Q', K', V'``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..hooks import HookPoint


def two_point_modulation(r: Tensor, c: Tensor) -> Tensor:
    """Context-sensitive two-point transfer ``r * (1 + tanh(r * c))`` (identity for ``c = 0``)."""
    return r * (1.0 + torch.tanh(r * c))


class TriadicAttention(nn.Module):
    """Causal multi-head self-attention with triadic Q/K/V modulation (``modulate=False``: vanilla)."""

    def __init__(self, d_model: int, n_heads: int, modulate: bool = True, loops: int = 1, causal: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}; change one of them.")
        if loops < 1:
            raise ValueError(f"loops must be >= 1, got {loops}.")
        fk = {"device": device, "dtype": dtype}
        self.n_heads, self.d_head, self.modulate, self.loops, self.causal = n_heads, d_model // n_heads, modulate, loops, causal
        self.qkv = nn.Linear(d_model, 3 * d_model, **fk)
        self.out = nn.Linear(d_model, d_model, **fk)
        if modulate:
            self.context = nn.ModuleList(nn.Linear(2 * d_model, d_model, **fk) for _ in range(3))
            for lin in self.context:                      # start near the vanilla model (small contexts)
                nn.init.normal_(lin.weight, std=0.1 / math.sqrt(2 * d_model))
                nn.init.zeros_(lin.bias)
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_pattern = HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        if self.modulate:
            u_q, u_k, u_v = self.context
            for _ in range(self.loops):
                q, k, v = (two_point_modulation(q, u_q(torch.cat([k, v], -1))),
                           two_point_modulation(k, u_k(torch.cat([q, v], -1))),
                           two_point_modulation(v, u_v(torch.cat([q, k], -1))))
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        q, k, v = (z.view(b, t, self.n_heads, self.d_head).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        if self.causal:
            scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        z = self.hook_pattern(scores.softmax(-1)) @ v
        return self.out(z.transpose(1, 2).reshape(b, t, d))


class TriadicTransformer(nn.Module):
    """Pre-LN transformer classifier/LM whose attention layers use triadic Q/K/V modulation.

    Args:
        vocab, d_model, n_heads, n_layers, d_mlp, max_len: sizes; modulate: triadic modulation on/off
            (off: the same-size vanilla transformer, minus the context maps); loops: modulation loops.

    ``forward(tokens [batch, time]) -> logits [batch, time, vocab_out]`` (``vocab_out`` defaults to vocab).
    """

    def __init__(self, vocab: int = 16, d_model: int = 32, n_heads: int = 2, n_layers: int = 1, d_mlp: int = 64,
                 max_len: int = 64, modulate: bool = True, loops: int = 1, vocab_out: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(vocab, d_model, n_heads, n_layers, d_mlp, max_len) < 1:
            raise ValueError("vocab, d_model, n_heads, n_layers, d_mlp and max_len must all be >= 1.")
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.max_len = vocab, max_len
        self.embed = nn.Embedding(vocab, d_model, **fk)
        self.pos = nn.Parameter(torch.randn(max_len, d_model, **fk) * 0.02)
        self.ln1 = nn.ModuleList(nn.LayerNorm(d_model, **fk) for _ in range(n_layers))
        self.ln2 = nn.ModuleList(nn.LayerNorm(d_model, **fk) for _ in range(n_layers))
        self.attn = nn.ModuleList(TriadicAttention(d_model, n_heads, modulate, loops, **fk) for _ in range(n_layers))
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(d_model, d_mlp, **fk), nn.GELU(), nn.Linear(d_mlp, d_model, **fk))
                                 for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model, **fk)
        self.unembed = nn.Linear(d_model, vocab_out or vocab, **fk)

    def forward(self, tokens: Tensor) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"TriadicTransformer expects integer token ids of shape [batch, time], got {shape}.")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}; build with a larger max_len.")
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for ln1, attn, ln2, mlp in zip(self.ln1, self.attn, self.ln2, self.mlp):
            x = x + attn(ln1(x))
            x = x + mlp(ln2(x))
        return self.unembed(self.ln_f(x))

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.randint(0, self.vocab, (batch, min(6, self.max_len)), device=self.pos.device)
