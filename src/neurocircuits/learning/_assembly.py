"""Assembly Calculus (Papadimitriou, Vempala, Mitropolsky, Collins & Maass 2020, "Brain computation
by assemblies of neurons", PNAS 117:14464).

A brain *area* has ``n`` excitatory neurons joined by a random directed G(n, p) graph; at each round
only the ``k`` neurons with the largest synaptic input fire (k-cap, modelling inhibition). With
plasticity, a synapse i -> j whose pre neuron fired in round t and post neuron fires in round t + 1
is multiplied by ``(1 + beta)`` (Hebbian). Operations:

* **project** (:meth:`Area.project`): a fixed stimulus (k neurons firing every round) drives the
  area; the winners of successive rounds converge to a stable *assembly* (overlap -> 1).
* **associate** and **merge** are compositions of :meth:`Area.step` with several firing sources
  (two stimuli into one area; two areas into a third); no dedicated helper or test exists yet.

Pluggable plasticity (registry :data:`ASSEMBLY_PLASTICITY`): ``hebbian`` (multiplicative
(1 + beta)), ``oja`` (Hebbian step then normalisation of each neuron's incoming weights to its
initial total, Oja-style), ``stdp`` (potentiate pre-before-post by (1 + beta), depress
post-before-pre by (1 - beta/2) on recurrent synapses).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..registry import Registry

__all__ = ["AssemblyConfig", "Area", "ASSEMBLY_PLASTICITY", "k_cap", "overlap_fraction"]

Plasticity = Callable[[Tensor, Tensor, Tensor, float, Tensor | None], Tensor]
ASSEMBLY_PLASTICITY: Registry[Plasticity] = Registry("assembly plasticity rule")


def k_cap(inputs: Tensor, k: int) -> Tensor:
    """Boolean mask of the ``k`` largest inputs (ties broken by index)."""
    idx = torch.topk(inputs, k).indices
    mask = torch.zeros_like(inputs, dtype=torch.bool)
    mask[idx] = True
    return mask


def overlap_fraction(a: Tensor, b: Tensor) -> float:
    """``|a & b| / |a|`` for two boolean firing masks of equal size."""
    return float((a & b).sum()) / max(int(a.sum()), 1)


@ASSEMBLY_PLASTICITY.register("hebbian")
def _hebbian(W: Tensor, pre: Tensor, post: Tensor, beta: float, _w0: Tensor | None) -> Tensor:
    # W[i, j]: synapse from i (pre) to j (post)
    W[pre.nonzero().squeeze(1)[:, None], post.nonzero().squeeze(1)[None, :]] *= 1.0 + beta
    return W


@ASSEMBLY_PLASTICITY.register("oja")
def _oja(W: Tensor, pre: Tensor, post: Tensor, beta: float, col_sums0: Tensor | None) -> Tensor:
    W = _hebbian(W, pre, post, beta, None)
    if col_sums0 is not None:
        cols = post.nonzero().squeeze(1)
        W[:, cols] *= col_sums0[cols] / W[:, cols].sum(0).clamp_min(1e-12)
    return W


@ASSEMBLY_PLASTICITY.register("stdp")
def _stdp(W: Tensor, pre: Tensor, post: Tensor, beta: float, _w0: Tensor | None) -> Tensor:
    W = _hebbian(W, pre, post, beta, None)
    if W.shape[0] != W.shape[1]:
        return W  # afferent synapses have no reverse direction
    # post-before-pre (reverse direction) is depressed
    W[post.nonzero().squeeze(1)[:, None], pre.nonzero().squeeze(1)[None, :]] *= 1.0 - beta / 2
    return W


@dataclass(frozen=True)
class AssemblyConfig:
    """Area parameters: ``n`` neurons, cap ``k``, edge probability ``p``, plasticity ``beta``."""

    n: int = 1000
    k: int = 31
    p: float = 0.05
    beta: float = 0.1
    plasticity: str = "hebbian"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.k < self.n:
            raise ValueError(f"need 0 < k < n, got k={self.k}, n={self.n}.")
        if not 0 < self.p <= 1:
            raise ValueError(f"p must lie in (0, 1], got {self.p}.")
        ASSEMBLY_PLASTICITY.get(self.plasticity)


class Area:
    """A brain area with recurrent random synapses and afferent synapses from named sources.

    Weights are plain tensors (this is a simulation object, not a trained module).
    """

    def __init__(self, cfg: AssemblyConfig) -> None:
        self.cfg = cfg
        self.gen = torch.Generator().manual_seed(cfg.seed)
        self.W_rec = (torch.rand(cfg.n, cfg.n, generator=self.gen) < cfg.p).float()
        self.W_rec.fill_diagonal_(0.0)
        self.afferent: dict[str, Tensor] = {}
        self._col0: dict[str, Tensor] = {"rec": self.W_rec.sum(0).clone()}
        self.firing = torch.zeros(cfg.n, dtype=torch.bool)
        self._rule = ASSEMBLY_PLASTICITY.get(cfg.plasticity)

    def connect(self, name: str, n_source: int) -> None:
        """Add random G(n_source, n, p) afferent synapses from a source called ``name``."""
        W = (torch.rand(n_source, self.cfg.n, generator=self.gen) < self.cfg.p).float()
        self.afferent[name] = W
        self._col0[name] = W.sum(0).clone()

    def step(self, sources: dict[str, Tensor], recurrent: bool = True, plastic: bool = True) -> Tensor:
        """One round: k-cap of summed inputs from the firing ``sources`` (boolean masks) and itself."""
        total = torch.zeros(self.cfg.n)
        for name, fire in sources.items():
            if name not in self.afferent:
                raise KeyError(f"area has no afferent {name!r}; call connect({name!r}, n_source) first.")
            total += fire.float() @ self.afferent[name]
        if recurrent and self.firing.any():
            total += self.firing.float() @ self.W_rec
        new = k_cap(total, self.cfg.k)
        if plastic:
            for name, fire in sources.items():
                self.afferent[name] = self._rule(self.afferent[name], fire, new, self.cfg.beta, self._col0[name])
            if recurrent and self.firing.any():
                self.W_rec = self._rule(self.W_rec, self.firing, new, self.cfg.beta, self._col0["rec"])
        self.firing = new
        return new

    def project(self, name: str, stimulus: Tensor, rounds: int = 20) -> list[float]:
        """Fire ``stimulus`` into the area for ``rounds`` rounds; returns overlaps between rounds."""
        overlaps = []
        prev = None
        for _ in range(rounds):
            cur = self.step({name: stimulus})
            if prev is not None:
                overlaps.append(overlap_fraction(prev, cur))
            prev = cur
        return overlaps
