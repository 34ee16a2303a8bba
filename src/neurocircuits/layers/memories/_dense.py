"""Dense (p-body) Hebbian associative memory learned from noisy examples, with Monte Carlo dynamics.

Krotov & Hopfield 2016 ("Dense associative memory for pattern recognition") generalise the Hopfield
energy to ``E(s) = -N sum_mu F(m_mu(s))`` with ``F(m) = m^p``. Agliari, Barra et al. 2023 ("Dense
Hebbian neural networks: a replica symmetric picture of supervised/unsupervised learning", Physica
A) build the couplings from ``M`` noisy examples ``eta^{mu,a} = chi^{mu,a} xi^mu`` of each unseen
archetype ``xi^mu`` (``P(chi_i = 1) = (1 + r) / 2``) and study

    unsupervised:  E(s) = -N sum_mu (1 / M) sum_a (n_{mu a})^p,     n_{mu a} = (1/N) eta^{mu,a} . s
    supervised:    E(s) = -N sum_mu ((1 / M) sum_a n_{mu a})^p

The dataset quality is ``rho = (1 - r^2) / (M r^2)``. At zero temperature and low load the
archetype overlap predicted for the supervised ground state ``s = sign(sum_a eta^{mu,a})`` is
``m = erf(1 / sqrt(2 rho))`` (central-limit argument), so ``m > 0.9`` needs ``rho < 0.37``; the
unsupervised p = 4 network follows the same curve when ``M`` is large enough that no single example
is itself a memory (see :func:`predicted_archetype_overlap`).

Monte Carlo: Glauber single-spin dynamics at inverse temperature ``beta`` (``inf``: zero
temperature). Couplings are never materialised as an ``N^p`` tensor: the energy change of a flip is
computed from the example overlaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._binary import check_binary

__all__ = ["DenseHebbianConfig", "DenseHebbianMemory", "noisy_examples", "predicted_archetype_overlap"]


def noisy_examples(archetypes: Tensor, n_examples: int, r: float, generator: torch.Generator | None = None) -> Tensor:
    """Examples ``eta^{mu,a} = chi^{mu,a} xi^mu`` with ``P(chi = +1) = (1 + r) / 2``.

    Returns:
        Tensor ``(K, M, N)``.
    """
    if not 0.0 <= r <= 1.0:
        raise ValueError(f"example quality r must lie in [0, 1], got {r}.")
    xi = check_binary(archetypes, "archetypes")
    K, N = xi.shape
    flip = torch.rand(K, n_examples, N, generator=generator) > (1 + r) / 2
    return xi.unsqueeze(1) * torch.where(flip, -1.0, 1.0).to(xi)


def predicted_archetype_overlap(rho: float) -> float:
    """Zero-temperature, low-load archetype overlap ``erf(1 / sqrt(2 rho))``."""
    if rho <= 0:
        return 1.0
    return math.erf(1.0 / math.sqrt(2.0 * rho))


@dataclass(frozen=True)
class DenseHebbianConfig:
    """Dense Hebbian memory configuration.

    Attributes:
        n_units: number of spins ``N``.
        p: interaction order (``p = 2`` is the Hopfield network).
        mode: ``"unsupervised"`` or ``"supervised"`` (see module docstring).
    """

    n_units: int
    p: int = 4
    mode: str = "unsupervised"

    def __post_init__(self) -> None:
        if self.n_units < 2:
            raise ValueError(f"n_units must be >= 2, got {self.n_units}.")
        if self.p < 2 or self.p % 2:
            raise ValueError(f"p must be an even integer >= 2 (so the energy is sign-symmetric), got {self.p}.")
        if self.mode not in ("unsupervised", "supervised"):
            raise ValueError(f"mode must be 'unsupervised' or 'supervised', got {self.mode!r}.")


class DenseHebbianMemory(nn.Module):
    """p-body Hebbian memory over examples (K archetypes x M examples) with Glauber Monte Carlo."""

    def __init__(self, cfg: DenseHebbianConfig, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("examples", torch.zeros(0, 0, cfg.n_units, device=device, dtype=dtype))

    def store(self, examples: Tensor) -> None:
        """Keep the examples ``(K, M, N)`` of +-1 that define the couplings (Hebbian, unsupervised)."""
        if examples.dim() == 2:
            examples = examples.unsqueeze(1)
        if examples.dim() != 3 or examples.shape[-1] != self.cfg.n_units:
            raise ValueError(
                f"examples must have shape (K, M, {self.cfg.n_units}), got {tuple(examples.shape)}."
            )
        self.examples = check_binary(examples, "examples").to(self.examples)

    def _fields(self, s: Tensor) -> Tensor:
        # n[b, mu, a] = (1/N) eta^{mu,a} . s_b
        return torch.einsum("kmn,bn->bkm", self.examples, s) / self.cfg.n_units

    def energy(self, state: Tensor) -> Tensor:
        """Energy ``E(s)`` of states ``(batch, N)`` (see module docstring)."""
        s = check_binary(state, "state").to(self.examples)
        n = self._fields(s.reshape(-1, self.cfg.n_units))
        N, p = self.cfg.n_units, self.cfg.p
        if self.cfg.mode == "unsupervised":
            e = -N * (n**p).mean(-1).sum(-1)
        else:
            e = -N * (n.mean(-1) ** p).sum(-1)
        return e.reshape(s.shape[:-1])

    def forward(
        self, cue: Tensor, state: None = None, *, n_sweeps: int = 20, beta: float = math.inf, seed: int = 0
    ) -> tuple[Tensor, Tensor]:
        """Glauber Monte Carlo from ``cue`` (batch, N); returns ``(states, energies)``."""
        if self.examples.numel() == 0:
            raise RuntimeError("the memory is empty: call store(examples) first.")
        s = check_binary(cue, "cue").to(self.examples).clone()
        if s.dim() == 1:
            s = s.unsqueeze(0)
        g = torch.Generator().manual_seed(seed)
        N, p = self.cfg.n_units, self.cfg.p
        eta = self.examples  # (K, M, N)
        n = self._fields(s)  # (B, K, M)
        for _ in range(n_sweeps):
            changed = False
            for i in torch.randperm(N, generator=g).tolist():
                si = s[:, i]  # (B,)
                n_new = n - 2.0 * si[:, None, None] * eta[None, :, :, i] / N
                if self.cfg.mode == "unsupervised":
                    dE = -N * ((n_new**p).mean(-1) - (n**p).mean(-1)).sum(-1)
                else:
                    dE = -N * (n_new.mean(-1) ** p - n.mean(-1) ** p).sum(-1)
                if math.isinf(beta):
                    flip = dE < 0
                else:
                    prob = torch.sigmoid(-beta * dE)
                    flip = torch.rand(prob.shape, generator=g).to(prob) < prob
                if bool(flip.any()):
                    changed = True
                    s[flip, i] = -s[flip, i]
                    n = torch.where(flip[:, None, None], n_new, n)
            if not changed and math.isinf(beta):
                break
        return s, self.energy(s)
