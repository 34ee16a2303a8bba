"""Transformer layers as ODE integration steps, with a parallel attention+MLP block.

Papers: Li et al. 2022, "ODE Transformer: An Ordinary Differential Equation-Inspired Model for
Sequence Generation" (ACL); Lu et al. 2019, "Understanding and Improving Transformer From a
Multi-Particle Dynamic System Point of View"; the parallel block of GPT-J / PaLM (Wang & Komatsuzaki
2021; Chowdhery et al. 2022).

A residual stream ``x`` of shape ``[batch, time, d_model]`` follows ``dx/dt = F_l(x)`` and each layer
``l`` integrates it over one unit of time with a solver. The layer function is either

    parallel:    F(x) = Attn(LN_1 x) + MLP(LN_2 x)
    sequential:  F(x) = a + MLP(LN_2 (x + a)),   a = Attn(LN_1 x)

(Euler on the sequential ``F`` is exactly the standard pre-LN block ``x + a``, then ``+ MLP``.)
Solvers (registry :data:`ODE_SOLVERS`), all with the layer's own parameters reused at every stage:

    euler:  x' = x + h F(x)
    rk2:    F1 = F(x), F2 = F(x + h F1), x' = x + h/2 (F1 + F2)       (Heun; ODE Transformer's RK2-block)
    midpoint: x' = x + h F(x + h/2 F(x))
    rk4:    the classical four-stage Runge-Kutta step

so RK2 doubles the compute of a layer without adding parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...registry import Registry
from ..hooks import HookPoint

Field = Callable[[Tensor], Tensor]
ODE_SOLVERS: Registry[Callable[[Field, Tensor, float], Tensor]] = Registry("ODE transformer solver")


@ODE_SOLVERS.register("euler")
def _euler(f: Field, x: Tensor, h: float) -> Tensor:
    return x + h * f(x)


@ODE_SOLVERS.register("rk2")
def _rk2(f: Field, x: Tensor, h: float) -> Tensor:
    f1 = f(x)
    f2 = f(x + h * f1)
    return x + 0.5 * h * (f1 + f2)


@ODE_SOLVERS.register("midpoint")
def _midpoint(f: Field, x: Tensor, h: float) -> Tensor:
    return x + h * f(x + 0.5 * h * f(x))


@ODE_SOLVERS.register("rk4")
def _rk4(f: Field, x: Tensor, h: float) -> Tensor:
    k1 = f(x)
    k2 = f(x + 0.5 * h * k1)
    k3 = f(x + 0.5 * h * k2)
    k4 = f(x + h * k3)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


class _Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, causal: bool, **fk) -> None:
        super().__init__()
        self.n_heads, self.d_head, self.causal = n_heads, d_model // n_heads, causal
        self.qkv = nn.Linear(d_model, 3 * d_model, **fk)
        self.out = nn.Linear(d_model, d_model, **fk)

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        z = scores.softmax(-1) @ v                                   # [b, heads, t, d_head]
        return self.out(z.transpose(1, 2).reshape(b, t, d))


class ODETransformerLayer(nn.Module):
    """One transformer layer read as the vector field ``F(x)`` of an ODE (see the module docstring).

    Args:
        d_model: residual width; n_heads: attention heads; d_mlp: MLP hidden width.
        block: ``"parallel"`` (attention and MLP read the same input) or ``"sequential"``.
        causal: mask future positions in attention.
    """

    def __init__(self, d_model: int, n_heads: int, d_mlp: int, block: str = "parallel", causal: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if block not in ("parallel", "sequential"):
            raise ValueError(f"block must be 'parallel' or 'sequential', got {block!r}.")
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}; change one of them.")
        fk = {"device": device, "dtype": dtype}
        self.block = block
        self.ln1 = nn.LayerNorm(d_model, **fk)
        self.ln2 = nn.LayerNorm(d_model, **fk)
        self.attn = _Attention(d_model, n_heads, causal, **fk)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_mlp, **fk), nn.GELU(), nn.Linear(d_mlp, d_model, **fk))
        self.hook_attn_out = HookPoint()
        self.hook_mlp_out = HookPoint()

    def forward(self, x: Tensor) -> Tensor:
        """The vector field ``F(x)`` (not ``x + F(x)``)."""
        a = self.hook_attn_out(self.attn(self.ln1(x)))
        m_in = x if self.block == "parallel" else x + a
        return a + self.hook_mlp_out(self.mlp(self.ln2(m_in)))


class ODETransformer(nn.Module):
    """Token-in, logits-out transformer whose layers are ODE solver steps of their vector fields.

    Args:
        vocab: vocabulary size; d_model, n_heads, d_mlp, n_layers: sizes; max_len: longest sequence.
        block: ``"parallel"`` or ``"sequential"`` layer function; solver: a name in :data:`ODE_SOLVERS`.
        step_size: the solver's ``h`` per layer (1.0: a layer integrates one unit of time).
        causal: causal attention mask.

    ``forward(tokens [batch, time]) -> logits [batch, time, vocab]``. Hook points: ``hook_embed``,
    ``hook_resid.<l>`` (after layer ``l``) and each layer's ``hook_attn_out`` / ``hook_mlp_out``.
    """

    def __init__(self, vocab: int = 16, d_model: int = 32, n_heads: int = 4, d_mlp: int = 64, n_layers: int = 1,
                 max_len: int = 64, block: str = "parallel", solver: str = "euler", step_size: float = 1.0,
                 causal: bool = True, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(vocab, d_model, n_heads, d_mlp, n_layers, max_len) < 1:
            raise ValueError("vocab, d_model, n_heads, d_mlp, n_layers and max_len must all be >= 1.")
        if not step_size > 0:
            raise ValueError(f"step_size must be > 0, got {step_size}.")
        self._solve = ODE_SOLVERS.get(solver)
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.max_len, self.solver, self.step_size = vocab, max_len, solver, float(step_size)
        self.embed = nn.Embedding(vocab, d_model, **fk)
        self.pos = nn.Parameter(torch.randn(max_len, d_model, **fk) * 0.02)
        self.layers = nn.ModuleList(ODETransformerLayer(d_model, n_heads, d_mlp, block, causal, **fk)
                                    for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model, **fk)
        self.unembed = nn.Linear(d_model, vocab, **fk)
        self.hook_embed = HookPoint()
        self.hook_resid = nn.ModuleList(HookPoint() for _ in range(n_layers))

    def forward(self, tokens: Tensor) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"ODETransformer expects integer token ids of shape [batch, time], got {shape}.")
        t = tokens.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence length {t} exceeds max_len={self.max_len}; build with a larger max_len.")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab):
            raise ValueError(f"token ids must be in [0, {self.vocab}); build the model with a larger vocab.")
        x = self.hook_embed(self.embed(tokens) + self.pos[:t])
        for layer, hook in zip(self.layers, self.hook_resid):
            x = hook(self._solve(layer, x, self.step_size))
        return self.unembed(self.ln_f(x))

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.randint(0, self.vocab, (batch, min(6, self.max_len)), device=self.pos.device)

