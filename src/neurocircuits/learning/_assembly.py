"""Assembly Calculus (Papadimitriou, Vempala, Mitropolsky, Collins & Maass 2020, "Brain computation
by assemblies of neurons", PNAS 117:14464).

A brain *area* has ``n`` excitatory neurons joined by a random directed G(n, p) graph; at each round
only the ``k`` neurons with the largest synaptic input fire (k-cap, modelling inhibition). With
plasticity, a synapse i -> j whose pre neuron fired in round t and post neuron fires in round t + 1
is multiplied by ``(1 + beta)`` (Hebbian). Operations:

* **project** (:meth:`Area.project`): a fixed stimulus (k neurons firing every round) drives the
  area; the winners of successive rounds converge to a stable *assembly* (overlap -> 1).
* **associate** (:meth:`Area.associate`): two assemblies A, B of the same area (each projected from
  its own stimulus) are co-activated by firing both stimuli together; Hebbian plasticity makes
  them share neurons, so the overlap ``|A & B| / k`` of the assemblies each stimulus alone recalls
  grows from about the chance level ``k / n`` and firing one stimulus recruits part of the other
  assembly.
* **merge** (:func:`merge`): assemblies in areas A and B fire together into area C; the C winners
  converge to a new assembly (overlap between rounds -> 1) with strengthened synapses from both
  parents (and, when the parent areas are passed, back from C into each parent), so either parent
  alone reactivates much of the merged assembly.

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

__all__ = ["AssemblyConfig", "Area", "ASSEMBLY_PLASTICITY", "k_cap", "merge", "overlap_fraction"]

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
            if fire.shape != (self.afferent[name].shape[0],) or fire.dtype != torch.bool:
                raise ValueError(
                    f"source {name!r} must fire a boolean mask of shape ({self.afferent[name].shape[0]},), "
                    f"got dtype {fire.dtype} and shape {tuple(fire.shape)}."
                )
            total += fire.float() @ self.afferent[name]
        if recurrent and self.firing.any():
            total += self.firing.float() @ self.W_rec
        # synaptic inputs are sums of a few weight values, so exact ties are common; break them at
        # random (a fixed index order would hand every stimulus the same low-index neurons)
        jitter = 1e-9 * torch.rand(self.cfg.n, generator=self.gen, dtype=torch.float64)
        new = k_cap(total.double() + jitter, self.cfg.k)
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

    def recall(self, sources: dict[str, Tensor], rounds: int = 5) -> Tensor:
        """Winners after ``rounds`` plasticity-free rounds driven by ``sources`` from a silent area.

        The area's weights and its current firing state are left unchanged (a read-out).
        """
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}.")
        saved = self.firing
        self.firing = torch.zeros(self.cfg.n, dtype=torch.bool)
        try:
            for _ in range(rounds):
                cur = self.step(sources, plastic=False)
        finally:
            self.firing = saved
        return cur

    def associate(
        self,
        name_a: str,
        stim_a: Tensor,
        name_b: str,
        stim_b: Tensor,
        rounds: int = 10,
        recall_rounds: int = 5,
    ) -> list[float]:
        """Co-activate the assemblies of two stimuli (Papadimitriou et al. 2020, "association").

        Both stimuli fire together (with the area's recurrence and plasticity) for ``rounds`` rounds.
        Before the first and after every round, each stimulus alone recalls its assembly
        (:meth:`recall`, no plasticity) and the overlap ``|A & B| / k`` is recorded.

        Args:
            name_a, name_b: two distinct afferent names (see :meth:`connect`).
            stim_a, stim_b: their firing masks.
            rounds: association rounds (>= 1).
            recall_rounds: plasticity-free rounds used to read each assembly out.

        Returns:
            ``rounds + 1`` overlaps, the first one before association.
        """
        if name_a == name_b:
            raise ValueError(f"associate needs two different stimuli, got {name_a!r} twice.")
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}.")
        for name in (name_a, name_b):
            if name not in self.afferent:
                raise KeyError(f"area has no afferent {name!r}; call connect({name!r}, n_source) first.")

        def ov() -> float:
            a = self.recall({name_a: stim_a}, recall_rounds)
            b = self.recall({name_b: stim_b}, recall_rounds)
            return overlap_fraction(a, b)

        out = [ov()]
        self.firing = torch.zeros(self.cfg.n, dtype=torch.bool)
        for _ in range(rounds):
            self.step({name_a: stim_a, name_b: stim_b})
            out.append(ov())
        return out


def merge(
    target: Area,
    name_a: str,
    assembly_a: Tensor,
    name_b: str,
    assembly_b: Tensor,
    rounds: int = 20,
    parents: tuple[Area, Area] | None = None,
    feedback_name: str = "merge",
) -> list[float]:
    """Merge (Papadimitriou et al. 2020): two parent assemblies fire together into ``target``.

    Every round the parents' assemblies fire into ``target`` (afferents ``name_a`` / ``name_b``, which
    must be connected), which k-caps the sum with its own recurrence and applies its plasticity.
    When ``parents = (area_a, area_b)`` is given, each parent also receives the target's previous
    winners through an afferent called ``feedback_name`` (created if missing, with the parent's
    ``p``) and Hebbian plasticity strengthens the C -> parent synapses onto the parent assembly; the
    parents themselves stay clamped to their assemblies.

    Returns:
        Overlaps between the target winners of successive rounds (``rounds - 1`` values).
    """
    if name_a == name_b:
        raise ValueError(f"merge needs two different parent afferents, got {name_a!r} twice.")
    if rounds < 2:
        raise ValueError(f"rounds must be >= 2 to measure convergence, got {rounds}.")
    for name in (name_a, name_b):
        if name not in target.afferent:
            raise KeyError(f"target area has no afferent {name!r}; call connect({name!r}, n_source) first.")
    if parents is not None:
        for parent, asm in zip(parents, (assembly_a, assembly_b)):
            if asm.shape != (parent.cfg.n,):
                raise ValueError(
                    f"a parent assembly has shape {tuple(asm.shape)} but its area has {parent.cfg.n} neurons."
                )
            if feedback_name not in parent.afferent:
                parent.connect(feedback_name, target.cfg.n)
    target.firing = torch.zeros(target.cfg.n, dtype=torch.bool)
    overlaps: list[float] = []
    prev = None
    for _ in range(rounds):
        cur = target.step({name_a: assembly_a, name_b: assembly_b})
        if parents is not None and prev is not None:
            for parent, asm in zip(parents, (assembly_a, assembly_b)):
                parent.afferent[feedback_name] = parent._rule(
                    parent.afferent[feedback_name], prev, asm, parent.cfg.beta, parent._col0[feedback_name]
                )
        if prev is not None:
            overlaps.append(overlap_fraction(prev, cur))
        prev = cur
    return overlaps
