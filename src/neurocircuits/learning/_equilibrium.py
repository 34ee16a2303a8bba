"""Equilibrium propagation / contrastive Hebbian learning with standard or flexible phase schedules.

Scellier & Bengio 2017 ("Equilibrium propagation: bridging the gap between energy-based models and
backpropagation"); Movellan 1991 (CHL). Layered Hopfield-like network with states ``h`` (hidden) and
``o`` (output), input ``x`` clamped, ``rho(s) = clip(s, 0, 1)``::

    E(s) = 1/2 |s|^2 - rho(x)^T W1 rho(h) - rho(h)^T W2 rho(o) - b_h . rho(h) - b_o . rho(o)
    F    = E + beta * 1/2 |o - y|^2                  (beta = 0: free phase, beta > 0: nudged phase)
    ds/dt = -dF/ds                                   (projected Euler steps: s stays in [0, 1])

Standard EP: relax freely to ``s^0``, then with nudging to ``s^beta``, and update
``dW = (eta / beta) (H(s^beta) - H(s^0))`` with the Hebbian terms ``H = rho(pre) rho(post)^T``.

Flexible phases (temporally local): the network runs continuously while the phase indicator
``c_t`` in {free, nudged} switches at random times (durations drawn from a geometric distribution,
no fixed period). At every step the weights change by the *temporal difference* of the Hebbian term,
signed by the current phase::

    dW_t = (eta / beta) * sign_t * (H(s_t) - H(s_{t-1})),    sign_t = +1 (nudged), -1 (free)

Summed over a nudged period that starts from the free equilibrium this telescopes to the EP update,
and a free period that starts from the nudged equilibrium contributes the same update again, so no
phase needs a fixed length, a reset or a stored copy of the other phase's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["EPConfig", "EquilibriumNetwork"]


@dataclass(frozen=True)
class EPConfig:
    """EP network and schedule configuration.

    Attributes:
        sizes: ``(n_in, n_hidden, n_out)``.
        beta: nudging strength.
        lr: learning rate ``eta``.
        dt: Euler step of the relaxation.
        free_steps, nudged_steps: phase lengths of the standard schedule.
        mean_phase_steps: mean duration of a phase in the flexible (random) schedule.
        two_sided: in the flexible schedule also learn during free phases (sign -1); if False only
            nudged phases update the weights.
        seed: weights and schedule seed.
    """

    sizes: tuple[int, int, int] = (2, 8, 1)
    beta: float = 0.5
    lr: float = 0.1
    dt: float = 0.5
    free_steps: int = 40
    nudged_steps: int = 20
    mean_phase_steps: float = 30.0
    two_sided: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.sizes) != 3 or min(self.sizes) < 1:
            raise ValueError(f"sizes must be (n_in, n_hidden, n_out) with positive entries, got {self.sizes}.")
        if self.beta <= 0 or self.lr <= 0 or not 0 < self.dt <= 1:
            raise ValueError("need beta > 0, lr > 0 and 0 < dt <= 1.")


def _rho(s: Tensor) -> Tensor:
    return s.clamp(0.0, 1.0)


def _drho(s: Tensor) -> Tensor:
    return ((s >= 0) & (s <= 1)).to(s)


class EquilibriumNetwork:
    """Two-layer EP network trained by :meth:`train_standard` or :meth:`train_flexible`."""

    def __init__(self, cfg: EPConfig = EPConfig()) -> None:
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        n_in, n_h, n_out = cfg.sizes
        self.W1 = torch.randn(n_in, n_h, generator=g, dtype=torch.float64) * (2.0 / (n_in + n_h)) ** 0.5
        self.W2 = torch.randn(n_h, n_out, generator=g, dtype=torch.float64) * (2.0 / (n_h + n_out)) ** 0.5
        self.b_h = torch.zeros(n_h, dtype=torch.float64)
        self.b_o = torch.zeros(n_out, dtype=torch.float64)
        self.gen = g

    def _step(self, x: Tensor, h: Tensor, o: Tensor, y: Tensor | None, beta: float) -> tuple[Tensor, Tensor]:
        rx, rh, ro = _rho(x), _rho(h), _rho(o)
        dh = _drho(h) * (rx @ self.W1 + ro @ self.W2.T + self.b_h) - h
        do = _drho(o) * (rh @ self.W2 + self.b_o) - o
        if y is not None and beta > 0:
            do = do + beta * (y - o)
        # states are kept in [0, 1] (projected gradient flow): avoids chattering at the kinks of rho
        return (h + self.cfg.dt * dh).clamp(0.0, 1.0), (o + self.cfg.dt * do).clamp(0.0, 1.0)

    def relax(self, x: Tensor, n_steps: int, h: Tensor | None = None, o: Tensor | None = None,
              y: Tensor | None = None, beta: float = 0.0) -> tuple[Tensor, Tensor]:
        """Run ``n_steps`` of the (free or nudged) dynamics."""
        n_h, n_out = self.cfg.sizes[1:]
        h = torch.zeros(x.shape[0], n_h, dtype=x.dtype) if h is None else h
        o = torch.zeros(x.shape[0], n_out, dtype=x.dtype) if o is None else o
        for _ in range(n_steps):
            h, o = self._step(x, h, o, y, beta)
        return h, o

    def predict(self, x: Tensor, n_steps: int = 60) -> Tensor:
        """Output rate ``rho(o)`` at the free equilibrium."""
        return _rho(self.relax(x, n_steps)[1])

    def _hebb(self, x: Tensor, h: Tensor, o: Tensor) -> tuple[Tensor, ...]:
        rx, rh, ro = _rho(x), _rho(h), _rho(o)
        n = x.shape[0]
        return rx.T @ rh / n, rh.T @ ro / n, rh.mean(0), ro.mean(0)

    def _apply(self, delta: tuple[Tensor, ...], scale: float) -> None:
        self.W1 += scale * delta[0]
        self.W2 += scale * delta[1]
        self.b_h += scale * delta[2]
        self.b_o += scale * delta[3]

    def train_standard(self, x: Tensor, y: Tensor, epochs: int) -> None:
        """Classic two-phase EP: free relaxation, nudged relaxation, one update per epoch."""
        c = self.cfg
        for _ in range(epochs):
            h, o = self.relax(x, c.free_steps)  # free phase from rest
            free = self._hebb(x, h, o)
            hb, ob = self.relax(x, c.nudged_steps, h, o, y, c.beta)
            nudged = self._hebb(x, hb, ob)
            self._apply(tuple(a - b for a, b in zip(nudged, free)), c.lr / c.beta)

    def train_flexible(self, x: Tensor, y: Tensor, n_steps: int) -> dict[str, float]:
        """Continuous run with random phase durations and temporally local updates (see module doc)."""
        c = self.cfg
        h = torch.zeros(x.shape[0], c.sizes[1], dtype=x.dtype)
        o = torch.zeros(x.shape[0], c.sizes[2], dtype=x.dtype)
        nudged = False
        p_switch = 1.0 / c.mean_phase_steps
        prev = self._hebb(x, h, o)
        n_switches = 0
        for _ in range(n_steps):
            if float(torch.rand((), generator=self.gen)) < p_switch:
                nudged = not nudged
                n_switches += 1
            h, o = self._step(x, h, o, y, c.beta if nudged else 0.0)
            cur = self._hebb(x, h, o)
            sign = 1.0 if nudged else (-1.0 if c.two_sided else 0.0)
            self._apply(tuple(a - b for a, b in zip(cur, prev)), sign * c.lr / c.beta)
            prev = cur
        return {"n_switches": float(n_switches)}
