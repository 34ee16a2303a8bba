"""Neural Turing Machine (Graves, Wayne & Danihelka 2014, "Neural Turing Machines", arXiv:1410.5401).

An LSTM controller reads from and writes to an external memory ``M (N slots x W)`` through heads
whose weightings combine content and location addressing::

    w^c_i   = softmax_i(beta * cos(k, M_i))                           content
    w^g     = g w^c + (1 - g) w_{t-1}                                 interpolation
    w~_i    = sum_j w^g_j s_{(i - j) mod N}                           circular shift (shifts -1, 0, +1)
    w_i     = w~_i^gamma / sum_j w~_j^gamma                           sharpening (gamma >= 1)
    read:     r = sum_i w_i M_i
    write:    M_i <- M_i (1 - w_i e) + w_i a                          erase then add

The controller sees ``[x_t, r_{t-1}]``; the output is ``sigmoid``-free logits from ``[h_t, r_t]``.
Controllers come from :data:`NTM_CONTROLLERS`: ``"lstm"`` (an LSTM cell) or ``"feedforward"`` (a
one-layer tanh network with no state of its own). Graves et al. report both; the feedforward
controller cannot count time steps in its own state, so whatever it learns about positions has to
live in the head weightings, which is what lets a copy learned on short sequences run on longer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import Registry
from ..hooks import HookPoint

__all__ = ["NTM_CONTROLLERS", "NTMConfig", "NTMState", "NeuralTuringMachine", "ntm_address"]


class _FeedforwardController(nn.Module):
    """``h_t = tanh(A [x_t, r_{t-1}] + b)``: the LSTMCell call signature, no memory of its own."""

    def __init__(self, n_in: int, hidden: int, **kw: object) -> None:
        super().__init__()
        self.fc = nn.Linear(n_in, hidden, **kw)  # type: ignore[arg-type]

    def forward(self, inp: Tensor, hc: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        return torch.tanh(self.fc(inp)), hc[1]


NTM_CONTROLLERS: Registry[type[nn.Module]] = Registry("NTM controller")
NTM_CONTROLLERS.add("lstm", nn.LSTMCell)
NTM_CONTROLLERS.add("feedforward", _FeedforwardController)


@dataclass(frozen=True)
class NTMConfig:
    """NTM configuration.

    Attributes:
        n_inputs: input width.
        n_outputs: output width.
        controller_size: LSTM hidden units.
        memory_slots: number of memory rows ``N``.
        memory_width: width of a memory row ``W``.
        shift_range: allowed shifts are ``-shift_range .. +shift_range``.
        controller: name in :data:`NTM_CONTROLLERS` (``"lstm"`` or ``"feedforward"``).
    """

    n_inputs: int = 10
    n_outputs: int = 8
    controller_size: int = 100
    memory_slots: int = 64
    memory_width: int = 16
    shift_range: int = 1
    controller: str = "lstm"

    def __post_init__(self) -> None:
        NTM_CONTROLLERS.get(self.controller)  # unknown names raise with the list of valid ones
        for name in ("n_inputs", "n_outputs", "controller_size", "memory_slots", "memory_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not 0 <= self.shift_range < self.memory_slots // 2:
            raise ValueError(f"shift_range must lie in [0, memory_slots / 2), got {self.shift_range}.")


class NTMState(NamedTuple):
    memory: Tensor  # (B, N, W)
    read_w: Tensor  # (B, N)
    write_w: Tensor  # (B, N)
    read: Tensor  # (B, W)
    h: Tensor  # (B, H)
    c: Tensor  # (B, H)


def ntm_address(memory: Tensor, key: Tensor, beta: Tensor, gate: Tensor, shift: Tensor, gamma: Tensor,
                w_prev: Tensor) -> Tensor:
    """Head weighting ``(B, N)`` from content + location addressing (see the module docstring).

    Shapes: memory (B, N, W), key (B, W), beta/gate/gamma (B, 1), shift (B, 2S+1) (a distribution),
    w_prev (B, N).
    """
    sim = F.cosine_similarity(memory, key.unsqueeze(1), dim=-1, eps=1e-8)  # (B, N)
    wc = torch.softmax(beta * sim, dim=-1)
    wg = gate * wc + (1 - gate) * w_prev
    S = (shift.shape[1] - 1) // 2
    # circular convolution: w~_i = sum_k s_k w_{i - (k - S)}
    wt = sum(shift[:, k : k + 1] * torch.roll(wg, k - S, dims=1) for k in range(shift.shape[1]))
    ws = (wt + 1e-12) ** gamma
    return ws / ws.sum(-1, keepdim=True)


class NeuralTuringMachine(nn.Module):
    """NTM with one read and one write head.

    ``forward(x (B, T, n_inputs), state=None) -> (logits (B, T, n_outputs), state)``.
    """

    def __init__(self, cfg: NTMConfig = NTMConfig(), device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        kw = {"device": device, "dtype": dtype}
        W, H, S = cfg.memory_width, cfg.controller_size, 2 * cfg.shift_range + 1
        self.controller = NTM_CONTROLLERS.get(cfg.controller)(cfg.n_inputs + W, H, **kw)
        self._head_sizes = [W, 1, 1, S, 1]  # key, beta, gate, shift, gamma
        self.read_head = nn.Linear(H, sum(self._head_sizes), **kw)
        self.write_head = nn.Linear(H, sum(self._head_sizes) + 2 * W, **kw)  # + erase, add
        self.output = nn.Linear(H + W, cfg.n_outputs, **kw)
        self.memory_bias = nn.Parameter(torch.full((cfg.memory_slots, W), 1e-6, **kw))
        self.hook_read_weights = HookPoint()
        self.hook_write_weights = HookPoint()
        self.hook_controller = HookPoint()

    def example_input(self, batch: int) -> Tensor:
        p = next(self.parameters())
        return torch.rand(batch, 4, self.cfg.n_inputs, dtype=p.dtype, device=p.device)

    def initial_state(self, batch: int) -> NTMState:
        p = self.memory_bias
        N, W, H = self.cfg.memory_slots, self.cfg.memory_width, self.cfg.controller_size
        w0 = torch.zeros(batch, N, dtype=p.dtype, device=p.device)
        w0[:, 0] = 1.0
        z = lambda *s: torch.zeros(*s, dtype=p.dtype, device=p.device)  # noqa: E731
        return NTMState(self.memory_bias.expand(batch, N, W).clone(), w0, w0.clone(), z(batch, W), z(batch, H),
                        z(batch, H))

    def _head_params(self, raw: Tensor) -> tuple[Tensor, ...]:
        key, beta, gate, shift, gamma = torch.split(raw, self._head_sizes, dim=-1)
        return torch.tanh(key), F.softplus(beta), torch.sigmoid(gate), torch.softmax(shift, -1), 1 + F.softplus(gamma)

    def forward(self, x: Tensor, state: NTMState | None = None) -> tuple[Tensor, NTMState]:
        if x.dim() != 3 or x.shape[-1] != self.cfg.n_inputs:
            raise ValueError(f"input must be (batch, time, {self.cfg.n_inputs}), got {tuple(x.shape)}.")
        st = state or self.initial_state(x.shape[0])
        M, rw, ww, r, h, c = st
        W = self.cfg.memory_width
        outs = []
        for t in range(x.shape[1]):
            h, c = self.controller(torch.cat([x[:, t], r], -1), (h, c))
            h = self.hook_controller(h)
            raw_w = self.write_head(h)
            erase, add = torch.sigmoid(raw_w[:, -2 * W : -W]), torch.tanh(raw_w[:, -W:])
            ww = self.hook_write_weights(ntm_address(M, *self._head_params(raw_w[:, : -2 * W]), ww))
            M = M * (1 - ww.unsqueeze(-1) * erase.unsqueeze(1)) + ww.unsqueeze(-1) * add.unsqueeze(1)
            rw = self.hook_read_weights(ntm_address(M, *self._head_params(self.read_head(h)), rw))
            r = torch.einsum("bn,bnw->bw", rw, M)
            outs.append(self.output(torch.cat([h, r], -1)))
        return torch.stack(outs, 1), NTMState(M, rw, ww, r, h, c)
