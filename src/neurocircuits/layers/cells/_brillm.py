"""BriLLM: a signal-flow graph language model (tokens are nodes, edges carry learnable transforms).

Paper: Zhao et al. 2025, "BriLLM: Brain-inspired Large Language Model" (Signal Fully-connected
flowing, SiFu). Every token ``u`` is a node of a fully connected directed graph; every edge
``u -> v`` has its own transform ``(W_uv, b_uv)`` acting on a ``d``-dimensional signal. Reading a
sequence ``x_1 .. x_T`` moves a signal along the path of its tokens:

    e_1     = e_0 (a learned start signal)
    h_t(v)  = GELU(W_{x_t v} e_t + b_{x_t v})                the signal sent from x_t to every v
    E_t(v)  = || h_t(v) ||_2                                  the energy arriving at node v
    P(x_{t+1} = v) = softmax_v(E_t(v) / temperature)        next token = node of maximal energy
    e_{t+1} = norm( h_t(x_{t+1}) + gamma e_t )               the signal continues along the taken edge

(``norm`` is a parameter-free layer normalisation; ``gamma`` a learned scalar carrying older
context.) The signal keeps information about the whole path, so BriLLM can use more than the
previous token, unlike a bigram model. The graph has ``V^2 (d^2 + d)`` edge parameters.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hooks import HookPoint


class BriLLM(nn.Module):
    """Signal-flow LM: ``forward(tokens [batch, time]) -> logits [batch, time, vocab]`` (energies / temperature).

    Args:
        vocab: number of token nodes; d: signal dimension; temperature: softmax temperature of the energies.
    """

    def __init__(self, vocab: int = 8, d: int = 8, temperature: float = 0.25,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(vocab, d) < 1:
            raise ValueError(f"vocab and d must be >= 1, got {vocab}, {d}.")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        fk = {"device": device, "dtype": dtype}
        self.vocab, self.d, self.temperature = vocab, d, float(temperature)
        self.W = nn.Parameter(torch.randn(vocab, vocab, d, d, **fk) / math.sqrt(d))
        self.b = nn.Parameter(torch.randn(vocab, vocab, d, **fk) * 0.1)
        self.e0 = nn.Parameter(torch.ones(d, **fk))
        self.gamma = nn.Parameter(torch.tensor(0.5, **fk))
        self.hook_signal = HookPoint()
        self.hook_energy = HookPoint()

    def forward(self, tokens: Tensor) -> Tensor:
        if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.is_floating_point():
            shape = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
            raise ValueError(f"BriLLM expects integer token ids of shape [batch, time], got {shape}.")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab):
            raise ValueError(f"token ids must be in [0, {self.vocab}); build BriLLM with a larger vocab.")
        bsz, t_len = tokens.shape
        e = F.layer_norm(self.e0.expand(bsz, self.d), (self.d,))
        rows = torch.arange(bsz, device=tokens.device)
        logits = []
        for t in range(t_len):
            e = self.hook_signal(e)
            w, b = self.W[tokens[:, t]], self.b[tokens[:, t]]                   # [B, V, d, d], [B, V, d]
            h = F.gelu(torch.einsum("bvij,bj->bvi", w, e) + b)                  # signal to every node
            energy = self.hook_energy(h.norm(dim=-1))                           # [B, V]
            logits.append(energy / self.temperature)
            if t + 1 < t_len:
                e = F.layer_norm(h[rows, tokens[:, t + 1]] + self.gamma * e, (self.d,))
        return torch.stack(logits, 1)

    def example_input(self, batch: int = 2) -> Tensor:
        return torch.randint(0, self.vocab, (batch, 5), device=self.W.device)
