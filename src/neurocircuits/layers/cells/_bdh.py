"""Dragon Hatchling (BDH), tensor ("GPU-friendly") form (Kosowski, Uznanski, Chorowski, Stamirowska &
Bartoszkiewicz, 2025, "The Dragon Hatchling: The Missing Link between the Transformer and Models of
the Brain").

A population of ``n`` neurons (``n >> d``) with a low-dimensional residual ``v`` (``d``). One layer
(weights shared by all ``L`` layers), for every time step ``t``:

    x_t = relu(D_x v_t)                                   sparse, positive neuron activations [n]
    a_t = sum_{tau < t} (R_tau x_tau . R_t x_t) v_tau    linear attention (R: rotary positions)
    y_t = relu(D_y LN(a_t)) * x_t                         gated, sparse, positive [n]
    v_t <- v_t + LN(E y_t)

The attention term is the state ``rho_t = sum_{tau<t} v_tau x_tau^T`` read with ``x_t``; in the
neuron-particle picture the synapse between neurons ``i`` and ``j`` is the Hebbian trace
``sigma_t(i, j) = sum_{tau <= t} y_tau,i x_tau,j`` (:meth:`BDH.synaptic_state`), which
strengthens whenever both neurons take part in the same concept again.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hooks import HookPoint


class BDH(nn.Module):
    """Tiny BDH language model: ``forward(tokens [batch, time]) -> logits [batch, time, vocab]``.

    Args:
        vocab: vocabulary size; d: residual width; n: number of neurons; layers: depth (shared weights).
    """

    def __init__(self, vocab: int = 32, d: int = 32, n: int = 256, layers: int = 2, rope_base: float = 10000.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(vocab, d, n, layers) < 1:
            raise ValueError(f"vocab, d, n and layers must be >= 1, got {vocab}, {d}, {n}, {layers}.")
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.d, self.n, self.n_layers, self.rope_base = vocab, d, n, layers, rope_base
        self.embed = nn.Parameter(torch.randn(vocab, d, **fk) * 0.02 * math.sqrt(d))
        self.D_x = nn.Parameter(torch.randn(n, d, **fk) / math.sqrt(d))
        self.D_y = nn.Parameter(torch.randn(n, d, **fk) / math.sqrt(d))
        self.E = nn.Parameter(torch.randn(d, n, **fk) / math.sqrt(n))
        self.unembed = nn.Linear(d, vocab, **fk)
        self.hook_x = HookPoint()
        self.hook_y = HookPoint()

    def _check(self, tokens: Tensor) -> Tensor:
        if tokens.dim() == 1:
            tokens = tokens.unsqueeze(0)
        if tokens.dim() != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"BDH expects integer token ids of shape [batch, time], got {tuple(tokens.shape)} "
                             f"({tokens.dtype}).")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab):
            raise ValueError(f"token ids must be in [0, {self.vocab}); build BDH with a larger vocab.")
        return tokens

    def _rope(self, x: Tensor) -> Tensor:
        """Rotary position encoding on neuron pairs (the attention's only positional signal)."""
        steps, half = x.shape[1], self.n // 2
        freq = self.rope_base ** (-torch.arange(half, device=x.device, dtype=x.dtype) / half)
        ang = torch.arange(steps, device=x.device, dtype=x.dtype)[:, None] * freq  # [time, n/2]
        cos, sin = torch.cos(ang), torch.sin(ang)
        x1, x2 = x[..., :half], x[..., half:2 * half]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos, x[..., 2 * half:]], dim=-1)

    def layer_activations(self, tokens: Tensor) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """Residual ``v`` ``[batch, time, d]`` and per-layer ``x``, ``y`` ``[batch, time, n]``."""
        tokens = self._check(tokens)
        v = F.layer_norm(self.embed[tokens], (self.d,))
        steps = tokens.shape[1]
        past = torch.ones(steps, steps, dtype=torch.bool, device=v.device).tril(-1)  # tau < t
        xs, ys = [], []
        for _ in range(self.n_layers):
            x = self.hook_x(F.relu(v @ self.D_x.T))
            xr = self._rope(x)
            scores = (xr @ xr.transpose(1, 2)) * past / self.n
            a = scores @ v
            y = self.hook_y(F.relu(F.layer_norm(a, (self.d,)) @ self.D_y.T) * x)
            v = v + F.layer_norm(y @ self.E.T, (self.d,))
            xs.append(x)
            ys.append(y)
        return v, xs, ys

    def forward(self, tokens: Tensor) -> Tensor:
        v, _, _ = self.layer_activations(tokens)
        return self.unembed(F.layer_norm(v, (self.d,)))

    @torch.no_grad()
    def synaptic_state(self, tokens: Tensor, layer: int = 0) -> Tensor:
        """Hebbian synapse traces ``sigma_t(i, j) = sum_{tau <= t} y_tau,i x_tau,j`` ``[batch, time, n, n]``
        (memory grows as ``n^2``: use short sequences)."""
        _, xs, ys = self.layer_activations(tokens)
        outer = ys[layer].unsqueeze(-1) * xs[layer].unsqueeze(-2)
        return outer.cumsum(dim=1)

    def example_input(self, batch: int = 2, steps: int = 6) -> Tensor:
        return torch.randint(0, self.vocab, (batch, steps), device=self.E.device)

    def bad_example_input(self, batch: int = 2) -> Tensor:
        return torch.randn(batch, 6, 3, device=self.E.device, dtype=self.E.dtype)
