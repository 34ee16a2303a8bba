"""RNNs of RNNs: contractive modules with contraction-preserving coupling (Kozachkov, Ennis & Slotine,
NeurIPS 2022, "RNNs of RNNs: Recursive Construction of Stable Assemblies of Recurrent Neural Networks").

Module ``i`` (state ``x_i``, rate nonlinearity ``phi`` with ``0 <= phi' <= 1``):

    tau dx_i/dt = -x_i + W_i phi(x_i) + U_i u(t),           ||W_i||_2 <= gamma < 1,

is contracting in the identity metric with rate ``(1 - gamma) / tau`` (its Jacobian's symmetric
part is ``<= -(1 - gamma)/tau``). Modules are joined by *negative-feedback* (skew-symmetric)
coupling ``tau dx_i/dt += sum_j L_ij x_j`` with ``L_ji = -L_ij^T``: the coupling adds nothing to the
symmetric part of the network Jacobian, so the whole assembly is contracting with the slowest
module's rate, for any trained ``B`` in ``L = B - B^T`` (block upper / lower parts).

The constraint ``||W_i||_2 <= gamma`` is a parameterisation ``W_i = gamma P_i / max(1, ||P_i||_2)``,
so training cannot break it. The layer is integrated by forward Euler with step ``dt``; for the
discrete map ``x + dt f(x)`` distances shrink at least by ``sqrt(1 - 2 dt c + dt^2 ||J||^2)`` per
step (:meth:`ContractiveRNNAssembly.contraction_factor`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..hooks import HookPoint
from ._common import check_sequence, check_state


class AssemblyState(NamedTuple):
    """Concatenated module states ``[batch, sum(module_sizes)]``."""

    x: Tensor


class ContractiveRNNAssembly(nn.Module):
    """Assembly of contracting tanh-RNN modules with skew-symmetric inter-module coupling.

    Args:
        in_features: input size (fed to every module through ``U_i``).
        module_sizes: sizes of the modules, e.g. ``(8, 8, 8, 8)``.
        out_features: linear read-out size from all module states.
        gamma: spectral-norm bound of every ``W_i`` (< 1).
        tau, dt: time constant and Euler step.
        coupling_density: fraction of module pairs that are coupled (random, fixed at init).
        steps_per_input: Euler steps per input sample.
        seed: seed of the coupling pattern.
    """

    def __init__(self, in_features: int, module_sizes: tuple[int, ...] = (8, 8, 8, 8), out_features: int = 2,
                 gamma: float = 0.9, tau: float = 1.0, dt: float = 0.2, coupling_density: float = 0.5,
                 steps_per_input: int = 1, seed: int = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not 0 < gamma < 1:
            raise ValueError(f"gamma must be in (0, 1) for contracting modules, got {gamma}.")
        if tau <= 0 or dt <= 0:
            raise ValueError(f"tau and dt must be positive, got tau={tau}, dt={dt}.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.gamma, self.tau, self.dt = in_features, gamma, tau, dt
        self.steps_per_input = steps_per_input
        self.sizes = tuple(int(s) for s in module_sizes)
        self.n = sum(self.sizes)
        self.P = nn.ParameterList(nn.Parameter(torch.randn(s, s, **fk) / math.sqrt(s)) for s in self.sizes)
        self.U = nn.Linear(in_features, self.n, **fk)
        self.B = nn.Parameter(torch.randn(self.n, self.n, **fk) * 0.3 / math.sqrt(self.n))
        gen = torch.Generator().manual_seed(seed)
        m = len(self.sizes)
        pairs = torch.rand(m, m, generator=gen) < coupling_density
        block = torch.zeros(self.n, self.n)
        offs = [0, *torch.cumsum(torch.tensor(self.sizes), 0).tolist()]
        for i in range(m):
            for j in range(i + 1, m):
                if pairs[i, j]:
                    block[offs[i]:offs[i + 1], offs[j]:offs[j + 1]] = 1.0
        self.register_buffer("coupling_mask", block.to(**fk))  # upper block triangle of coupled pairs
        self.offsets = offs
        self.readout = nn.Linear(self.n, out_features, **fk)
        self.out_features = out_features
        self.hook_x = HookPoint()

    # -- constrained matrices -----------------------------------------------------------------
    def module_weights(self) -> list[Tensor]:
        """``W_i = gamma P_i / max(1, ||P_i||_2)`` (spectral norm <= gamma)."""
        return [self.gamma * p / torch.clamp(torch.linalg.matrix_norm(p, ord=2), min=1.0) for p in self.P]

    def coupling(self) -> Tensor:
        """Skew-symmetric inter-module coupling ``L = B_u - B_u^T`` (``B_u``: coupled upper blocks)."""
        bu = self.B * self.coupling_mask
        return bu - bu.T

    def recurrent_matrix(self) -> Tensor:
        return torch.block_diag(*self.module_weights())

    def contraction_rate(self) -> float:
        """Continuous-time contraction rate ``min_i (1 - ||W_i||_2) / tau``."""
        norms = [float(torch.linalg.matrix_norm(w.detach(), ord=2)) for w in self.module_weights()]
        return (1 - max(norms)) / self.tau

    def contraction_factor(self) -> float:
        """Upper bound on ``||dx_{t+1}|| / ||dx_t||`` for one Euler step of the assembly."""
        c = self.contraction_rate()
        w = max(float(torch.linalg.matrix_norm(w.detach(), ord=2)) for w in self.module_weights())
        jac = (1 + w) / self.tau + float(torch.linalg.matrix_norm(self.coupling().detach(), ord=2)) / self.tau
        return math.sqrt(max(1 - 2 * self.dt * c + self.dt**2 * jac**2, 0.0))

    # -- dynamics -----------------------------------------------------------------------------
    def initial_state(self, batch: int) -> AssemblyState:
        w = self.B
        return AssemblyState(torch.zeros(batch, self.n, device=w.device, dtype=w.dtype))

    def forward(self, u: Tensor, state: AssemblyState | None = None, return_states: bool = False
                ) -> tuple[Tensor, AssemblyState] | tuple[Tensor, AssemblyState, Tensor]:
        """``u [batch, time, in] -> (y [batch, time, out], state)`` (optionally the states ``[batch, time, n]``)."""
        u = check_sequence(u, self.in_features, "ContractiveRNNAssembly")
        state = self.initial_state(u.shape[0]) if state is None else AssemblyState(*state)
        check_state(state.x, u.shape[0], self.n, "ContractiveRNNAssembly")
        W = self.recurrent_matrix()
        L = self.coupling()
        drive = self.U(u)
        x = state.x
        xs = []
        k = self.dt / self.tau
        for t in range(u.shape[1]):
            for _ in range(self.steps_per_input):
                x = x + k * (-x + torch.tanh(x) @ W.T + x @ L.T + drive[:, t])
            xs.append(x)
        states = self.hook_x(torch.stack(xs, dim=1))
        y = self.readout(states)
        return (y, AssemblyState(x), states) if return_states else (y, AssemblyState(x))

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        w = self.B
        return torch.randn(batch, steps, self.in_features, device=w.device, dtype=w.dtype)
