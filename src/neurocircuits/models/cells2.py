"""More continuous-time cells and transformer-like layers (round 2 of groups 4 and 5).

Neural-ODE transformer layers (Li et al. 2022, ODE Transformer): ``dx/dt = F_l(x)`` with
``F(x) = Attn(LN x) + MLP(LN x)`` (parallel block) integrated per layer by Euler / RK2 / RK4; see
:mod:`neurocircuits.layers.cells._ode_transformer` for the equations.

Triadic modulation (Adeel et al. 2025, Beyond Attention): Q, K, V are two-point neurons,
``Q' = Q (1 + tanh(Q * U_q[K; V]))`` and likewise for K and V, before attention; see
:mod:`neurocircuits.layers.cells._triadic`.

LIMe (Gerasimov et al. 2025): head ``h`` of layer ``l`` reads K/V from
``sum_j softmax(r_{l,h})_j x_j`` over all earlier residuals; see :mod:`neurocircuits.layers.cells._lime`.

Distributed Neural Architectures (Cowsik et al. 2025): per step a router picks the top-k modules
of a pool of attention and MLP modules for every token, ``x <- x + sum_{i in S} p_i M_i(LN x)``;
see :mod:`neurocircuits.layers.cells._dna`.

BriLLM (Zhao et al. 2025): tokens are graph nodes, edge ``u -> v`` has ``(W_uv, b_uv)``; the signal
``e`` flows along the sequence and the next token is the node receiving the largest energy
``||GELU(W_{x_t v} e_t + b_{x_t v})||``; see :mod:`neurocircuits.layers.cells._brillm`.
"""

from __future__ import annotations

import torch

from ..layers.cells import DNA, BriLLM, LIMeTransformer, ODETransformer, TriadicTransformer
from ._registry import register_model


@register_model("ode_transformer", family="cells",
                paper="Li et al. 2022, ODE Transformer (ACL); parallel attention+MLP block")
def ode_transformer(vocab: int = 16, d_model: int = 32, n_heads: int = 4, d_mlp: int = 64, n_layers: int = 1,
                    max_len: int = 64, block: str = "parallel", solver: str = "rk2", step_size: float = 1.0,
                    device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> ODETransformer:
    """Transformer whose layers are ODE solver steps (``solver`` in ``ODE_SOLVERS``: euler, rk2, midpoint, rk4)."""
    return ODETransformer(vocab, d_model, n_heads, d_mlp, n_layers, max_len, block, solver, step_size,
                          device=device, dtype=dtype)


@register_model("triadic_transformer", family="cells",
                paper="Adeel et al. 2025, Beyond Attention: Toward Machines with Intrinsic Higher Mental States")
def triadic_transformer(vocab: int = 16, d_model: int = 32, n_heads: int = 2, n_layers: int = 1, d_mlp: int = 64,
                        max_len: int = 64, modulate: bool = True, loops: int = 1, vocab_out: int | None = None,
                        device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> TriadicTransformer:
    """Pre-LN transformer with triadic (two-point neuron) Q/K/V modulation before attention
    (``vocab_out``: output classes, e.g. 2 for sequence classification read at the last position)."""
    return TriadicTransformer(vocab, d_model, n_heads, n_layers, d_mlp, max_len, modulate, loops, vocab_out,
                              device=device, dtype=dtype)


@register_model("lime_transformer", family="cells",
                paper="Gerasimov et al. 2025, You Do Not Fully Utilize Transformer's Representation Capacity (LIMe)")
def lime_transformer(vocab: int = 16, d_model: int = 32, n_heads: int = 4, n_layers: int = 2, d_mlp: int = 64,
                     max_len: int = 64, lime: bool = True, router_init: float = 4.0, mix: str = "residual",
                     dynamic_router: bool = False, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> LIMeTransformer:
    """Causal LM whose heads read keys/values routed from all earlier layers (``mix="kv"``: the paper's
    linear routers over every earlier layer's K/V; ``"residual"``: softmax mixtures of residual streams)."""
    return LIMeTransformer(vocab, d_model, n_heads, n_layers, d_mlp, max_len, lime, router_init, mix,
                           dynamic_router, device=device, dtype=dtype)


@register_model("dna", family="cells", paper="Cowsik, Nebabu, Qi & Ganguli 2025, Towards Distributed Neural Architectures")
def dna(vocab: int = 16, d_model: int = 32, n_heads: int = 2, d_mlp: int = 64, max_len: int = 64, n_attention: int = 4,
        n_mlp: int = 4, steps: int = 4, top_k: int = 1, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None) -> DNA:
    """Causal LM over a pool of attention/MLP modules with learned per-token top-k routing."""
    return DNA(vocab, d_model, n_heads, d_mlp, max_len, n_attention, n_mlp, steps, top_k, device=device, dtype=dtype)


@register_model("brillm", family="cells", paper="Zhao et al. 2025, BriLLM: Brain-inspired Large Language Model")
def brillm(vocab: int = 8, d: int = 8, temperature: float = 0.25, device: torch.device | str | None = None,
           dtype: torch.dtype | None = None) -> BriLLM:
    """Signal-flow graph LM: next token by maximal signal energy over the token graph's edges."""
    return BriLLM(vocab, d, temperature, device=device, dtype=dtype)
