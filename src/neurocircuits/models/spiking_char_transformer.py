"""Tiny character transformer evaluated with spike-count operators (after BrainTransformers,
Tang & Zhu 2024: SNN-compatible matmul, softmax and SiLU).

One causal pre-LayerNorm block, single head, SiLU MLP:

    x = E[c] + P,   a = softmax(mask(q k^T / sqrt(d))) v,   x = x + W_o a,   x = x + W_2 SiLU(W_1 LN(x))

With ``spike_steps=T`` every matmul whose input is an activation uses :func:`spike_matmul`
(activations rate-coded by IF neurons over ``T`` steps), the attention softmax is
:func:`spike_softmax` (winner-take-all spike rates) and SiLU is :func:`spike_silu` (Bernoulli rates):
the same trained weights, operators that converge to the ANN's as ``T`` grows.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..layers.spiking import spike_matmul, spike_silu, spike_softmax
from ._registry import register_model


class SpikeCountCharTransformer(nn.Module):
    def __init__(self, vocab: int = 16, dim: int = 32, context: int = 16, mlp: int = 64, device=None, dtype=None) -> None:
        super().__init__()
        self.vocab, self.dim, self.context = vocab, dim, context
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.randn(context, dim) * 0.1)
        self.ln1, self.ln2, self.ln_f = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.o = nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, mlp), nn.Linear(mlp, dim)
        self.unembed = nn.Linear(dim, vocab)
        self.to(device=device, dtype=dtype)

    def initial_state(self, batch: int) -> None:
        return None

    def example_input(self, batch: int) -> Tensor:
        """Random valid tokens ``(batch, context)`` (zoo smoke-test protocol)."""
        return torch.randint(0, self.vocab, (batch, self.context), device=self.pos.device)

    def _lin(self, layer: nn.Linear, x: Tensor, T: int | None) -> Tensor:
        if T is None:
            return layer(x)
        return spike_matmul(x, layer.weight.T, T) + layer.bias

    def forward(self, tokens: Tensor, state: None = None, spike_steps: int | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, None]:
        """``tokens (batch, length)`` -> logits ``(batch, length, vocab)``; ``spike_steps`` switches to spike-count ops."""
        T = spike_steps
        if tokens.dim() != 2 or tokens.is_floating_point():
            raise ValueError(f"expected integer tokens of shape (batch, length), got {tuple(tokens.shape)} {tokens.dtype}.")
        B, L = tokens.shape
        if L > self.context:
            raise ValueError(f"sequence length {L} exceeds the context {self.context}.")
        x = self.embed(tokens) + self.pos[:L]
        q, k, v = self._lin(self.qkv, self.ln1(x), T).split(self.dim, -1)
        mask = torch.ones(L, L, dtype=torch.bool, device=x.device).tril()
        if T is None:
            att = torch.softmax((q @ k.transpose(1, 2) / math.sqrt(self.dim)).masked_fill(~mask, -torch.inf), -1)
            a = att @ v
        else:
            scores = spike_matmul(q, k.transpose(1, 2), T) / math.sqrt(self.dim)
            att = spike_softmax(scores.masked_fill(~mask, -torch.inf), T, generator)
            a = spike_matmul(att, v, T, x_max=1.0)
        x = x + self._lin(self.o, a, T)
        h = self._lin(self.fc1, self.ln2(x), T)
        h = torch.nn.functional.silu(h) if T is None else spike_silu(h, T, generator)
        x = x + self._lin(self.fc2, h, T)
        return self._lin(self.unembed, self.ln_f(x), T), None


@register_model("spiking_char_transformer", family="spiking", paper="Tang & Zhu 2024 (BrainTransformers)")
def spiking_char_transformer(**cfg: Any) -> SpikeCountCharTransformer:
    return SpikeCountCharTransformer(**cfg)


def synthetic_char_corpus(n: int = 4000, seed: int = 0) -> tuple[Tensor, list[str]]:
    """Character stream of random sentences from a tiny grammar (vocab <= 16); returns ids and the alphabet."""
    g = torch.Generator().manual_seed(seed)
    subj, verb, obj = ["a cat", "the dog", "an ant"], ["sees", "eats", "hid"], ["the hat", "a nest", "tea"]
    words = []
    while sum(len(w) + 1 for w in words) < n:
        for group in (subj, verb, obj):
            words.append(group[int(torch.randint(len(group), (1,), generator=g))])
        words[-1] += "."
    text = " ".join(words)[:n]
    alphabet = sorted(set(text))
    ids = torch.tensor([alphabet.index(c) for c in text])
    return ids, alphabet
