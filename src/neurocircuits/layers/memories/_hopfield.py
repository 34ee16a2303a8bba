"""Classical Hopfield networks (p = 2 associative memory).

Hopfield 1982, "Neural networks and physical systems with emergent collective computational
abilities", PNAS 79:2554. Binary units ``s_i = +-1``, symmetric couplings ``W`` with zero diagonal,
energy ``E(s) = -1/2 s^T W s`` and zero-temperature asynchronous dynamics
``s_i <- sign(sum_j W_ij s_j)``. Learning rules (registry :data:`HOPFIELD_RULES`):

* ``hebbian``: ``W = (1/N) sum_mu xi^mu xi^mu^T`` (capacity ``alpha_c ~ 0.138 N``, Amit,
  Gutfreund & Sompolinsky 1985);
* ``pseudo_inverse`` (projection rule, Personnaz et al. 1985): ``W = X^T (X X^T)^+ X / 1`` with
  ``X`` the (P, N) pattern matrix; every pattern is a fixed point up to ``P < N``;
* ``storkey`` (Storkey 1997): ``W_ij += (1/N)(xi_i xi_j - xi_i h_ji - h_ij xi_j)``, with local fields
  ``h_ij = sum_{k != i, j} W_ik xi_k``; capacity about ``N / sqrt(2 ln N)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...registry import Registry
from ._binary import check_binary, check_patterns

__all__ = ["HOPFIELD_RULES", "HopfieldConfig", "HopfieldNetwork", "overlap"]

HOPFIELD_RULES: Registry[Callable[[Tensor], Tensor]] = Registry("Hopfield learning rule")


@HOPFIELD_RULES.register("hebbian")
def hebbian_weights(patterns: Tensor) -> Tensor:
    """``W = X^T X / N`` with zero diagonal."""
    N = patterns.shape[1]
    W = patterns.T @ patterns / N
    W.fill_diagonal_(0.0)
    return W


@HOPFIELD_RULES.register("pseudo_inverse")
def pseudo_inverse_weights(patterns: Tensor) -> Tensor:
    """Projection rule ``W = X^T (X X^T)^+ X`` (diagonal kept at zero)."""
    X = patterns
    C = torch.linalg.pinv(X @ X.T)
    W = X.T @ C @ X
    W.fill_diagonal_(0.0)
    return W


@HOPFIELD_RULES.register("storkey")
def storkey_weights(patterns: Tensor) -> Tensor:
    """Storkey's incremental rule, one pattern at a time."""
    P, N = patterns.shape
    W = torch.zeros(N, N, dtype=patterns.dtype, device=patterns.device)
    for xi in patterns:
        h = W @ xi  # h_i = sum_k W_ik xi_k
        # h_ij = h_i - W_ii xi_i - W_ij xi_j (W_ii = 0)
        H = h.unsqueeze(1) - W * xi.unsqueeze(0)
        W = W + (torch.outer(xi, xi) - xi.unsqueeze(1) * H.T - H * xi.unsqueeze(0)) / N
        W.fill_diagonal_(0.0)
    return W


def overlap(state: Tensor, patterns: Tensor) -> Tensor:
    """Mattis overlaps ``m_mu = (1/N) xi^mu . s`` of states ``(..., N)`` with patterns ``(P, N)``."""
    return state @ patterns.T / patterns.shape[1]


@dataclass(frozen=True)
class HopfieldConfig:
    """Classical Hopfield configuration.

    Attributes:
        n_units: number of binary units ``N``.
        rule: learning rule name in :data:`HOPFIELD_RULES`.
    """

    n_units: int
    rule: str = "hebbian"

    def __post_init__(self) -> None:
        if self.n_units < 2:
            raise ValueError(f"n_units must be >= 2, got {self.n_units}.")
        HOPFIELD_RULES.get(self.rule)  # unknown names raise with the valid list


class HopfieldNetwork(nn.Module):
    """Classical binary Hopfield network.

    Example:
        >>> net = HopfieldNetwork(HopfieldConfig(n_units=100))
        >>> net.store(patterns)              # (P, 100) of +-1
        >>> s, _ = net(noisy_cue)            # asynchronous zero-temperature dynamics
    """

    def __init__(self, cfg: HopfieldConfig, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("weight", torch.zeros(cfg.n_units, cfg.n_units, device=device, dtype=dtype))

    def store(self, patterns: Tensor) -> None:
        """Set the couplings from ``patterns`` (P, N) of +-1 with the configured rule."""
        X = check_patterns(patterns, self.cfg.n_units).to(self.weight)
        self.weight.copy_(HOPFIELD_RULES.get(self.cfg.rule)(X))

    def energy(self, state: Tensor) -> Tensor:
        """``E(s) = -1/2 s^T W s`` for states ``(..., N)`` of +-1."""
        s = check_binary(state, "state").to(self.weight)
        return -0.5 * ((s @ self.weight) * s).sum(-1)

    def initial_state(self, batch: int) -> Tensor:
        return torch.ones(batch, self.cfg.n_units, dtype=self.weight.dtype, device=self.weight.device)

    def forward(
        self, cue: Tensor, state: None = None, *, n_sweeps: int = 20, mode: str = "async", seed: int = 0
    ) -> tuple[Tensor, Tensor]:
        """Run the dynamics from ``cue`` until a fixed point (or ``n_sweeps``).

        Args:
            cue: initial states ``(batch, N)`` of +-1.
            state: unused (the cue is the state); kept for the common ``forward`` arity.
            n_sweeps: maximum number of sweeps over all units.
            mode: ``"async"`` (random-order single-unit updates, guaranteed descent) or ``"sync"``.
            seed: seed of the asynchronous update order.

        Returns:
            ``(final_states, n_sweeps_used)``.
        """
        s = check_binary(cue, "cue").to(self.weight).clone()
        if s.dim() == 1:
            s = s.unsqueeze(0)
        if mode not in ("async", "sync"):
            raise ValueError(f"mode must be 'async' or 'sync', got {mode!r}.")
        g = torch.Generator().manual_seed(seed)
        W = self.weight
        used = 0
        for sweep in range(n_sweeps):
            used = sweep + 1
            old = s.clone()
            if mode == "sync":
                h = s @ W
                s = torch.where(h >= 0, 1.0, -1.0).to(s)
            else:
                for i in torch.randperm(self.cfg.n_units, generator=g).tolist():
                    h = s @ W[:, i]
                    s[:, i] = torch.where(h >= 0, 1.0, -1.0).to(s)
            if torch.equal(old, s):
                break
        return s, torch.tensor(used)
