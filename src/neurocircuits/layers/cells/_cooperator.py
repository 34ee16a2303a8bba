"""Cooperator: permutation-invariant sensory layers of context-sensitive two-point units.

Paper: Adeel, Zia, Ahmed, Raza, Chaudary, Riaz, Saeed 2023, "Cooperation Is All You Need"
(arXiv:2305.10449), compared with the attention-based sensory neurons of Tang & Ha 2021, "The
Sensory Neuron as a Transformer: Permutation-Invariant Neural Networks for Reinforcement Learning".

Every observation element ``o_i`` feeds its own copy of one shared local processor, a recurrent
cell over ``[o_i, a_prev]`` (``a_prev``: the previous action), so sensors can be given in any order:

    h_i <- GRU([o_i, a_prev], h_i)                                   (shared weights, per sensor)

(with ``previous_obs=True`` the processor also sees its own previous value, ``[o_i(t), o_i(t-1),
a_prev]``, so the velocity-like change of its sensor is available at once).

**Cooperator** (two-point units, "democracy of local processors"): the feedforward drive of a
unit is amplified or attenuated by its context, the other processors and the previous action,

    R_i = W_r h_i + b_r,     C_i = W_c [mean_{j != i} h_j ; a_prev] + b_c,
    y_i = R_i (1 + tanh(R_i C_i)),                                    m = mean_i y_i,

**Attention neuron** (the transformer baseline, Tang & Ha): ``M`` learned queries attend over the
sensors, ``m = tanh(softmax(Q (W_k h)^T / sqrt(d)) W_v h)`` flattened. Both latents ``m`` are
invariant to permutations of the sensors; a linear head maps ``m`` to action logits.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ...registry import Registry
from ..hooks import HookPoint
from ._triadic import two_point_modulation


class SensorState(NamedTuple):
    """Per-sensor processor states ``h`` ``[batch, sensors, hidden]`` and the last observation
    ``obs`` ``[batch, sensors]`` (used by ``previous_obs`` policies; None before the first step)."""

    h: Tensor
    obs: Tensor | None = None


class CooperatorIntegration(nn.Module):
    """Two-point units with context from the other sensors and the previous action -> mean."""

    def __init__(self, hidden: int, n_actions: int, d_out: int, **fk: object) -> None:
        super().__init__()
        self.drive = nn.Linear(hidden, d_out, **fk)  # type: ignore[arg-type]
        self.context = nn.Linear(hidden + n_actions, d_out, **fk)  # type: ignore[arg-type]
        self.out_features = d_out
        self.hook_drive, self.hook_context = HookPoint(), HookPoint()

    def forward(self, h: Tensor, a_prev: Tensor) -> Tensor:
        n = h.shape[1]
        others = (h.sum(dim=1, keepdim=True) - h) / max(n - 1, 1)  # mean over the other sensors
        r = self.hook_drive(self.drive(h))
        c = self.hook_context(self.context(torch.cat([others, a_prev.unsqueeze(1).expand(-1, n, -1)], dim=-1)))
        return two_point_modulation(r, c).mean(dim=1)


class AttentionNeuronIntegration(nn.Module):
    """``M`` learned queries attend over the sensors (Tang & Ha's attention neuron)."""

    def __init__(self, hidden: int, n_actions: int, queries: int, d_key: int, d_value: int, **fk: object) -> None:
        super().__init__()
        self.query = nn.Parameter(torch.randn(queries, d_key, **fk) / math.sqrt(d_key))  # type: ignore[arg-type]
        self.key = nn.Linear(hidden, d_key, **fk)  # type: ignore[arg-type]
        self.value = nn.Linear(hidden, d_value, **fk)  # type: ignore[arg-type]
        self.out_features = queries * d_value
        self.hook_pattern = HookPoint()

    def forward(self, h: Tensor, a_prev: Tensor) -> Tensor:
        k, v = self.key(h), self.value(h)  # [b, n, d]
        att = self.hook_pattern(torch.softmax(torch.einsum("md,bnd->bmn", self.query, k) / math.sqrt(k.shape[-1]), -1))
        return torch.tanh(att @ v).flatten(1)


INTEGRATIONS: Registry[Callable[..., nn.Module]] = Registry("sensor integration")
INTEGRATIONS.add("cooperator", lambda hidden, n_actions, width, **fk: CooperatorIntegration(hidden, n_actions, width, **fk))
INTEGRATIONS.add("attention", lambda hidden, n_actions, width, **fk: AttentionNeuronIntegration(
    hidden, n_actions, queries=width, d_key=hidden, d_value=1, **fk))


class PermutationInvariantPolicy(nn.Module):
    """A policy over a set of scalar sensors: shared recurrent local processors, an integration
    (``"cooperator"`` two-point units or the ``"attention"`` neuron), a linear action head.

    Args:
        n_actions: number of discrete actions.
        hidden: state size of each sensor's GRU processor.
        integration: a name in :data:`INTEGRATIONS`.
        width: cooperator output units, or the number of attention queries.
        previous_obs: feed each processor its sensor's previous value too (``[o_i(t), o_i(t-1),
            a_prev]``; at the first step ``o_i(t-1) = o_i(t)``).

    ``forward(obs [batch, sensors], a_prev [batch, n_actions] one-hot, state=None) ->
    (logits [batch, n_actions], SensorState)``; permuting the sensors (and their states) leaves the
    logits unchanged.
    """

    def __init__(self, n_actions: int = 2, hidden: int = 8, integration: str = "cooperator", width: int = 8,
                 previous_obs: bool = False, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if n_actions < 1 or hidden < 1 or width < 1:
            raise ValueError(f"n_actions, hidden and width must be >= 1, got {n_actions}, {hidden}, {width}.")
        fk = {"device": device, "dtype": dtype}
        self.n_actions, self.hidden, self.integration_name = n_actions, hidden, integration
        self.previous_obs = bool(previous_obs)
        self.cell = nn.GRUCell((2 if self.previous_obs else 1) + n_actions, hidden, **fk)  # type: ignore[arg-type]
        self.integration = INTEGRATIONS.get(integration)(hidden, n_actions, width, **fk)
        self.head = nn.Linear(self.integration.out_features, n_actions, **fk)  # type: ignore[arg-type]
        self.hook_latent = HookPoint()

    def initial_state(self, batch: int, sensors: int) -> SensorState:
        w = self.head.weight
        return SensorState(torch.zeros(batch, sensors, self.hidden, device=w.device, dtype=w.dtype))

    def forward(self, obs: Tensor, a_prev: Tensor, state: SensorState | None = None) -> tuple[Tensor, SensorState]:
        logits, _, state = self.step(obs, a_prev, state)
        return logits, state

    def step(self, obs: Tensor, a_prev: Tensor, state: SensorState | None = None) -> tuple[Tensor, Tensor, SensorState]:
        """Like :meth:`forward` but also returns the permutation-invariant latent ``m`` ``[batch, d]``
        (the input of the action head; actor-critic trainers put a value head on it)."""
        if obs.dim() != 2 or a_prev.shape != (obs.shape[0], self.n_actions):
            raise ValueError(
                f"expected obs [batch, sensors] and one-hot a_prev [batch, {self.n_actions}], got "
                f"{tuple(obs.shape)} and {tuple(a_prev.shape)}."
            )
        b, n = obs.shape
        state = self.initial_state(b, n) if state is None else SensorState(*state)
        parts = [obs.unsqueeze(-1)]
        if self.previous_obs:
            parts.append((obs if state.obs is None else state.obs).unsqueeze(-1))
        parts.append(a_prev.unsqueeze(1).expand(b, n, self.n_actions))
        inp = torch.cat(parts, dim=-1)
        h = self.cell(inp.reshape(b * n, -1), state.h.reshape(b * n, self.hidden)).reshape(b, n, self.hidden)
        m = self.hook_latent(self.integration(h, a_prev))
        return self.head(m), m, SensorState(h, obs if self.previous_obs else None)

    def example_input(self, batch: int = 2) -> tuple[Tensor, Tensor]:
        w = self.head.weight
        a = torch.zeros(batch, self.n_actions, device=w.device, dtype=w.dtype)
        return torch.randn(batch, 4, device=w.device, dtype=w.dtype), a

    def bad_example_input(self, batch: int = 2) -> tuple[Tensor, Tensor]:
        w = self.head.weight
        return torch.randn(batch, 4, 1, device=w.device, dtype=w.dtype), torch.zeros(batch, self.n_actions)
