"""Linear attention and its spiking conversion with integer-to-spike coding (SpikingBrain,
Pan et al. 2025).

ANN causal linear attention with feature map ``phi = elu + 1`` (or ``relu``) and a constant-size recurrent state:

    S_t = S_{t-1} + phi(k_t) v_t^T,   z_t = z_{t-1} + phi(k_t),   o_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps)

Conversion: each activation ``a`` in ``phi(q), phi(k), v`` is coded by an adaptive-threshold neuron,
``theta = max_j |a_j| / N`` per token (the threshold adapts to the token's range), as the integer
``n = round(a / theta)`` in ``[-N, N]``, emitted as ``|n|`` signed (ternary) spikes over ``N`` steps.
The spiking layer computes the same recurrence from the decoded counts ``theta * sum_t s_t``: every
product with a spike count is an accumulation of integers. :func:`int_to_spikes` /
:func:`spikes_to_int` are the code; sparsity is the fraction of spike slots left empty.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


def int_to_spikes(a: Tensor, levels: int) -> tuple[Tensor, Tensor]:
    """Code ``a (..., d)`` as ternary spike trains ``(levels, ..., d)`` and a per-token threshold ``(..., 1)``."""
    if levels < 1:
        raise ValueError(f"levels must be >= 1, got {levels}.")
    theta = a.abs().amax(-1, keepdim=True).clamp(min=1e-12) / levels
    n = torch.round(a / theta).clamp(-levels, levels)
    steps = torch.arange(levels, device=a.device).view(levels, *([1] * a.dim()))
    spikes = (steps < n.abs().unsqueeze(0)).to(a.dtype) * torch.sign(n).unsqueeze(0)
    return spikes, theta


def spikes_to_int(spikes: Tensor, theta: Tensor) -> Tensor:
    """Decode: ``theta * sum_t s_t``."""
    return theta * spikes.sum(0)


class LinearAttentionState(NamedTuple):
    S: Tensor  # (batch, d_k, d_v)
    z: Tensor  # (batch, d_k)


class LinearAttention(nn.Module):
    """Single-head causal linear attention over time-first ``(time, batch, dim)`` sequences."""

    def __init__(self, dim: int, eps: float = 1e-6, feature_map: str = "elu1") -> None:
        super().__init__()
        if feature_map not in ("elu1", "relu"):
            raise ValueError(f"feature_map must be 'elu1' or 'relu', got {feature_map!r}.")
        self.dim, self.eps, self.feature_map = dim, eps, feature_map
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim, bias=False) for _ in range(4))

    def phi(self, x: Tensor) -> Tensor:
        """Feature map: ``elu(x) + 1`` or ``relu(x)`` (sparser, hence fewer spikes after conversion)."""
        return nn.functional.elu(x) + 1.0 if self.feature_map == "elu1" else torch.relu(x)

    def _qkv(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.phi(self.q(x)), self.phi(self.k(x)), self.v(x)

    def _recur(self, fq: Tensor, fk: Tensor, v: Tensor, state: LinearAttentionState | None) -> tuple[Tensor, LinearAttentionState]:
        T, B, D = fq.shape
        S = state.S if state is not None else fq.new_zeros(B, D, D)
        z = state.z if state is not None else fq.new_zeros(B, D)
        outs = []
        for t in range(T):
            S = S + fk[t].unsqueeze(-1) * v[t].unsqueeze(-2)
            z = z + fk[t]
            num = torch.einsum("bd,bde->be", fq[t], S)
            outs.append(num / ((fq[t] * z).sum(-1, keepdim=True) + self.eps))
        return self.o(torch.stack(outs)), LinearAttentionState(S, z)

    def forward(self, x: Tensor, state: LinearAttentionState | None = None) -> tuple[Tensor, LinearAttentionState]:
        return self._recur(*self._qkv(x), state)


class SpikingLinearAttention(LinearAttention):
    """Linear attention whose ``phi(q), phi(k), v`` travel as integer-coded spike trains (conversion)."""

    def __init__(self, dim: int, levels: int = 15, eps: float = 1e-6, feature_map: str = "elu1") -> None:
        super().__init__(dim, eps, feature_map)
        self.levels = levels
        self.last_sparsity: float = float("nan")
        self.last_spikes_per_token: float = float("nan")

    @classmethod
    def from_ann(cls, ann: LinearAttention, levels: int = 15) -> SpikingLinearAttention:
        """Convert a trained :class:`LinearAttention` (weights copied, nothing retrained)."""
        snn = cls(ann.dim, levels, ann.eps, ann.feature_map)
        snn.load_state_dict(ann.state_dict())
        return snn.to(next(ann.parameters()).dtype)

    def forward(self, x: Tensor, state: LinearAttentionState | None = None) -> tuple[Tensor, LinearAttentionState]:
        decoded, empty, total, count = [], 0.0, 0, 0.0
        for a in self._qkv(x):
            spikes, theta = int_to_spikes(a, self.levels)
            decoded.append(spikes_to_int(spikes, theta))
            empty += float((spikes == 0).sum())
            total += spikes.numel()
            count += float(spikes.abs().sum())
        self.last_sparsity = empty / total
        self.last_spikes_per_token = count / (x.shape[0] * x.shape[1])
        return self._recur(*decoded, state)
