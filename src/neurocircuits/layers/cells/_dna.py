"""Distributed Neural Architectures (DNA): a pool of modules and learned per-token routing.

Paper: Cowsik, Nebabu, Qi & Ganguli 2025, "Towards Distributed Neural Architectures".

Instead of a fixed stack of layers, a token's state ``x`` passes through ``steps`` routing steps. At
each step a router (its own linear map per step) scores the pool of ``N`` modules (attention
modules and MLP modules) and the token goes through its top-``k`` choices:

    p_s(x) = softmax(R_s LN(x)) in R^N,     S = top_k(p_s(x))
    x <- x + sum_{i in S} p_s(x)_i  M_i(LN x)

An attention module only mixes tokens that were routed into it at that step (a token attends
causally to the earlier tokens of the same sequence that also chose the module), so tokens take
arbitrary paths ``(i_1, ..., i_steps)`` through the pool. :meth:`DNA.paths` returns each token's
top-1 path; :func:`path_statistics` gives the rank-frequency of paths.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
from torch import Tensor, nn

from ..hooks import HookPoint


class _AttnModule(nn.Module):
    def __init__(self, d_model: int, n_heads: int, **fk) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, **fk)
        self.out = nn.Linear(d_model, d_model, **fk)

    def forward(self, x: Tensor, member: Tensor) -> Tensor:
        """``x [b, t, d]``; ``member [b, t]`` bool: tokens routed here (keys restricted to members)."""
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        allowed = ~torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1) & member[:, None, None, :]
        allowed = allowed | torch.eye(t, dtype=torch.bool, device=x.device)      # a token always sees itself
        z = scores.masked_fill(~allowed, float("-inf")).softmax(-1) @ v
        return self.out(z.transpose(1, 2).reshape(b, t, d))


class _MLPModule(nn.Module):
    def __init__(self, d_model: int, d_mlp: int, **fk) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_mlp, **fk), nn.GELU(), nn.Linear(d_mlp, d_model, **fk))

    def forward(self, x: Tensor, member: Tensor) -> Tensor:
        return self.net(x)


class DNA(nn.Module):
    """Causal LM over a pool of attention and MLP modules with learned per-token routing.

    Args:
        vocab, d_model, n_heads, d_mlp, max_len: sizes; n_attention, n_mlp: modules in the pool;
        steps: routing steps per token; top_k: modules a token visits per step.

    ``forward(tokens [batch, time]) -> logits [batch, time, vocab]``. Hook points: ``hook_route.<s>``
    (router probabilities of step ``s``) and ``hook_resid.<s>``.
    """

    def __init__(self, vocab: int = 16, d_model: int = 32, n_heads: int = 2, d_mlp: int = 64, max_len: int = 64,
                 n_attention: int = 4, n_mlp: int = 4, steps: int = 4, top_k: int = 1,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        n_modules = n_attention + n_mlp
        if min(vocab, d_model, n_heads, d_mlp, max_len, steps, n_modules) < 1 or min(n_attention, n_mlp) < 0:
            raise ValueError("vocab, d_model, n_heads, d_mlp, max_len, steps and the pool size must be >= 1.")
        if not 1 <= top_k <= n_modules:
            raise ValueError(f"top_k must be in [1, {n_modules}] (the pool size), got {top_k}.")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}; change one of them.")
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.max_len, self.steps, self.top_k = vocab, max_len, steps, top_k
        self.embed = nn.Embedding(vocab, d_model, **fk)
        self.pos = nn.Parameter(torch.randn(max_len, d_model, **fk) * 0.02)
        self.pool = nn.ModuleList([_AttnModule(d_model, n_heads, **fk) for _ in range(n_attention)]
                                  + [_MLPModule(d_model, d_mlp, **fk) for _ in range(n_mlp)])
        self.norms = nn.ModuleList(nn.LayerNorm(d_model, **fk) for _ in range(steps))
        self.routers = nn.ModuleList(nn.Linear(d_model, n_modules, **fk) for _ in range(steps))
        self.ln_f = nn.LayerNorm(d_model, **fk)
        self.unembed = nn.Linear(d_model, vocab, **fk)
        self.hook_route = nn.ModuleList(HookPoint() for _ in range(steps))
        self.hook_resid = nn.ModuleList(HookPoint() for _ in range(steps))

    def _run(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"DNA expects integer token ids of shape [batch, time], got {shape}.")
        if tokens.shape[1] > self.max_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_len={self.max_len}; build with a larger max_len.")
        x = self.embed(tokens) + self.pos[: tokens.shape[1]]
        paths = []
        for s in range(self.steps):
            h = self.norms[s](x)
            p = self.hook_route[s](self.routers[s](h).softmax(-1))                   # [b, t, N]
            top = p.topk(self.top_k, dim=-1).indices                                 # [b, t, k]
            chosen = torch.zeros_like(p, dtype=torch.bool).scatter_(-1, top, True)
            update = torch.zeros_like(x)
            for i, module in enumerate(self.pool):
                member = chosen[..., i]
                if member.any():
                    update = update + (p[..., i] * member)[..., None] * module(h, member)
            x = self.hook_resid[s](x + update)
            paths.append(top[..., 0])
        return x, torch.stack(paths, -1)

    def forward(self, tokens: Tensor) -> Tensor:
        return self.unembed(self.ln_f(self._run(tokens)[0]))

    @torch.no_grad()
    def paths(self, tokens: Tensor) -> Tensor:
        """Each token's top-1 module index at every step: ``[batch, time, steps]``."""
        return self._run(tokens)[1]

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.randint(0, self.vocab, (batch, min(6, self.max_len)), device=self.pos.device)


def path_statistics(paths: Tensor) -> dict[str, float | list[int]]:
    """Rank-frequency statistics of token paths ``[..., steps]``.

    Returns ``counts`` (sorted, descending), ``distinct`` paths, ``possible`` paths seen as a
    fraction of tokens, ``top1pct_share`` (share of tokens on the most frequent 1% of the distinct
    paths, at least one path) and the ``gini`` coefficient of the path counts.
    """
    flat = [tuple(p) for p in paths.reshape(-1, paths.shape[-1]).tolist()]
    counts = sorted(Counter(flat).values(), reverse=True)
    c = torch.tensor(counts, dtype=torch.float64)
    n = len(counts)
    top = max(1, n // 100)
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    asc = c.flip(0)
    gini = float((2 * (ranks * asc).sum() / (n * asc.sum()) - (n + 1) / n)) if n > 1 else 0.0
    return {"counts": counts, "distinct": n, "tokens": len(flat), "top1pct_share": float(c[:top].sum() / c.sum()),
            "gini": gini}
