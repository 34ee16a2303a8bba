"""Echo state network with separate excitatory / inhibitory populations and local homeostatic
adaptation of inhibition (in the spirit of Sanchez-Gonzalez et al., "Local homeostatic regulation of
the spectral radius of echo-state networks", and of inhibitory plasticity that sets target rates,
Vogels et al. 2011, Science 334:1569).

Rates are non-negative (rectified tanh), so excitation and inhibition are signed by Dale's law::

    h_i[t] = c_E sum_j W^E_ij r^E_j[t-1] - g_i sum_k W^I_ik r^I_k[t-1] + w_i u[t] + b
    r_i[t] = (1 - a) r_i[t-1] + a max(tanh(h_i[t]), 0)

``W^E``, ``W^I`` are sparse uniform non-negative matrices, each normalised so that a unit's summed
input weight is 1 on average: ``g_i = c_E`` is the *balanced* point (mean excitation = mean
inhibition at equal E and I rates). ``g_i`` is the inhibitory gain onto unit ``i``. The local
homeostatic rule (only the unit's own rate and its own target are used, no global quantity)::

    g_i <- max(0, g_i + eta (r_i[t] - rho_i))

with heterogeneous targets ``rho_i ~ U(rho (1 - s), rho (1 + s))``. A unit that fires above its
target gets more inhibition; the clip keeps inhibition inhibitory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ...functional.maps import check_finite
from ..hooks import HookPoint
from ._esn import RidgeReadout

__all__ = ["EIReservoirConfig", "EIReservoirState", "EIAdaptiveReservoir", "ei_reservoir_step"]


@dataclass(frozen=True)
class EIReservoirConfig:
    """E/I reservoir configuration.

    Attributes:
        n_excitatory: number of excitatory units (their outgoing weights are >= 0).
        n_inhibitory: number of inhibitory units (their outgoing weights are <= 0).
        n_inputs: input dimension.
        connectivity: probability of each recurrent connection.
        excitation: global excitatory scale ``c_E``.
        inhibition: initial inhibitory gain ``g_i`` of every unit (``= excitation`` is balanced).
        input_scaling: input weights are ``U(-s, s)``.
        bias: constant drive ``b`` (keeps units off the rectification corner).
        leak_rate: leak ``a`` in (0, 1].
        target_rate: mean target rate ``rho`` of the homeostatic rule, in (0, 1).
        target_spread: relative half-width ``s`` of the heterogeneous targets, in [0, 1).
        adaptation_rate: ``eta`` of the homeostatic rule.
        ridge: readout ridge penalty.
        seed: weight and target seed.
    """

    n_excitatory: int = 80
    n_inhibitory: int = 20
    n_inputs: int = 1
    connectivity: float = 0.2
    excitation: float = 2.0
    inhibition: float = 2.0
    input_scaling: float = 0.3
    bias: float = 0.5
    leak_rate: float = 1.0
    target_rate: float = 0.5
    target_spread: float = 0.2
    adaptation_rate: float = 0.01
    ridge: float = 1e-8
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_excitatory < 1 or self.n_inhibitory < 1 or self.n_inputs < 1:
            raise ValueError("n_excitatory, n_inhibitory and n_inputs must all be >= 1, got "
                             f"{self.n_excitatory}, {self.n_inhibitory}, {self.n_inputs}.")
        if not 0.0 < self.connectivity <= 1.0:
            raise ValueError(f"connectivity must lie in (0, 1], got {self.connectivity}.")
        if not 0.0 < self.leak_rate <= 1.0:
            raise ValueError(f"leak_rate must lie in (0, 1], got {self.leak_rate}.")
        if not 0.0 < self.target_rate < 1.0:
            raise ValueError(f"target_rate must lie in (0, 1) (rates are rectified tanh), got {self.target_rate}.")
        if not 0.0 <= self.target_spread < 1.0:
            raise ValueError(f"target_spread must lie in [0, 1), got {self.target_spread}.")
        if self.excitation < 0 or self.inhibition < 0 or self.adaptation_rate < 0 or self.ridge < 0:
            raise ValueError("excitation, inhibition, adaptation_rate and ridge must be >= 0.")

    @property
    def n_units(self) -> int:
        return self.n_excitatory + self.n_inhibitory


class EIReservoirState(NamedTuple):
    r: Tensor  # (N,) rates, excitatory units first
    g_inh: Tensor  # (N,) inhibitory gain onto each unit


class _Params(NamedTuple):
    W_E: Tensor  # (N, N_E)
    W_I: Tensor  # (N, N_I)
    W_in: Tensor  # (N, D)
    bias: Tensor  # (N,)
    targets: Tensor  # (N,)
    excitation: float
    leak: float
    eta: float


def ei_reservoir_step(u: Tensor, state: EIReservoirState, params: _Params, adapt: bool = False
                      ) -> tuple[Tensor, EIReservoirState]:
    """One step of the E/I reservoir (pure). ``u`` is ``(n_inputs,)``; returns ``(r, new_state)``."""
    n_e = params.W_E.shape[1]
    r, g = state
    h = params.excitation * (params.W_E @ r[:n_e]) - g * (params.W_I @ r[n_e:]) + params.W_in @ u + params.bias
    r = (1.0 - params.leak) * r + params.leak * torch.tanh(h).clamp_min(0.0)
    if adapt:
        g = (g + params.eta * (r - params.targets)).clamp_min(0.0)
    return r, EIReservoirState(r, g)


def _run_numpy(drive: np.ndarray, W_E: np.ndarray, W_I: np.ndarray, r0: np.ndarray, g0: np.ndarray,
               c_e: float, leak: float, targets: np.ndarray | None, eta: float) -> tuple[np.ndarray, np.ndarray]:
    T, N = drive.shape
    n_e = W_E.shape[1]
    out = np.empty_like(drive)
    r, g = r0.copy(), g0.copy()
    he, hi = np.empty(N), np.empty(N)
    for t in range(T):
        np.dot(W_E, r[:n_e], out=he)
        np.dot(W_I, r[n_e:], out=hi)
        he *= c_e
        hi *= g
        he -= hi
        he += drive[t]
        np.tanh(he, out=he)
        np.maximum(he, 0.0, out=he)
        if leak == 1.0:
            r[:] = he
        else:
            r *= 1.0 - leak
            r += leak * he
        if targets is not None:
            g += eta * (r - targets)
            np.maximum(g, 0.0, out=g)
        out[t] = r
    return out, g


class EIAdaptiveReservoir(RidgeReadout, nn.Module):
    """Rate reservoir with E/I populations, per-unit inhibitory gains and a ridge readout.

    Example:
        >>> res = EIAdaptiveReservoir(EIReservoirConfig(inhibition=0.0))
        >>> state = res.adapt(u_noise)                 # local homeostasis sets the inhibition
        >>> X, _ = res.states(u, state)                # frozen gains
        >>> st = res.fit(u_train, y_train, washout=100, state=state)
    """

    def __init__(self, cfg: EIReservoirConfig = EIReservoirConfig(), device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        N, ne, ni, D = cfg.n_units, cfg.n_excitatory, cfg.n_inhibitory, cfg.n_inputs

        def sparse_pos(cols: int) -> Tensor:
            W = torch.rand(N, cols, generator=g, dtype=torch.float64)
            W = W * (torch.rand(N, cols, generator=g, dtype=torch.float64) < cfg.connectivity)
            total = W.sum(1).mean()
            return W / total if total > 0 else W

        W_E, W_I = sparse_pos(ne), sparse_pos(ni)
        W_in = (torch.rand(N, D, generator=g, dtype=torch.float64) * 2 - 1) * cfg.input_scaling
        lo, hi = cfg.target_rate * (1 - cfg.target_spread), cfg.target_rate * (1 + cfg.target_spread)
        targets = lo + (hi - lo) * torch.rand(N, generator=g, dtype=torch.float64)
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("W_E", W_E.to(**kw))
        self.register_buffer("W_I", W_I.to(**kw))
        self.register_buffer("W_in", W_in.to(**kw))
        self.register_buffer("bias", torch.full((N,), cfg.bias, **kw))
        self.register_buffer("targets", targets.to(**kw))
        self.register_buffer("W_out", torch.zeros(N, 0, **kw))
        self.register_buffer("b_out", torch.zeros(0, **kw))
        self.hook_rates = HookPoint()

    def params(self) -> _Params:
        """The parameter tuple :func:`ei_reservoir_step` takes."""
        c = self.cfg
        return _Params(self.W_E, self.W_I, self.W_in, self.bias, self.targets, c.excitation, c.leak_rate,
                       c.adaptation_rate)

    def initial_state(self, batch: int | None = None, inhibition: float | Tensor | None = None) -> EIReservoirState:
        """Zero rates and uniform inhibitory gains (``cfg.inhibition`` unless ``inhibition`` is given)."""
        N = self.cfg.n_units
        gi = self.cfg.inhibition if inhibition is None else inhibition
        g = torch.as_tensor(gi, dtype=self.W_E.dtype, device=self.W_E.device).expand(N).clone()
        return EIReservoirState(torch.zeros(N, dtype=self.W_E.dtype, device=self.W_E.device), g)

    def _check_input(self, u: Tensor) -> Tensor:
        u = torch.as_tensor(u, dtype=self.W_E.dtype, device=self.W_E.device)
        if u.dim() == 1 and self.cfg.n_inputs == 1:
            u = u.unsqueeze(-1)
        if u.dim() != 2 or u.shape[1] != self.cfg.n_inputs:
            raise ValueError(f"input must be (time, {self.cfg.n_inputs}), got {tuple(u.shape)}.")
        return u

    def _run(self, u: Tensor, state: EIReservoirState | None, adapt: bool) -> tuple[Tensor, EIReservoirState]:
        u = self._check_input(u)
        st = state or self.initial_state()
        drive = torch.addmm(self.bias, u, self.W_in.T)
        p = self.params()
        if drive.device.type == "cpu" and not drive.requires_grad:
            X, g = _run_numpy(drive.numpy(), self.W_E.numpy(), self.W_I.numpy(), st.r.numpy(), st.g_inh.numpy(),
                              p.excitation, p.leak, self.targets.numpy() if adapt else None, p.eta)
            X_t, g_t = torch.from_numpy(X), torch.from_numpy(g)
        else:
            rows = []
            for t in range(u.shape[0]):
                _, st = ei_reservoir_step(u[t], st, p, adapt)
                rows.append(st.r)
            X_t, g_t = torch.stack(rows), st.g_inh
        check_finite(X_t[-1], u.shape[0] - 1, "EIAdaptiveReservoir", self.cfg)
        return self.hook_rates(X_t), EIReservoirState(X_t[-1], g_t)

    def states(self, u: Tensor, state: EIReservoirState | None = None) -> tuple[Tensor, EIReservoirState]:
        """Rates ``(T, N)`` for input ``u`` ``(T, n_inputs)`` with the gains of ``state`` held fixed."""
        return self._run(u, state, adapt=False)

    def adapt(self, u: Tensor, state: EIReservoirState | None = None) -> EIReservoirState:
        """Run on ``u`` with the local homeostatic rule on; returns the state with adapted gains."""
        return self._run(u, state, adapt=True)[1]
