"""Fast weight programmers (Schmidhuber 1992; Schlag, Irie & Schmidhuber, ICML 2021, "Linear
Transformers Are Secretly Fast Weight Programmers").

A slow network maps each input ``x_t`` to a key, value, query (and a write strength ``beta_t``);
a fast weight matrix ``W`` (the state, ``[batch, d_value, d_key]``) is *programmed* by them:

    additive (Hebbian outer product):  W_t = W_{t-1} + v_t phi(k_t)^T
    delta rule:                       W_t = W_{t-1} + beta_t (v_t - W_{t-1} phi(k_t)) phi(k_t)^T
    output:                           y_t = W_t phi(q_t)

The additive form equals causal (unnormalised) linear attention
``y_t = sum_{s <= t} v_s phi(k_s)^T phi(q_t)`` exactly, see :func:`linear_attention`. The delta
rule replaces the value stored under a key instead of adding to it, so a fixed-size memory can be
updated. ``phi`` comes from :data:`FEATURE_MAPS`; with ``normalize=True`` it is divided by its
L2 norm (needed for the delta rule to be a stable projection).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import Registry
from ..hooks import HookPoint
from ._common import check_sequence

FEATURE_MAPS: Registry[Callable[[Tensor], Tensor]] = Registry("feature map")
FEATURE_MAPS.add("identity", lambda x: x)
FEATURE_MAPS.add("elu1", lambda x: F.elu(x) + 1.0)
FEATURE_MAPS.add("relu", F.relu)
FWP_RULES = ("additive", "delta")


class FastWeightState(NamedTuple):
    """Fast weights ``W`` ``[batch, d_value, d_key]``."""

    W: Tensor


def fwp_step(q: Tensor, k: Tensor, v: Tensor, beta: Tensor | None, state: FastWeightState,
             rule: str = "delta") -> tuple[Tensor, FastWeightState]:
    """One fast-weight update and read-out (``q, k`` already feature-mapped).

    Args:
        q, k: ``[batch, d_key]``; v: ``[batch, d_value]``; beta: ``[batch, 1]`` (delta rule only).
        rule: ``additive`` or ``delta``.
    """
    W = state.W
    if rule == "additive":
        W = W + v.unsqueeze(-1) * k.unsqueeze(-2)
    elif rule == "delta":
        if beta is None:
            raise ValueError("the delta rule needs a write strength beta of shape [batch, 1].")
        v_old = torch.einsum("bvk,bk->bv", W, k)
        W = W + (beta * (v - v_old)).unsqueeze(-1) * k.unsqueeze(-2)
    else:
        raise ValueError(f"unknown fast-weight rule {rule!r}; use one of {', '.join(FWP_RULES)}.")
    return torch.einsum("bvk,bk->bv", W, q), FastWeightState(W)


def linear_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal unnormalised linear attention ``y_t = sum_{s<=t} (k_s . q_t) v_s`` (``[batch, time, d]``)."""
    scores = q @ k.transpose(1, 2)  # [b, t_q, t_k]
    causal = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    return (scores * causal) @ v


class FastWeightLayer(nn.Module):
    """Fast-weight RNN layer: a linear slow net programs a matrix-valued state.

    Args:
        in_features: input size.
        d_key, d_value: fast-weight shape ``[d_value, d_key]``.
        out_features: size of the linear read-out of ``y_t`` (None: ``d_value``).
        rule: ``delta`` (default) or ``additive``.
        feature_map: name in :data:`FEATURE_MAPS`.
        normalize: L2-normalise ``phi(k)`` and ``phi(q)``.

    ``forward(x [batch, time, in], state=None) -> (out [batch, time, out], FastWeightState)``.
    """

    def __init__(self, in_features: int, d_key: int = 16, d_value: int = 16, out_features: int | None = None,
                 rule: str = "delta", feature_map: str = "elu1", normalize: bool = True,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if rule not in FWP_RULES:
            raise ValueError(f"unknown fast-weight rule {rule!r}; use one of {', '.join(FWP_RULES)}.")
        self.phi = FEATURE_MAPS.get(feature_map)
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.d_key, self.d_value, self.rule, self.normalize = in_features, d_key, d_value, rule, normalize
        self.slow = nn.Linear(in_features, 2 * d_key + d_value + 1, **fk)  # q, k, v, beta
        self.out = nn.Linear(d_value, out_features, **fk) if out_features else None
        self.out_features = out_features or d_value
        self.hook_q, self.hook_k, self.hook_v = HookPoint(), HookPoint(), HookPoint()
        self.hook_y = HookPoint()

    def initial_state(self, batch: int) -> FastWeightState:
        w = self.slow.weight
        return FastWeightState(torch.zeros(batch, self.d_value, self.d_key, device=w.device, dtype=w.dtype))

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Slow-net outputs for a whole sequence: feature-mapped ``q, k``, ``v`` and ``beta``."""
        q, k, v, b = torch.split(self.slow(x), [self.d_key, self.d_key, self.d_value, 1], dim=-1)
        q, k = self.phi(q), self.phi(k)
        if self.normalize:
            q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
        return self.hook_q(q), self.hook_k(k), self.hook_v(v), torch.sigmoid(b)

    def forward(self, x: Tensor, state: FastWeightState | None = None) -> tuple[Tensor, FastWeightState]:
        x = check_sequence(x, self.in_features, "FastWeightLayer")
        state = self.initial_state(x.shape[0]) if state is None else FastWeightState(*state)
        q, k, v, beta = self.project(x)
        ys = []
        for t in range(x.shape[1]):
            y, state = fwp_step(q[:, t], k[:, t], v[:, t], beta[:, t], state, self.rule)
            ys.append(y)
        y = self.hook_y(torch.stack(ys, dim=1))
        return (self.out(y) if self.out is not None else y), state

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        w = self.slow.weight
        return torch.randn(batch, steps, self.in_features, device=w.device, dtype=w.dtype)
