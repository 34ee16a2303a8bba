"""STEP-style modular spiking transformer (Shen et al. 2024, "STEP: a unified spiking transformer
evaluation platform"; blocks from Spikformer, Zhou et al. 2023).

Pluggable parts, each chosen by name from a registry: the neuron (``if``, ``lif``, ``plif``, ``alif``,
``gif``), the input encoding (``direct``, ``rate``, ``latency``, ``phase``) and the surrogate gradient.
For an image ``x`` encoded into ``T`` steps and cut into ``N`` patches:

    X^0_t = SN(BN(P_t W_e) + E_pos)                    patch embedding -> spike tokens (N, D)
    X'_t  = X^{l-1}_t + SSA(X^{l-1})_t                 spiking self-attention (no softmax)
    X^l_t = X'_t + MLP(X')_t                           spiking token MLP
    y_t   = W_h mean_n X^L_{t,n}                       per-step class scores, decoded by their mean

The residual sums are integer spike counts (SEW-style); the energy estimator counts them as
additions. Energy: :func:`neurocircuits.models.spiking.energy_estimate` (SOP vs MAC).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..functional.encoding import DECODERS, ENCODINGS
from ..layers.hooks import HookPoint
from ..layers.spiking import SpikingMLPBlock, SpikingSelfAttention, make_neuron, seq_apply
from ._registry import register_model
from .spiking import SpikingNetState, _SpikingNet


class SpikingTransformerBlock(nn.Module):
    def __init__(self, dim: int, tokens: int, heads: int, mlp_hidden: int, neuron: str, **neuron_kw) -> None:
        super().__init__()
        self.attn = SpikingSelfAttention(dim, tokens, heads, neuron, **neuron_kw)
        self.mlp = SpikingMLPBlock(dim, tokens, mlp_hidden, neuron, **neuron_kw)
        self.hook_resid_mid = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, tuple]:
        st = state if state is not None else (None, None)
        a, sa = self.attn(x, st[0])
        x = self.hook_resid_mid(x + a)
        m, sm = self.mlp(x, st[1])
        return self.hook_resid_post(x + m), (sa, sm)


class SpikingTransformer(_SpikingNet):
    """Tiny spiking vision transformer with pluggable neuron / encoding / surrogate (STEP)."""

    def __init__(self, image_size: int = 8, in_channels: int = 1, patch_size: int = 4, dim: int = 32, depth: int = 1,
                 heads: int = 4, mlp_ratio: float = 2.0, out_features: int = 10, neuron: str = "lif",
                 encoding: str = "direct", time_steps: int = 4, decoder: str = "mean", neuron_kw: dict | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None, **kw: Any) -> None:
        super().__init__()
        ENCODINGS.get(encoding), DECODERS.get(decoder)
        if image_size % patch_size:
            raise ValueError(f"image_size={image_size} must be a multiple of patch_size={patch_size}.")
        nkw = {**(neuron_kw or {}), **kw}
        self.time_steps, self.encoding, self.decoder = time_steps, encoding, decoder
        self.image_size, self.in_channels, self.patch_size = image_size, in_channels, patch_size
        self.tokens = (image_size // patch_size) ** 2
        self.embed = nn.Linear(in_channels * patch_size * patch_size, dim, bias=False)
        self.embed_bn = nn.BatchNorm1d(dim)
        self.pos = nn.Parameter(torch.zeros(self.tokens, dim))
        self.embed_sn = make_neuron(neuron, (self.tokens, dim), **nkw)
        self.blocks = nn.ModuleList(SpikingTransformerBlock(dim, self.tokens, heads, int(dim * mlp_ratio), neuron, **nkw)
                                    for _ in range(depth))
        self.head = nn.Linear(dim, out_features)
        self.hook_input = HookPoint()
        self.to(device=device, dtype=dtype)

    def example_input(self, batch: int) -> Tensor:
        """A valid static image batch ``(batch, C, H, W)`` in [0, 1] (zoo smoke-test protocol)."""
        p = next(self.parameters())
        return torch.rand(batch, self.in_channels, self.image_size, self.image_size, dtype=p.dtype, device=p.device)

    def _patches(self, x: Tensor) -> Tensor:
        T, B, C, H, W = x.shape
        if (C, H, W) != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(
                f"SpikingTransformer was built for images ({self.in_channels}, {self.image_size}, {self.image_size}), "
                f"got ({C}, {H}, {W}); resize the input or pass image_size/in_channels to create_model."
            )
        p = self.patch_size
        x = x.reshape(T, B, C, H // p, p, W // p, p).permute(0, 1, 3, 5, 2, 4, 6)
        return x.reshape(T, B, self.tokens, C * p * p)

    def forward(self, x: Tensor, state: SpikingNetState | None = None) -> tuple[Tensor, SpikingNetState]:
        """``x``: ``(batch, C, H, W)`` (encoded here) or time-first ``(time, batch, C, H, W)``.

        Returns per-step class scores ``(time, batch, classes)`` and the neuron states.
        """
        s = self.hook_input(self._encode(x, 3))
        st = state.layers if state is not None else (None,) * (len(self.blocks) + 1)
        e = seq_apply(self.embed, self._patches(s))
        e = self.embed_bn(e.reshape(-1, e.shape[-1])).reshape(e.shape) + self.pos
        z, s0 = self.embed_sn(e, st[0])
        new = [s0]
        for blk, sb in zip(self.blocks, st[1:]):
            z, nb = blk(z, sb)
            new.append(nb)
        return seq_apply(self.head, z.mean(2)), SpikingNetState(tuple(new))


@register_model("spiking_transformer", family="spiking", paper="Shen et al. 2024 (STEP); Zhou et al. 2023 (Spikformer)")
def spiking_transformer(**cfg: Any) -> SpikingTransformer:
    return SpikingTransformer(**cfg)
