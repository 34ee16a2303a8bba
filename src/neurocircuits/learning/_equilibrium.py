"""Equilibrium propagation / contrastive Hebbian learning with standard or flexible phase schedules.

Scellier & Bengio 2017 ("Equilibrium propagation: bridging the gap between energy-based models and
backpropagation"); Movellan 1991 (CHL); flexible phases after Williams, Bredenberg & Lajoie 2023
("Flexible phase dynamics for bio-plausible contrastive learning", ICML). Layered Hopfield-like
network with states ``h`` (hidden) and ``o`` (output) and input ``x`` clamped::

    E(s) = 1/2 |s|^2 - x^T W1 rho(h) - rho(h)^T W2 rho(o) - b_h . rho(h) - b_o . rho(o)
    F    = E + beta * 1/2 |rho(o) - y|^2           (beta = 0: free phase, beta > 0: nudged phase)
    ds/dt = -dF/ds                                   (Euler steps of size dt)

``rho`` comes from :data:`EP_ACTIVATIONS`: ``"sigmoid"`` (default, ``rho(s) = sigmoid(4 (s - 1/2))``,
states unbounded) or ``"hard_sigmoid"`` (``clip(s, 0, 1)`` with states projected onto [0, 1], the
original paper's choice). With the hard sigmoid a saturated output (``o`` pinned at 1 by a strong
drive) is left where it is by the nudge, so the learning signal vanishes and XOR fails for some
seeds; the smooth activation has no such dead zone.

Standard EP: relax freely to ``s^0``, then with nudging to ``s^beta``, and update
``dW = (eta / beta) (H(s^beta) - H(s^0))`` with the Hebbian terms ``H = rho(pre) rho(post)^T``.

Flexible phases (temporally local): the network runs continuously, never reset, on a stream of
stimuli; the phase indicator ``c_t`` in {free, nudged} switches at random times (geometric
durations, no fixed period; with ``random_phase_type`` the type of each new phase is drawn at
random, so a phase may even follow one of its own type), and the stimulus of each of ``n_streams``
parallel streams changes at independent random times. At every step the weights change by the
*temporal difference* of the Hebbian term caused by the state's own motion, signed by the phase::

    dW_t = (eta / beta) * sign_t * (H(x_t, s_t) - H(x_t, s_{t-1})),   sign_t = +1 (nudged), -1 (free)

Summed over a nudged period that starts from the free equilibrium this telescopes to the EP update,
and a free period that starts from the nudged equilibrium contributes the same update again, so no
phase needs a fixed length, a reset or a stored copy of the other phase's state. Changing stimuli
matter: with one fixed input a free phase that starts from the nudged state can stay in the
target's basin of attraction (the energy is multistable) and stop reporting the error that a free
relaxation from rest, i.e. inference, still makes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from ..registry import Registry

__all__ = ["EP_ACTIVATIONS", "EPActivation", "EPConfig", "EquilibriumNetwork"]


class EPActivation(NamedTuple):
    """An EP nonlinearity: ``rho``, its derivative, and whether states are projected onto [0, 1]."""

    rho: Callable[[Tensor], Tensor]
    drho: Callable[[Tensor], Tensor]
    project: bool


def _sig(s: Tensor) -> Tensor:
    return torch.sigmoid(4.0 * (s - 0.5))


def _dsig(s: Tensor) -> Tensor:
    r = _sig(s)
    return 4.0 * r * (1.0 - r)


def _hard(s: Tensor) -> Tensor:
    return s.clamp(0.0, 1.0)


def _dhard(s: Tensor) -> Tensor:
    return ((s >= 0) & (s <= 1)).to(s)


EP_ACTIVATIONS: Registry[EPActivation] = Registry("EP activation")
EP_ACTIVATIONS.add("sigmoid", EPActivation(_sig, _dsig, False))
EP_ACTIVATIONS.add("hard_sigmoid", EPActivation(_hard, _dhard, True))


@dataclass(frozen=True)
class EPConfig:
    """EP network and schedule configuration.

    Attributes:
        sizes: ``(n_in, n_hidden, n_out)``.
        beta: nudging strength.
        lr: learning rate ``eta``.
        dt: Euler step of the relaxation.
        activation: name in :data:`EP_ACTIVATIONS`.
        free_steps, nudged_steps: phase lengths of the standard schedule.
        mean_phase_steps: mean duration of a phase in the flexible (random) schedule.
        mean_stimulus_steps: mean presentation time of a stimulus in the flexible schedule.
        n_streams: parallel stimulus streams (network copies sharing the weights) in the flexible
            schedule.
        random_phase_type: flexible schedule: draw the type of each new phase at random (True) or
            alternate free / nudged (False); durations are random either way.
        two_sided: in the flexible schedule also learn during free phases (sign -1); if False only
            nudged phases update the weights.
        seed: weights and schedule seed.
    """

    sizes: tuple[int, int, int] = (2, 16, 1)
    beta: float = 0.5
    lr: float = 0.05
    dt: float = 0.5
    activation: str = "sigmoid"
    free_steps: int = 40
    nudged_steps: int = 20
    mean_phase_steps: float = 20.0
    mean_stimulus_steps: float = 50.0
    n_streams: int = 8
    random_phase_type: bool = False
    two_sided: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.sizes) != 3 or min(self.sizes) < 1:
            raise ValueError(f"sizes must be (n_in, n_hidden, n_out) with positive entries, got {self.sizes}.")
        if self.beta <= 0 or self.lr <= 0 or not 0 < self.dt <= 1:
            raise ValueError("need beta > 0, lr > 0 and 0 < dt <= 1.")
        if self.mean_phase_steps < 1 or self.mean_stimulus_steps < 1 or self.n_streams < 1:
            raise ValueError("need mean_phase_steps >= 1, mean_stimulus_steps >= 1 and n_streams >= 1.")
        EP_ACTIVATIONS.get(self.activation)  # unknown names raise with the list of valid ones


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
        self.act = EP_ACTIVATIONS.get(cfg.activation)

    def _step(self, x: Tensor, h: Tensor, o: Tensor, y: Tensor | None, beta: float) -> tuple[Tensor, Tensor]:
        act = self.act
        rx, rh, ro = self._input(x), act.rho(h), act.rho(o)
        dh = act.drho(h) * (rx @ self.W1 + ro @ self.W2.T + self.b_h) - h
        do = act.drho(o) * (rh @ self.W2 + self.b_o) - o
        if y is not None and beta > 0:
            do = do + beta * act.drho(o) * (y - ro)
        h, o = h + self.cfg.dt * dh, o + self.cfg.dt * do
        if act.project:  # projected gradient flow: avoids chattering at the kinks of the hard sigmoid
            return h.clamp(0.0, 1.0), o.clamp(0.0, 1.0)
        return h, o

    def _input(self, x: Tensor) -> Tensor:
        return x.clamp(0.0, 1.0) if self.act.project else x

    def _check(self, x: Tensor, y: Tensor | None = None) -> None:
        n_in, _, n_out = self.cfg.sizes
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"x must have shape (batch, {n_in}), got {tuple(x.shape)}.")
        if y is not None and (y.ndim != 2 or y.shape != (x.shape[0], n_out)):
            raise ValueError(f"y must have shape ({x.shape[0]}, {n_out}) to match x, got {tuple(y.shape)}.")

    def relax(self, x: Tensor, n_steps: int, h: Tensor | None = None, o: Tensor | None = None,
              y: Tensor | None = None, beta: float = 0.0) -> tuple[Tensor, Tensor]:
        """Run ``n_steps`` of the (free or nudged) dynamics from ``(h, o)`` (default: rest, zeros)."""
        self._check(x, y)
        n_h, n_out = self.cfg.sizes[1:]
        h = torch.zeros(x.shape[0], n_h, dtype=x.dtype) if h is None else h
        o = torch.zeros(x.shape[0], n_out, dtype=x.dtype) if o is None else o
        for _ in range(n_steps):
            h, o = self._step(x, h, o, y, beta)
        return h, o

    def predict(self, x: Tensor, n_steps: int = 200) -> Tensor:
        """Output rate ``rho(o)`` at the free equilibrium reached from rest."""
        return self.act.rho(self.relax(x, n_steps)[1])

    def _hebb(self, x: Tensor, h: Tensor, o: Tensor) -> tuple[Tensor, ...]:
        rx, rh, ro = self._input(x), self.act.rho(h), self.act.rho(o)
        n = x.shape[0]
        return rx.T @ rh / n, rh.T @ ro / n, rh.mean(0), ro.mean(0)

    def _apply(self, delta: tuple[Tensor, ...], scale: float) -> None:
        self.W1 += scale * delta[0]
        self.W2 += scale * delta[1]
        self.b_h += scale * delta[2]
        self.b_o += scale * delta[3]

    def train_standard(self, x: Tensor, y: Tensor, epochs: int) -> None:
        """Classic two-phase EP: free relaxation from rest, nudged relaxation, one update per epoch."""
        self._check(x, y)
        c = self.cfg
        for _ in range(epochs):
            h, o = self.relax(x, c.free_steps)  # free phase from rest
            free = self._hebb(x, h, o)
            hb, ob = self.relax(x, c.nudged_steps, h, o, y, c.beta)
            nudged = self._hebb(x, hb, ob)
            self._apply(tuple(a - b for a, b in zip(nudged, free)), c.lr / c.beta)

    def train_flexible(self, x: Tensor, y: Tensor, n_steps: int) -> dict[str, float]:
        """Continuous run on a random stimulus stream with random phases and temporally local updates.

        Each of ``cfg.n_streams`` streams shows one example of ``(x, y)`` at a time and replaces it
        by a random example with probability ``1 / mean_stimulus_steps`` per step; the phase
        switches with probability ``1 / mean_phase_steps`` per step (see the module docstring).
        No state is ever reset or stored.

        Returns:
            ``{"n_switches": phase switches, "n_stimuli": stimulus changes, "nudged_fraction": ...}``.
        """
        self._check(x, y)
        c = self.cfg
        g = self.gen
        B = c.n_streams
        h = torch.zeros(B, c.sizes[1], dtype=x.dtype)
        o = torch.zeros(B, c.sizes[2], dtype=x.dtype)
        idx = torch.randint(0, x.shape[0], (B,), generator=g)
        nudged = False
        n_switches = n_stimuli = n_nudged = 0
        for _ in range(n_steps):
            change = torch.rand(B, generator=g) < 1.0 / c.mean_stimulus_steps
            n_stimuli += int(change.sum())
            idx = torch.where(change, torch.randint(0, x.shape[0], (B,), generator=g), idx)
            if float(torch.rand((), generator=g)) < 1.0 / c.mean_phase_steps:
                new = bool(torch.rand((), generator=g) < 0.5) if c.random_phase_type else not nudged
                n_switches += int(new != nudged)
                nudged = new
            xs, ys = x[idx], y[idx]
            prev = self._hebb(xs, h, o)  # the current stimulus, the state before the step
            h, o = self._step(xs, h, o, ys, c.beta if nudged else 0.0)
            sign = 1.0 if nudged else (-1.0 if c.two_sided else 0.0)
            n_nudged += int(nudged)
            self._apply(tuple(a - b for a, b in zip(self._hebb(xs, h, o), prev)), sign * c.lr / c.beta)
        if not all(bool(torch.isfinite(t).all()) for t in (self.W1, self.W2, self.b_h, self.b_o)):
            raise FloatingPointError(f"EP weights became NaN/inf with {c!r}; lower lr or dt.")
        return {"n_switches": float(n_switches), "n_stimuli": float(n_stimuli),
                "nudged_fraction": n_nudged / max(n_steps, 1)}
