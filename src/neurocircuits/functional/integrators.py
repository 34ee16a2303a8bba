"""Numerical integrators for neuron ODEs, chosen by name from a registry.

Every integrator advances a tuple of tensors ``y`` by ``dt`` given ``f(y) -> dy/dt`` (a tuple of the
same length). ``"exact"`` is registered too but is not generic: models whose equations are linear
(LIF, ALIF, exponential synapses) implement their own closed-form update and accept
``method="exact"``; asking a non-linear model for it raises a ``ValueError`` naming the valid methods.

    euler:  y' = y + dt f(y)
    rk2:    midpoint rule, y' = y + dt f(y + dt/2 f(y))
    rk4:    classic fourth-order Runge-Kutta
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from ..registry import Registry

Derivative = Callable[[tuple[Tensor, ...]], Sequence[Tensor]]
Integrator = Callable[[Derivative, tuple[Tensor, ...], float], tuple[Tensor, ...]]

INTEGRATORS: Registry[Integrator] = Registry("integrator")


def _axpy(y: Sequence[Tensor], k: Sequence[Tensor], h: float) -> tuple[Tensor, ...]:
    return tuple(a + h * b for a, b in zip(y, k))


@INTEGRATORS.register("euler", order=1)
def euler(f: Derivative, y: tuple[Tensor, ...], dt: float) -> tuple[Tensor, ...]:
    """Forward Euler step."""
    return _axpy(y, f(y), dt)


@INTEGRATORS.register("rk2", order=2)
def rk2(f: Derivative, y: tuple[Tensor, ...], dt: float) -> tuple[Tensor, ...]:
    """Explicit midpoint (second-order Runge-Kutta) step."""
    k1 = f(y)
    k2 = f(_axpy(y, k1, 0.5 * dt))
    return _axpy(y, k2, dt)


@INTEGRATORS.register("rk4", order=4)
def rk4(f: Derivative, y: tuple[Tensor, ...], dt: float) -> tuple[Tensor, ...]:
    """Classic fourth-order Runge-Kutta step."""
    k1 = f(y)
    k2 = f(_axpy(y, k1, 0.5 * dt))
    k3 = f(_axpy(y, k2, 0.5 * dt))
    k4 = f(_axpy(y, k3, dt))
    return tuple(a + dt / 6.0 * (b1 + 2.0 * b2 + 2.0 * b3 + b4) for a, b1, b2, b3, b4 in zip(y, k1, k2, k3, k4))


@INTEGRATORS.register("exact", order=None)
def exact(f: Derivative, y: tuple[Tensor, ...], dt: float) -> tuple[Tensor, ...]:
    """Placeholder for closed-form updates: only linear models implement ``method="exact"`` themselves."""
    raise ValueError(
        "the 'exact' integrator has no generic form: only models with linear equations (lif, alif) "
        "accept method='exact'; pick 'euler', 'rk2' or 'rk4' for this model."
    )


def integrate(method: str, f: Derivative, y: tuple[Tensor, ...], dt: float) -> tuple[Tensor, ...]:
    """Advance ``y`` by ``dt`` with the integrator registered as ``method``."""
    return INTEGRATORS.get(method)(f, y, dt)
