"""NCAP: the C. elegans locomotion circuit as an architectural prior, driving a planar swimmer.

Paper: Bhattasali, Zador & Engel 2022, "Neural circuit architectural priors for embodied control"
(NeurIPS). Our own implementation (no MuJoCo): a planar N-link swimmer in a viscous fluid under
resistive-force theory, and the NCAP circuit with E/I sign-constrained weights.

Circuit, per joint ``k = 1..J`` (``J = n_links - 1``), graded units ``g(z) = clip(z, 0, 1)``:

    head oscillator      o(t) = sign(sin(2 pi t / T)),  d = [o]+,  v = [-o]+
    B neurons (k = 1)    db_1 = g(w_osc d),              vb_1 = g(w_osc v)
    B neurons (k > 1)    db_k = g(w_prop,k [theta_{k-1}]+ / theta_max), vb_k = g(w_prop,k [-theta_{k-1}]+ / theta_max)
    muscles              md_k = g(w_exc,k db_k + w_inh,k vb_k),  mv_k = g(w_exc,k vb_k + w_inh,k db_k)
    joint command        a_k = md_k - mv_k

with ``w_osc, w_prop, w_exc >= 0`` (excitatory: cholinergic B neurons, proprioceptive coupling)
and ``w_inh <= 0`` (GABAergic D-neuron cross-inhibition), each written ``sign * |raw|``. With
``signed=False`` the weights are the raw values (no constraint).

Swimmer: links of length ``L`` with absolute angles ``phi_k``, joint angles
``theta_k = phi_k - phi_{k-1}`` following ``dtheta/dt = (theta_max a - theta) / tau``. Each link's
centre velocity ``c'_k`` is linear in ``q' = (head velocity, dphi_0/dt, dtheta/dt)``; the fluid
force on it is ``F_k = -L (c_t (c'.u)u + c_n (c'.n)n)`` (``c_n > c_t``: drag anisotropy enables
thrust) plus a rotational drag torque ``-c_n L^3 phi'_k / 12``. Inertia-free (Stokes) swimming:
total force and torque vanish, a 3x3 linear solve for the rigid-body velocities, integrated with
the explicit midpoint rule (with isotropic drag the centre of mass stays put up to O(dt^2)).
Reward: displacement of the centre of mass towards the head's initial heading.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ._registry import register_model

_PAPER = "Bhattasali, Zador & Engel 2022, Neural circuit architectural priors for embodied control (NeurIPS)"


# -- swimmer ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SwimmerConfig:
    """Planar resistive-force-theory swimmer (lengths in body-link units, times in seconds)."""

    n_links: int = 6
    link_length: float = 1.0
    drag_tangential: float = 1.0
    drag_normal: float = 3.0
    theta_max_rad: float = 1.0
    tau_muscle_s: float = 0.1
    dt_s: float = 0.02

    def __post_init__(self) -> None:
        if self.n_links < 2:
            raise ValueError(f"n_links must be >= 2 (a swimmer needs a joint), got {self.n_links}.")
        if self.drag_normal <= 0 or self.drag_tangential <= 0:
            raise ValueError("drag coefficients must be > 0.")
        if self.dt_s <= 0 or self.tau_muscle_s <= 0:
            raise ValueError("dt_s and tau_muscle_s must be > 0.")


class SwimmerState(NamedTuple):
    head: torch.Tensor   # [batch, 2]
    phi0: torch.Tensor   # [batch]
    theta: torch.Tensor  # [batch, J]


def swimmer_initial_state(cfg: SwimmerConfig, batch: int, dtype: torch.dtype = torch.float64) -> SwimmerState:
    """A straight body along +x with the head at the origin (so 'forward' is -x)."""
    return SwimmerState(torch.zeros(batch, 2, dtype=dtype), torch.zeros(batch, dtype=dtype),
                        torch.zeros(batch, cfg.n_links - 1, dtype=dtype))


def _link_geometry(cfg: SwimmerConfig, s: SwimmerState) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    phi = torch.cat([s.phi0[:, None], s.phi0[:, None] + torch.cumsum(s.theta, dim=1)], dim=1)  # [B, N]
    u = torch.stack([torch.cos(phi), torch.sin(phi)], dim=-1)   # [B, N, 2]
    n = torch.stack([-torch.sin(phi), torch.cos(phi)], dim=-1)
    L = cfg.link_length
    starts = torch.cat([torch.zeros_like(u[:, :1]), torch.cumsum(L * u, dim=1)[:, :-1]], dim=1)
    centres = s.head[:, None, :] + starts + 0.5 * L * u          # [B, N, 2]
    return phi, u, n, centres


def centre_of_mass(cfg: SwimmerConfig, s: SwimmerState) -> torch.Tensor:
    return _link_geometry(cfg, s)[3].mean(dim=1)


def swimmer_velocities(cfg: SwimmerConfig, s: SwimmerState, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rigid-body velocities ``[B, 3]`` (head vx, vy, dphi0/dt) and joint rates ``[B, J]``."""
    B, N, L = s.theta.shape[0], cfg.n_links, cfg.link_length
    theta_dot = (cfg.theta_max_rad * action.clamp(-1, 1) - s.theta) / cfg.tau_muscle_s
    phi, u, n, centres = _link_geometry(cfg, s)
    rel = centres - s.head[:, None, :]                           # lever arms about the head
    # Jacobian of link-centre velocity w.r.t. q' = (vx, vy, omega, theta_dot_1..J): [B, N, 2, 3+J]
    nq = 3 + (N - 1)
    jac = torch.zeros(B, N, 2, nq, dtype=s.theta.dtype)
    jac[:, :, 0, 0] = 1.0
    jac[:, :, 1, 1] = 1.0
    # d(centre_k)/d(phi_j) = L n_j for j < k, L/2 n_k for j = k
    weight = torch.tril(torch.ones(N, N, dtype=s.theta.dtype), diagonal=-1) * L + torch.eye(N, dtype=s.theta.dtype) * (L / 2)
    dc_dphi = weight[None, :, :, None] * n[:, None, :, :]        # [B, k, j, 2]
    # phi_j depends on omega (all j) and theta_m for m <= j (theta index m = 1..J -> column 3 + m - 1)
    dphi_dq = torch.zeros(N, nq, dtype=s.theta.dtype)
    dphi_dq[:, 2] = 1.0
    for m in range(1, N):
        dphi_dq[m:, 3 + m - 1] = 1.0
    jac = jac + torch.einsum("bkjd,jq->bkdq", dc_dphi, dphi_dq)
    drag = cfg.drag_tangential * u[..., :, None] * u[..., None, :] + cfg.drag_normal * n[..., :, None] * n[..., None, :]
    force = -L * torch.einsum("bkde,bkeq->bkdq", drag, jac)       # [B, N, 2, nq] force per unit q'
    torque = rel[..., 0, None] * force[..., 1, :] - rel[..., 1, None] * force[..., 0, :]  # [B, N, nq]
    torque = torque - cfg.drag_normal * L ** 3 / 12.0 * dphi_dq[None]
    total = torch.cat([force.sum(dim=1), torque.sum(dim=1)[:, None, :]], dim=1)  # [B, 3, nq]
    rigid = torch.linalg.solve(total[:, :, :3], -(total[:, :, 3:] @ theta_dot[..., None]))[..., 0]  # [B, 3]
    return rigid, theta_dot


def swimmer_step(cfg: SwimmerConfig, s: SwimmerState, action: torch.Tensor) -> SwimmerState:
    """Advance by ``dt_s`` with joint commands ``action`` in [-1, 1] (``[batch, J]``, held over
    the step); explicit midpoint (RK2) integration, so the error is O(dt^2)."""
    dt = cfg.dt_s

    def moved(base: SwimmerState, rigid: torch.Tensor, theta_dot: torch.Tensor, h: float) -> SwimmerState:
        return SwimmerState(base.head + h * rigid[:, :2], base.phi0 + h * rigid[:, 2], base.theta + h * theta_dot)

    mid = moved(s, *swimmer_velocities(cfg, s, action), 0.5 * dt)
    return moved(s, *swimmer_velocities(cfg, mid, action), dt)


# -- NCAP circuit ---------------------------------------------------------------------------------------
class NCAPState(NamedTuple):
    t_s: torch.Tensor  # [batch] time since start


def ncap_n_params(n_joints: int) -> int:
    """1 oscillator weight + (J - 1) proprioceptive + J excitatory + J inhibitory muscle weights."""
    return 1 + (n_joints - 1) + 2 * n_joints


def ncap_action(params: torch.Tensor, theta: torch.Tensor, t_s: torch.Tensor, theta_max_rad: float,
                period_s: float, signed: bool = True) -> torch.Tensor:
    """Pure NCAP step: joint commands ``[B, J]`` from flat params ``[B, P]`` (see the module docstring)."""
    J = theta.shape[1]
    if params.shape[-1] != ncap_n_params(J):
        raise ValueError(f"NCAP with {J} joints needs {ncap_n_params(J)} parameters, got {params.shape[-1]}.")
    w = params.abs() if signed else params
    w_osc, w_prop = w[:, :1], w[:, 1:J]
    w_exc, w_inh = w[:, J:2 * J], w[:, 2 * J:]
    if signed:
        w_inh = -w_inh
    g = lambda z: z.clamp(0.0, 1.0)  # noqa: E731
    o = torch.sign(torch.sin(2 * math.pi * t_s / period_s))[:, None]
    bend = theta[:, :-1] / theta_max_rad
    db = torch.cat([g(w_osc * o.clamp_min(0)), g(w_prop * bend.clamp_min(0))], dim=1)
    vb = torch.cat([g(w_osc * (-o).clamp_min(0)), g(w_prop * (-bend).clamp_min(0))], dim=1)
    md = g(w_exc * db + w_inh * vb)
    mv = g(w_exc * vb + w_inh * db)
    return md - mv


class NCAP(nn.Module):
    """NCAP controller as a module: ``forward(theta, state) -> (joint commands, state)``.

    ``theta`` is ``[batch, J]`` joint angles; the state carries time for the head oscillator.
    """

    def __init__(self, n_joints: int = 5, period_s: float = 1.0, theta_max_rad: float = 1.0, signed: bool = True,
                 dt_s: float = 0.02, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if n_joints < 1 or period_s <= 0:
            raise ValueError("n_joints must be >= 1 and period_s > 0.")
        self.n_joints, self.period_s, self.theta_max_rad, self.signed, self.dt_s = n_joints, period_s, theta_max_rad, signed, dt_s
        self.params = nn.Parameter(torch.ones(ncap_n_params(n_joints), device=device, dtype=dtype or torch.float64))

    def initial_state(self, batch: int) -> NCAPState:
        return NCAPState(torch.zeros(batch, dtype=self.params.dtype, device=self.params.device))

    def example_input(self, batch: int) -> torch.Tensor:
        """Joint angles ``[batch, n_joints]`` (a valid input for ``forward``)."""
        return 0.3 * torch.randn(batch, self.n_joints, dtype=self.params.dtype, device=self.params.device)

    def forward(self, theta: torch.Tensor, state: NCAPState | None = None) -> tuple[torch.Tensor, NCAPState]:
        if theta.dim() != 2 or theta.shape[1] != self.n_joints:
            raise ValueError(f"NCAP expects joint angles [batch, {self.n_joints}], got {tuple(theta.shape)}.")
        state = self.initial_state(theta.shape[0]) if state is None else state
        p = self.params[None].expand(theta.shape[0], -1)
        a = ncap_action(p, theta, state.t_s, self.theta_max_rad, self.period_s, self.signed)
        return a, NCAPState(state.t_s + self.dt_s)


@register_model("ncap_swimmer", family="connectome", paper=_PAPER)
def ncap_swimmer(n_joints: int = 5, period_s: float = 1.0, signed: bool = True, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> NCAP:
    """The NCAP locomotion circuit for an ``n_joints + 1``-link swimmer."""
    return NCAP(n_joints, period_s=period_s, signed=signed, device=device, dtype=dtype)


# -- MLP baseline and episodes --------------------------------------------------------------------------
def mlp_n_params(n_joints: int, hidden: int) -> int:
    return (n_joints + 2) * hidden + hidden + hidden * n_joints + n_joints


def mlp_action(params: torch.Tensor, theta: torch.Tensor, t_s: torch.Tensor, period_s: float, hidden: int) -> torch.Tensor:
    """Batched MLP controller: (sin, cos of the oscillator phase, joint angles) -> tanh -> commands."""
    B, J = theta.shape
    i = 0

    def take(*shape: int) -> torch.Tensor:
        nonlocal i
        size = math.prod(shape)
        out = params[:, i:i + size].reshape(B, *shape)
        i += size
        return out

    w1, b1, w2, b2 = take(J + 2, hidden), take(hidden), take(hidden, J), take(J)
    phase = 2 * math.pi * t_s / period_s
    x = torch.cat([torch.sin(phase)[:, None], torch.cos(phase)[:, None], theta], dim=1)
    h = torch.tanh(torch.einsum("bi,bih->bh", x, w1) + b1)
    return torch.tanh(torch.einsum("bh,bhj->bj", h, w2) + b2)


def swim_distance(controller: str, params: torch.Tensor, cfg: SwimmerConfig = SwimmerConfig(), duration_s: float = 4.0,
                  period_s: float = 1.0, hidden: int = 16, signed: bool = True) -> torch.Tensor:
    """Forward displacement (towards the initial head direction) of a population of controllers.

    Args:
        controller: ``"ncap"`` or ``"mlp"``.
        params: ``[B, P]`` flat parameters, one row per candidate.
    """
    if controller not in ("ncap", "mlp"):
        raise ValueError(f"controller must be 'ncap' or 'mlp', not {controller!r}.")
    params = params.to(torch.float64)
    s = swimmer_initial_state(cfg, params.shape[0])
    start = centre_of_mass(cfg, s)
    t = torch.zeros(params.shape[0], dtype=torch.float64)
    for _ in range(int(round(duration_s / cfg.dt_s))):
        if controller == "ncap":
            a = ncap_action(params, s.theta, t, cfg.theta_max_rad, period_s, signed)
        else:
            a = mlp_action(params, s.theta, t, period_s, hidden)
        s = swimmer_step(cfg, s, a)
        t = t + cfg.dt_s
    if not torch.isfinite(s.head).all():
        raise FloatingPointError("swimmer simulation diverged; lower dt_s or raise tau_muscle_s.")
    return -(centre_of_mass(cfg, s)[:, 0] - start[:, 0])


def evolve(controller: str, n_params: int, iterations: int = 40, population: int = 24, sigma: float = 0.1,
           lr: float = 0.05, init_std: float = 0.5, seed: int = 0, **episode: object) -> tuple[torch.Tensor, list[float]]:
    """OpenAI-style evolution strategy (antithetic, rank-normalised, Adam) on :func:`swim_distance`.

    Returns the final mean parameters and the distance of the mean after every iteration.
    """
    if population % 2:
        raise ValueError(f"population must be even (antithetic pairs), got {population}.")
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(n_params, generator=gen, dtype=torch.float64) * init_std
    m = torch.zeros_like(theta)
    v = torch.zeros_like(theta)
    history = []
    for it in range(1, iterations + 1):
        eps = torch.randn(population // 2, n_params, generator=gen, dtype=torch.float64)
        eps = torch.cat([eps, -eps])
        cand = theta[None] + sigma * eps
        scores = swim_distance(controller, torch.cat([cand, theta[None]]), **episode)  # type: ignore[arg-type]
        history.append(float(scores[-1]))
        ranks = torch.argsort(torch.argsort(scores[:-1])).to(torch.float64)
        util = ranks / (population - 1) - 0.5
        grad = (util[:, None] * eps).sum(0) / (population * sigma)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad ** 2
        theta = theta + lr * (m / (1 - 0.9 ** it)) / (torch.sqrt(v / (1 - 0.999 ** it)) + 1e-8)
    history.append(float(swim_distance(controller, theta[None], **episode)[0]))  # type: ignore[arg-type]
    return theta, history
