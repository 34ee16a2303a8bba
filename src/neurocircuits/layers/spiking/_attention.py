"""Spiking self-attention (Spikformer's SSA, Zhou et al. 2023; the attention block of STEP).

Per step t, with spike tokens ``X_t (batch, N, D)``:

    Q = SN(BN(X W_q)),  K = SN(BN(X W_k)),  V = SN(BN(X W_v))        (spikes)
    A = SN_attn(Q K^T V * scale)                                     (no softmax: all terms >= 0)
    Y = SN(BN(A W_o))

``SN`` is any registered spiking neuron (pluggable). ``causal=True`` masks ``Q K^T`` to the past
(``(Q K^T * M) V``, for sequence models such as the spiking decision transformer). Products of spike matrices are integer
additions; :class:`SpikeMatmul` makes them visible to the energy estimator.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._layers import seq_apply
from ._neurons import make_neuron


class SpikeMatmul(nn.Module):
    """``a @ b`` as a module, so hooks can count its synaptic operations (energy estimate)."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b


class _LinearBN(nn.Module):
    """Linear then BatchNorm over the feature axis, for ``(..., D)`` inputs."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out, bias=False)
        self.bn = nn.BatchNorm1d(d_out)

    def forward(self, x: Tensor) -> Tensor:
        y = self.fc(x)
        return self.bn(y.reshape(-1, y.shape[-1])).reshape(y.shape)


class SpikingSelfAttention(nn.Module):
    """Spikformer/STEP spiking self-attention over ``(time, batch, tokens, dim)`` spike tensors."""

    def __init__(self, dim: int, tokens: int, heads: int = 4, neuron: str = "lif", scale: float | None = None,
                 attn_threshold: float = 0.5, causal: bool = False, **neuron_kw) -> None:
        super().__init__()
        self.causal = causal
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}.")
        self.dim, self.heads, self.tokens = dim, heads, tokens
        self.scale = scale if scale is not None else 1.0 / math.sqrt(dim // heads)
        self.q, self.k, self.v, self.o = (_LinearBN(dim, dim) for _ in range(4))
        shape = (tokens, dim)
        self.q_sn, self.k_sn, self.v_sn, self.o_sn = (make_neuron(neuron, shape, **neuron_kw) for _ in range(4))
        attn_kw = dict(neuron_kw)
        if neuron != "gif":
            attn_kw["threshold"] = attn_threshold
        self.attn_sn = make_neuron(neuron, shape, **attn_kw)
        self.qk = SpikeMatmul()
        self.av = SpikeMatmul()

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, tuple]:
        T, B, N, D = x.shape
        H, dh = self.heads, D // self.heads
        st = state if state is not None else (None,) * 5
        q, sq = self.q_sn(seq_apply(self.q, x), st[0])
        k, sk = self.k_sn(seq_apply(self.k, x), st[1])
        v, sv = self.v_sn(seq_apply(self.v, x), st[2])
        split = lambda z: z.reshape(T * B, N, H, dh).transpose(1, 2)  # noqa: E731  (TB, H, N, dh)
        qh, kh, vh = split(q), split(k), split(v)
        if self.causal:  # token n attends to tokens <= n: (Q K^T * mask) V
            mask = torch.ones(N, N, dtype=x.dtype, device=x.device).tril()
            a = self.av(self.qk(qh, kh.transpose(-2, -1)) * mask, vh) * self.scale
        else:
            kv = self.qk(kh.transpose(-2, -1), vh)  # (TB, H, dh, dh): K^T V first (linear in N)
            a = self.av(qh, kv) * self.scale  # (TB, H, N, dh)
        a = a.transpose(1, 2).reshape(T, B, N, D)
        a, sa = self.attn_sn(a, st[3])
        y, so = self.o_sn(seq_apply(self.o, a), st[4])
        return y, (sq, sk, sv, sa, so)


class SpikingMLPBlock(nn.Module):
    """Token-wise spiking MLP: ``SN(BN(SN(BN(x W1)) W2))``."""

    def __init__(self, dim: int, tokens: int, hidden: int, neuron: str = "lif", **neuron_kw) -> None:
        super().__init__()
        self.fc1, self.fc2 = _LinearBN(dim, hidden), _LinearBN(hidden, dim)
        self.sn1 = make_neuron(neuron, (tokens, hidden), **neuron_kw)
        self.sn2 = make_neuron(neuron, (tokens, dim), **neuron_kw)

    def forward(self, x: Tensor, state=None) -> tuple[Tensor, tuple]:
        st = state if state is not None else (None, None)
        h, s1 = self.sn1(seq_apply(self.fc1, x), st[0])
        y, s2 = self.sn2(seq_apply(self.fc2, h), st[1])
        return y, (s1, s2)
