"""A non-transformer discoverable model with a planted route: a residual MLP built by hand.

The model shows that the discovery engine needs nothing transformer-specific. It is a residual
stream of width ``d`` (default 8) written by an embedding and by ``n_blocks`` two-layer ReLU blocks:

    s_0 = W_E x                                   (writer "embed", hook "hook_embed")
    s_{i+1} = s_i + W2_i relu(W1_i s_i + b1_i)    (reader "b{i}.in" at "blocks.{i}.hook_in",
                                                   writer "b{i}" at "blocks.{i}.hook_out")
    logits = W_U s_L                              (reader "logits" at "hook_final")

The signal is input feature 0 (its sign is the class). Planted route: ``embed -> b0 -> b{k} -> logits``
with ``k = n_blocks - 2``: block 0 copies stream dim 0 into dim ``d_signal1`` with a ReLU pair
(``relu(s) - relu(-s) = s``), block ``k`` copies that into dim ``d_signal2``, the readout reads only
that dim. Every other block is noise: random weights reading the whole stream, writing only into
"scratch" dims that the route and the readout never read. So exactly three edges matter, and
ablating any other edge changes the output by exactly zero.
"""

from __future__ import annotations

import torch
from torch import nn

from ..graph import CircuitGraph
from ..layers.hooks import HookPoint, name_hook_points
from ._inputs import InputPairs


class _Block(nn.Module):
    def __init__(self, d: int, hidden: int) -> None:
        super().__init__()
        self.W1 = nn.Parameter(torch.zeros(d, hidden))
        self.b1 = nn.Parameter(torch.zeros(hidden))
        self.W2 = nn.Parameter(torch.zeros(hidden, d))
        self.hook_in = HookPoint()
        self.hook_out = HookPoint()

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        x = self.hook_in(s)
        return self.hook_out(torch.relu(x @ self.W1 + self.b1) @ self.W2)


class PlantedResidualMLP(nn.Module):
    """Hand-built residual MLP classifier whose circuit is known by construction.

    Args:
        n_blocks: number of residual blocks (>= 3; two carry the signal, the rest are noise).
        n_in: input features (feature 0 is the signal, the others are noise).
        seed: seed of the noise blocks' random weights.
        dtype: parameter dtype.

    Example:
        >>> model = PlantedResidualMLP()
        >>> pairs = planted_mlp_pairs(32)
        >>> model.planted_circuit().n_edges
        3
    """

    def __init__(self, n_blocks: int = 4, n_in: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if n_blocks < 3:
            raise ValueError(f"PlantedResidualMLP needs n_blocks >= 3 (two route blocks and a noise block), got {n_blocks}.")
        if n_in < 2:
            raise ValueError(f"PlantedResidualMLP needs n_in >= 2 (a signal and a noise feature), got {n_in}.")
        self.n_blocks, self.n_in = n_blocks, n_in
        self.d = d = n_in + 2 + 2  # inputs, two route dims, two scratch dims
        self.sig1, self.sig2 = n_in, n_in + 1
        self.scratch = [n_in + 2, n_in + 3]
        hidden = 6
        self.route_block = n_blocks - 2
        gen = torch.Generator().manual_seed(seed)
        self.W_E = nn.Parameter(torch.zeros(n_in, d))
        self.W_U = nn.Parameter(torch.zeros(d, 2))
        self.blocks = nn.ModuleList(_Block(d, hidden) for _ in range(n_blocks))
        self.hook_embed = HookPoint()
        self.hook_final = HookPoint()
        with torch.no_grad():
            self.W_E[torch.arange(n_in), torch.arange(n_in)] = 1.0
            for i, blk in enumerate(self.blocks):
                if i in (0, self.route_block):
                    src, dst = (0, self.sig1) if i == 0 else (self.sig1, self.sig2)
                    blk.W1[src, 0], blk.W1[src, 1] = 1.0, -1.0
                    blk.W2[0, dst], blk.W2[1, dst] = 1.5, -1.5
                else:
                    blk.W1.copy_(torch.randn(d, hidden, generator=gen))
                    blk.b1.copy_(0.1 * torch.randn(hidden, generator=gen))
                    w2 = torch.zeros(hidden, d)
                    w2[:, self.scratch] = torch.randn(hidden, 2, generator=gen)
                    blk.W2.copy_(w2)
            self.W_U[self.sig2, 0], self.W_U[self.sig2, 1] = 1.0, -1.0
        self.to(dtype)
        name_hook_points(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 2) for inputs (batch, n_in)."""
        if x.ndim != 2 or x.shape[1] != self.n_in:
            raise ValueError(f"PlantedResidualMLP expects inputs of shape (batch, {self.n_in}), got {tuple(x.shape)}.")
        s = self.hook_embed(x.to(self.W_E.dtype) @ self.W_E)
        for blk in self.blocks:
            s = s + blk(s)
        return self.hook_final(s) @ self.W_U

    def computation_graph(self) -> CircuitGraph:
        """Writers embed, b0..b{n-1}; readers b{i}.in and logits; every upstream writer -> reader edge."""
        g = CircuitGraph(name=f"planted-resmlp-{self.n_blocks}")
        g.add_node("embed", kind="embed", layer=-1, role="writer", hook="hook_embed")
        writers = ["embed"]
        for i in range(self.n_blocks):
            g.add_node(f"b{i}.in", kind="mlp_input", layer=i, role="reader", hook=f"blocks.{i}.hook_in", owner=f"b{i}")
            for w in writers:
                g.add_edge(w, f"b{i}.in", kind="mlp")
            g.add_node(f"b{i}", kind="mlp", layer=i, role="writer", hook=f"blocks.{i}.hook_out")
            writers.append(f"b{i}")
        g.add_node("logits", kind="logits", layer=self.n_blocks, role="reader", hook="hook_final", owner=None)
        for w in writers:
            g.add_edge(w, "logits", kind="resid")
        return g

    def planted_circuit(self) -> CircuitGraph:
        """The three edges that carry the signal."""
        full = self.computation_graph()
        k = self.route_block
        keys = {("embed", "b0.in", "mlp", None), ("b0", f"b{k}.in", "mlp", None), (f"b{k}", "logits", "resid", None)}
        return full.filter_edges(lambda e: e.key in keys, prune_nodes=True)


def planted_mlp_pairs(n: int = 32, n_in: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> InputPairs:
    """Clean/corrupt inputs for :class:`PlantedResidualMLP`: the signal's sign flips, the noise is redrawn.

    The clean signal has a random sign and magnitude in [0.5, 1.5]; the answer is class 0 for a
    positive signal, 1 for a negative one; the corrupt input carries the negated signal.
    """
    gen = torch.Generator().manual_seed(seed)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    sig = sign * (0.5 + torch.rand(n, generator=gen))
    clean = torch.randn(n, n_in, generator=gen)
    corrupt = torch.randn(n, n_in, generator=gen)
    clean[:, 0], corrupt[:, 0] = sig, -sig
    answer = (sign < 0).long()
    return InputPairs(clean.to(dtype), corrupt.to(dtype), answer, 1 - answer)
