"""CA3-like spiking content-addressable memory: learn, forget, recall from fragments.

After the hippocampal CA3 auto-associative model (Marr 1971; Treves & Rolls 1994) as run on
spiking hardware by Casanueva-Morato et al. 2024 ("Bio-inspired computational memory model of the
hippocampus: an approach to a neuromorphic spike-based content-addressable memory"); here simulated
with leaky integrate-and-fire neurons (:func:`neurocircuits.functional.neurons.lif_step`).

* **learn(pattern)**: Hebbian co-activation counts ``C_ij += p_i p_j`` (i != j); the recurrent
  excitatory weight is ``w_exc * min(C_ij, 1)`` (a synapse exists once two cells were co-active).
* **forget(pattern)**: ``C_ij -= p_i p_j`` (anti-Hebbian replay); synapses shared with other stored
  patterns keep a positive count, so the other memories are untouched.
* **recall(cue)**: the cue neurons receive a strong drive for ``cue_ms``; recurrent excitation
  completes the pattern while feedback inhibition proportional to the population's recent spike
  count stops activity from spreading into overlapping memories. The recalled pattern is the set of
  neurons that spike in the read-out window after the cue is removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ...functional.neurons import LIFParams, LIFState, lif_step

__all__ = ["CA3Config", "CA3Memory"]


@dataclass(frozen=True)
class CA3Config:
    """CA3 memory parameters (voltages in mV, times in ms).

    Attributes:
        n_neurons: excitatory cells.
        w_exc_mv: voltage drive added per presynaptic spike through a learned synapse.
        w_inh_mv: feedback inhibition per spike in the population (recent window).
        cue_mv: drive of cue neurons while the cue is on.
        tau_syn_ms: synaptic current decay.
        dt_ms, cue_ms, t_total_ms: step, cue duration and simulation length.
        readout_start_ms: start of the read-out window.
    """

    n_neurons: int = 100
    w_exc_mv: float = 30.0
    w_inh_mv: float = 10.0
    cue_mv: float = 40.0
    tau_syn_ms: float = 5.0
    dt_ms: float = 0.5
    cue_ms: float = 10.0
    t_total_ms: float = 60.0
    readout_start_ms: float = 20.0

    def __post_init__(self) -> None:
        if self.n_neurons < 2 or self.dt_ms <= 0 or self.readout_start_ms >= self.t_total_ms:
            raise ValueError("need n_neurons >= 2, dt_ms > 0 and readout_start_ms < t_total_ms.")


class CA3Memory:
    """Spiking auto-associative memory over binary (0/1) patterns of length ``n_neurons``."""

    def __init__(self, cfg: CA3Config = CA3Config()) -> None:
        self.cfg = cfg
        self.counts = torch.zeros(cfg.n_neurons, cfg.n_neurons)
        self.lif = LIFParams(tau_mem_ms=10.0, v_thresh_mv=-50.0, v_reset_mv=-65.0, v_rest_mv=-65.0, refractory_ms=2.0)

    def _check(self, p: Tensor, what: str) -> Tensor:
        p = torch.as_tensor(p, dtype=torch.float32)
        if p.shape != (self.cfg.n_neurons,):
            raise ValueError(f"{what} must be a vector of {self.cfg.n_neurons} entries, got {tuple(p.shape)}.")
        if not bool(((p == 0) | (p == 1)).all()):
            raise ValueError(f"{what} must be binary 0/1 (active cells = 1).")
        return p

    def learn(self, pattern: Tensor) -> None:
        p = self._check(pattern, "pattern")
        self.counts += torch.outer(p, p) * (1 - torch.eye(len(p)))

    def forget(self, pattern: Tensor) -> None:
        p = self._check(pattern, "pattern")
        upd = self.counts - torch.outer(p, p) * (1 - torch.eye(len(p)))
        if bool((upd < 0).any()):
            raise ValueError("forget() was given a pattern that was never learned (counts would go negative).")
        self.counts = upd

    @property
    def weights(self) -> Tensor:
        return self.cfg.w_exc_mv * (self.counts > 0).float()

    def recall(self, cue: Tensor) -> tuple[Tensor, Tensor]:
        """Run the network from a cue (0/1 vector); returns ``(recalled 0/1 vector, spike raster)``."""
        c = self.cfg
        cue = self._check(cue, "cue")
        n_steps = int(round(c.t_total_ms / c.dt_ms))
        v = torch.full((c.n_neurons,), float(self.lif.v_rest_mv))
        st = LIFState(v, torch.zeros(c.n_neurons))
        I = torch.zeros(c.n_neurons)
        inh = torch.zeros(())
        decay = torch.exp(torch.tensor(-c.dt_ms / c.tau_syn_ms))
        W = self.weights
        raster = torch.zeros(n_steps, c.n_neurons)
        for t in range(n_steps):
            ext = cue * c.cue_mv if t * c.dt_ms < c.cue_ms else torch.zeros(c.n_neurons)
            z, st = lif_step(I - inh + ext, st, self.lif, c.dt_ms)
            raster[t] = z
            I = I * decay + z @ W
            inh = inh * decay + c.w_inh_mv * z.sum()
        start = int(round(c.readout_start_ms / c.dt_ms))
        return (raster[start:].sum(0) > 0).float(), raster
