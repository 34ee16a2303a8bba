"""Adaptive gain control in a recurrent orientation-tuned population (after Duong, Bredenberg,
Heeger & Simoncelli 2023, "Adaptive coding efficiency in recurrent cortical circuits via gain
control", arXiv:2305.19869; the objective below is this library's own, simpler per-neuron form).

N neurons with preferred orientations ``phi_i`` receive von Mises feedforward drive and excite
their neighbours through fixed recurrent weights ``W`` (spectral radius ``rho < 1``). Each neuron
has one gain ``g_i`` on its total input ``y_i``::

    h_i(theta) = exp(kappa (cos 2(theta - phi_i) - 1))
    r = G (h + W r)   =>   r(theta) = (I - G W)^{-1} G h(theta),     y = h + W r = r / g

Efficient-coding objective per neuron (fidelity of a noisy channel vs activity cost, stimulus
ensemble ``p(theta)``)::

    J_i(g_i) = 1/2 log(1 + g_i^2 E_p[y_i^2] / sigma^2) - lambda g_i^2 E_p[y_i^2]

``dJ_i/dg_i = 0`` gives the analytic gain ``g_i^2 = (1 / (2 lambda) - sigma^2) / E_p[y_i^2]``: every
neuron's response power is equalised at ``c = 1 / (2 lambda) - sigma^2``. Because ``y`` depends on
the other neurons' gains through ``W``, the gains are the fixed point of that formula (damped
iteration). Adapting to an over-represented orientation lowers the gains of neurons tuned near it;
the change propagates through the recurrence and shifts neighbours' tuning away from the adapter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._registry import register_model

__all__ = [
    "GainControlConfig", "GainState", "GainControlPopulation", "adapter_ensemble", "preferred_orientation",
    "mean_pairwise_correlation",
]


@dataclass(frozen=True)
class GainControlConfig:
    """Gain-controlled population.

    Attributes:
        n_neurons: population size (preferred orientations evenly tile [0, pi)).
        tuning_concentration: von Mises ``kappa`` of the feedforward tuning.
        recurrent_radius: spectral radius of the (non-negative, local) recurrent weights, in [0, 1).
        recurrent_concentration: von Mises width of the recurrent kernel over preferred orientation.
        activity_cost: ``lambda`` of the objective.
        noise_var: channel noise ``sigma^2``; needs ``1 / (2 lambda) > sigma^2``.
        n_iterations: damped fixed-point iterations for the gains.
        damping: step of the damped iteration, in (0, 1].
    """

    n_neurons: int = 60
    tuning_concentration: float = 2.0
    recurrent_radius: float = 0.7
    recurrent_concentration: float = 3.0
    activity_cost: float = 0.5
    noise_var: float = 0.1
    n_iterations: int = 300
    damping: float = 0.5

    def __post_init__(self) -> None:
        if self.n_neurons < 2:
            raise ValueError(f"n_neurons must be >= 2, got {self.n_neurons}.")
        if not 0.0 <= self.recurrent_radius < 1.0:
            raise ValueError(f"recurrent_radius must lie in [0, 1) for a stable population, got {self.recurrent_radius}.")
        if self.activity_cost <= 0 or self.noise_var < 0 or 1.0 / (2.0 * self.activity_cost) <= self.noise_var:
            raise ValueError(
                f"need activity_cost > 0, noise_var >= 0 and 1 / (2 activity_cost) > noise_var (got "
                f"{self.activity_cost}, {self.noise_var}); otherwise the optimal gain is zero. Lower one of them."
            )
        if not 0.0 < self.damping <= 1.0 or self.n_iterations < 1:
            raise ValueError("damping must lie in (0, 1] and n_iterations must be >= 1.")

    @property
    def response_power(self) -> float:
        """``c = 1 / (2 lambda) - sigma^2``: the equalised ``g_i^2 E[y_i^2]``."""
        return 1.0 / (2.0 * self.activity_cost) - self.noise_var


class GainState(NamedTuple):
    gains: Tensor  # (N,)


def adapter_ensemble(adapter_rad: float, fraction: float, n_grid: int = 360, concentration: float = 20.0,
                     dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Orientation grid and probabilities: ``(1 - fraction)`` uniform + ``fraction`` peaked at the adapter.

    ``fraction = 0`` is the unadapted (uniform) ensemble. Returns ``(thetas (S,), probs (S,))``.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}.")
    th = torch.arange(n_grid, dtype=dtype) * (math.pi / n_grid)
    peak = torch.exp(concentration * (torch.cos(2 * (th - adapter_rad)) - 1))
    p = (1 - fraction) / n_grid + fraction * peak / peak.sum()
    return th, p / p.sum()


def preferred_orientation(responses: Tensor, thetas: Tensor) -> Tensor:
    """Peak of each tuning curve ``responses (S, N)`` on the grid ``thetas``, refined by a parabola."""
    S = thetas.shape[0]
    k = responses.argmax(0)
    y0, y1, y2 = responses[(k - 1) % S, torch.arange(responses.shape[1])], responses.max(0).values, \
        responses[(k + 1) % S, torch.arange(responses.shape[1])]
    denom = y0 - 2 * y1 + y2
    off = torch.where(denom.abs() > 1e-15, 0.5 * (y0 - y2) / denom, torch.zeros_like(denom))
    return (thetas[k] + off * (math.pi / S)) % math.pi


def mean_pairwise_correlation(cov: Tensor, mask: Tensor) -> float:
    """Mean off-diagonal correlation coefficient of the neurons in ``mask`` given a covariance."""
    cov = cov.detach()
    d = cov.diagonal().clamp_min(1e-300).sqrt()
    C = (cov / d[:, None] / d[None])[mask][:, mask]
    n = C.shape[0]
    if n < 2:
        raise ValueError("mask must select at least 2 neurons.")
    return float((C.sum() - C.diagonal().sum()) / (n * (n - 1)))


class GainControlPopulation(nn.Module):
    """Recurrent orientation population with analytically adapted single-neuron gains.

    Example:
        >>> pop = GainControlPopulation()
        >>> th, p = adapter_ensemble(math.pi / 2, fraction=0.3)
        >>> state = pop.adapt(th, p)                   # analytic efficient-coding gains
        >>> r, state = pop(th, state)                  # tuning curves (S, N)
    """

    def __init__(self, cfg: GainControlConfig = GainControlConfig(), device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.cfg = cfg
        kw = {"device": device, "dtype": dtype}
        phi = torch.arange(cfg.n_neurons, **kw) * (math.pi / cfg.n_neurons)
        D = torch.cos(2 * (phi[:, None] - phi[None]))
        W = torch.exp(cfg.recurrent_concentration * (D - 1))
        W.fill_diagonal_(0.0)
        rho = float(torch.linalg.eigvals(W).abs().max())
        W = W * (cfg.recurrent_radius / rho) if rho > 0 else W
        self.register_buffer("preferred", phi)
        self.W = nn.Parameter(W)  # fixed in the experiments; a parameter so it can be fitted to data

    def example_input(self, batch: int) -> Tensor:
        """``batch`` orientations (radians), for the zoo smoke test."""
        return torch.linspace(0, math.pi, batch + 1, dtype=self.W.dtype, device=self.W.device)[:batch]

    def bad_example_input(self, batch: int) -> Tensor:
        return torch.zeros(batch, 2, dtype=self.W.dtype, device=self.W.device)

    def initial_state(self, batch: int | None = None) -> GainState:
        """Unit gains."""
        return GainState(torch.ones_like(self.preferred))

    def feedforward(self, thetas: Tensor) -> Tensor:
        """Feedforward drive ``h (S, N)`` for orientations ``thetas (S,)`` in radians."""
        th = torch.as_tensor(thetas, dtype=self.W.dtype, device=self.W.device)
        if th.dim() != 1:
            raise ValueError(f"thetas must be a 1-d tensor of orientations (radians), got shape {tuple(th.shape)}.")
        return torch.exp(self.cfg.tuning_concentration * (torch.cos(2 * (th[:, None] - self.preferred[None])) - 1))

    def transfer(self, state: GainState) -> Tensor:
        """``M = (I - G W)^{-1} G``, so that ``r = M h`` (raises if ``G W`` is unstable)."""
        g = state.gains
        GW = g[:, None] * self.W
        if float(torch.linalg.eigvals(GW.detach()).abs().max()) >= 1.0:
            raise ValueError("the gains make the recurrent population unstable (spectral radius of G W >= 1); "
                             "lower recurrent_radius or the response power 1 / (2 activity_cost) - noise_var.")
        eye = torch.eye(len(g), dtype=g.dtype, device=g.device)
        return torch.linalg.solve(eye - GW, torch.diag(g))

    def forward(self, thetas: Tensor, state: GainState | None = None) -> tuple[Tensor, GainState]:
        """Steady-state responses ``(S, N)`` to ``thetas``; returns ``(r, state)``."""
        st = state or self.initial_state()
        return self.feedforward(thetas) @ self.transfer(st).T, st

    def adapt(self, thetas: Tensor, probs: Tensor, state: GainState | None = None) -> GainState:
        """Efficient-coding gains for the stimulus ensemble ``p(thetas)`` (damped analytic fixed point)."""
        p = torch.as_tensor(probs, dtype=self.W.dtype, device=self.W.device)
        H = self.feedforward(thetas)
        if p.shape != (H.shape[0],) or bool((p < 0).any()) or abs(float(p.sum()) - 1.0) > 1e-6:
            raise ValueError("probs must be non-negative, sum to 1 and have one entry per orientation.")
        g = (state or self.initial_state()).gains.clone()
        c = self.cfg.response_power
        with torch.no_grad():
            for _ in range(self.cfg.n_iterations):
                R = H @ self.transfer(GainState(g)).T
                Ey2 = (p[:, None] * (R / g) ** 2).sum(0)
                g = (1 - self.cfg.damping) * g + self.cfg.damping * torch.sqrt(c / Ey2)
        return GainState(g)

    def noise_covariance(self, state: GainState) -> Tensor:
        """Response covariance for i.i.d. unit-variance noise on the feedforward input: ``M M^T``."""
        M = self.transfer(state)
        return M @ M.T


@register_model("gain_control_population", family="dynamics",
                paper="Duong, Bredenberg, Heeger & Simoncelli 2023, Adaptive coding efficiency in recurrent cortical circuits via gain control")
def gain_control_population(n_neurons: int = 60, recurrent_radius: float = 0.7, activity_cost: float = 0.5,
                            noise_var: float = 0.1, device: torch.device | str | None = None,
                            dtype: torch.dtype | None = None) -> GainControlPopulation:
    """Recurrent orientation population whose gains follow the efficient-coding objective."""
    cfg = GainControlConfig(n_neurons=n_neurons, recurrent_radius=recurrent_radius, activity_cost=activity_cost,
                            noise_var=noise_var)
    return GainControlPopulation(cfg, device=device, dtype=dtype or torch.float64)
