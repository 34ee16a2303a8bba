"""Oscillator and neural-mass dynamics as pure step functions ``step(x, state, params, dt)``.

Models and equations:
    * Kuramoto phase oscillators (Kuramoto 1975; Strogatz 2000, "From Kuramoto to Crawford")::

          d theta_i / dt = omega_i + sum_j K_ij sin(theta_j - theta_i)

      with all-to-all coupling ``K_ij = K / N`` this is ``omega_i + K R sin(psi - theta_i)`` where
      ``R e^{i psi} = mean_j e^{i theta_j}`` is the order parameter. For Lorentzian/Gaussian natural
      frequencies with density ``g``, incoherence loses stability at ``K_c = 2 / (pi g(0))``.
    * Generalised (vector) Kuramoto update of Artificial Kuramoto Oscillatory Neurons (Miyato et al.
      2025, ICLR, "Artificial Kuramoto Oscillatory Neurons"). Each oscillator is a unit vector
      ``x_i`` in R^n::

          dx_i / dt = Omega_i x_i + P_{x_i}(c_i + sum_j J_ij x_j),   P_x(y) = y - <y, x> x

      with ``Omega_i`` antisymmetric (natural rotation) and ``c_i`` the conditional stimulus; after an
      Euler step the vector is renormalised to the sphere. Written from the paper's equations.
    * Wilson-Cowan E/I neural mass (Wilson & Cowan 1972, Biophys. J. 12:1)::

          tau_E dE/dt = -E + (k_E - r_E E) S_E(c_EE E - c_EI I + P)
          tau_I dI/dt = -I + (k_I - r_I I) S_I(c_IE E - c_II I + Q)
          S(x) = 1 / (1 + exp(-a (x - theta))) - 1 / (1 + exp(a theta))

      ``E`` and ``I`` may be vectors (a metapopulation) coupled through a connectivity matrix that
      adds ``G @ E`` to the excitatory input.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .maps import DivergenceError as DivergenceError
from .maps import check_finite

__all__ = [
    "KuramotoParams",
    "kuramoto_step",
    "order_parameter",
    "akorn_step",
    "project_tangent",
    "WilsonCowanParams",
    "WilsonCowanState",
    "wilson_cowan_step",
    "wc_sigmoid",
    "simulate_kuramoto",
]


class KuramotoParams(NamedTuple):
    """Kuramoto parameters.

    Attributes:
        omega: natural frequencies (rad / time unit), shape ``(..., N)``.
        coupling: scalar ``K`` (all-to-all, normalised by N), a tensor of shape ``(..., 1)`` (one
            all-to-all coupling per batch row, e.g. a sweep over K) or a matrix ``K_ij`` of shape (N, N).
    """

    omega: Tensor
    coupling: float | Tensor = 1.0


def order_parameter(theta: Tensor, dim: int = -1) -> tuple[Tensor, Tensor]:
    """Kuramoto order parameter ``R e^{i psi} = mean_j e^{i theta_j}``.

    Returns:
        ``(R, psi)`` reduced over ``dim``.
    """
    c, s = torch.cos(theta).mean(dim), torch.sin(theta).mean(dim)
    return torch.sqrt(c * c + s * s), torch.atan2(s, c)


def kuramoto_step(
    theta: Tensor, state: None, params: KuramotoParams, dt: float
) -> tuple[Tensor, None]:
    """One explicit-Euler step of the Kuramoto model (phases are not wrapped).

    Args:
        theta: phases, shape ``(..., N)``.
        state: unused (phases are the state); kept for the common step signature.
        params: :class:`KuramotoParams`.
        dt: time step.
    """
    K = params.coupling
    n = theta.shape[-1]
    if isinstance(K, Tensor) and K.dim() >= 2 and K.shape[-2:] == (n, n) and n > 1:
        # sum_j K_ij sin(theta_j - theta_i) = cos(theta_i) (K sin theta)_i - sin(theta_i) (K cos theta)_i
        s, c = torch.sin(theta), torch.cos(theta)
        drive = torch.cos(theta) * (s @ K.transpose(-1, -2)) - torch.sin(theta) * (c @ K.transpose(-1, -2))
    else:
        R, psi = order_parameter(theta)
        drive = K * R.unsqueeze(-1) * torch.sin(psi.unsqueeze(-1) - theta)
    return theta + dt * (params.omega + drive), None


def simulate_kuramoto(
    theta0: Tensor, params: KuramotoParams, dt: float, n_steps: int, record_every: int = 1
) -> Tensor:
    """Integrate the Kuramoto model; return the phases every ``record_every`` steps.

    Raises:
        DivergenceError: if the phases become NaN/inf (names the step and parameters).
    """
    theta = theta0
    out = []
    for t in range(n_steps):
        theta, _ = kuramoto_step(theta, None, params, dt)
        if t % record_every == 0:
            check_finite(theta, t, "kuramoto_step", {"coupling": params.coupling, "dt": dt})
            out.append(theta)
    return torch.stack(out)


def project_tangent(y: Tensor, x: Tensor, dim: int = -1) -> Tensor:
    """Project ``y`` onto the tangent space of the unit sphere at ``x``: ``y - <y, x> x``."""
    return y - (y * x).sum(dim, keepdim=True) * x


def akorn_step(
    x: Tensor,
    coupling_input: Tensor,
    stimulus: Tensor,
    omega: Tensor | None,
    gamma: float,
    dim: int = -1,
) -> tuple[Tensor, Tensor]:
    """One generalised-Kuramoto update of unit-vector oscillators (AKOrN).

    Args:
        x: oscillators, unit vectors along ``dim`` (e.g. ``(batch, units, n)`` or
            ``(batch, units, n, H, W)`` with ``dim=2``).
        coupling_input: ``sum_j J_ij x_j`` already computed by the caller (linear or conv coupling).
        stimulus: conditional stimulus ``c_i`` (same shape as ``x``).
        omega: natural-frequency generators: an antisymmetric ``(n, n)`` matrix (or ``None``).
        gamma: step size.
        dim: the oscillator-vector dimension.

    Returns:
        ``(x_new, energy)`` where ``energy = -sum_i <x_i, c_i + 1/2 (J x)_i>`` per batch element
        before the step: the Lyapunov function of the omega-free dynamics when ``J`` is symmetric.
    """
    y = coupling_input + stimulus
    energy = -(x * (stimulus + 0.5 * coupling_input)).flatten(1).sum(-1)
    dx = project_tangent(y, x, dim)
    if omega is not None:
        xm = x.movedim(dim, -1)
        dx = dx + (xm @ omega.transpose(-1, -2)).movedim(-1, dim)
    x_new = x + gamma * dx
    x_new = x_new / x_new.norm(dim=dim, keepdim=True).clamp_min(1e-12)
    return x_new, energy


class WilsonCowanParams(NamedTuple):
    """Wilson-Cowan parameters (defaults: Wilson & Cowan 1972 limit-cycle set with P = 1.25)."""

    c_ee: float = 16.0
    c_ei: float = 12.0
    c_ie: float = 15.0
    c_ii: float = 3.0
    a_e: float = 1.3
    theta_e: float = 4.0
    a_i: float = 2.0
    theta_i: float = 3.7
    r_e: float = 1.0
    r_i: float = 1.0
    tau_e_ms: float = 8.0
    tau_i_ms: float = 8.0
    P: float | Tensor = 1.25
    Q: float | Tensor = 0.0


class WilsonCowanState(NamedTuple):
    E: Tensor
    I: Tensor  # noqa: E741


def wc_sigmoid(x: Tensor, a: float, theta: float) -> Tensor:
    """Wilson-Cowan sigmoid shifted so that ``S(0) = 0``."""
    return torch.sigmoid(a * (x - theta)) - 1.0 / (1.0 + math.exp(a * theta))


def wilson_cowan_step(
    x: Tensor | float,
    state: WilsonCowanState,
    params: WilsonCowanParams,
    dt: float,
    connectivity: Tensor | None = None,
) -> tuple[Tensor, WilsonCowanState]:
    """One Euler step of Wilson-Cowan E/I nodes (``dt`` in ms).

    Args:
        x: extra excitatory input (added to ``P``), broadcastable to ``state.E``.
        state: ``(E, I)`` activities of shape ``(..., n_nodes)``.
        params: :class:`WilsonCowanParams`.
        dt: time step in ms.
        connectivity: optional ``(n_nodes, n_nodes)`` long-range E->E coupling ``G``.

    Returns:
        ``(E', WilsonCowanState(E', I'))``.
    """
    E, I = state  # noqa: E741
    p = params
    inp_e = p.c_ee * E - p.c_ei * I + p.P + x
    if connectivity is not None:
        inp_e = inp_e + E @ connectivity.transpose(-1, -2)
    inp_i = p.c_ie * E - p.c_ii * I + p.Q
    # Saturation constants k = 1 - 1/(1+exp(a theta)) keep E and I in [0, k].
    k_e = 1.0 - 1.0 / (1.0 + math.exp(p.a_e * p.theta_e))
    k_i = 1.0 - 1.0 / (1.0 + math.exp(p.a_i * p.theta_i))
    dE = (-E + (k_e - p.r_e * E) * wc_sigmoid(inp_e, p.a_e, p.theta_e)) / p.tau_e_ms
    dI = (-I + (k_i - p.r_i * I) * wc_sigmoid(inp_i, p.a_i, p.theta_i)) / p.tau_i_ms
    E_new, I_new = E + dt * dE, I + dt * dI
    return E_new, WilsonCowanState(E_new, I_new)
