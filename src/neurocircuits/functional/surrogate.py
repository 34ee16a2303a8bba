"""Surrogate-gradient spike functions (Neftci, Mostafa & Zenke 2019; Zenke & Ganguli 2018).

The forward pass of every spike function is the Heaviside step of the distance to threshold,
``s = H(x)`` with ``x = v - v_th``. The backward pass replaces the Dirac delta ``dH/dx`` by the
derivative of a smooth primitive ``F_alpha(x)`` whose sharpness is ``alpha``:

=================  ===============================================  =========================
name               dF/dx                                            dF/dalpha
=================  ===============================================  =========================
fast_sigmoid       1 / (1 + alpha |x|)^2           (SuperSpike)     -x |x| / (1 + alpha |x|)^2
atan               (alpha/2) / (1 + (pi alpha x / 2)^2)            (x/2) / (1 + (pi alpha x/2)^2)
triangle           alpha * max(0, 1 - alpha |x|)                    x (1 - alpha |x|) on the support
sigmoid            alpha * s (1 - s),  s = sigmoid(alpha x)         x * s (1 - s)
straight_through   1                                                0
=================  ===============================================  =========================

Each name is a :class:`torch.autograd.Function` registered in :data:`SURROGATES`. ``alpha`` may be a
Python float or a tensor; when it is a tensor that requires grad (the learnable-slope variant of
Fang et al. 2021 / Perez-Nieves 2021), it receives ``sum(grad_out * dF/dalpha)`` so the slope is
trained with the rest of the network (see :class:`LearnableSurrogate`).

The same derivatives are exposed as plain functions (:func:`surrogate_derivative`) for the fused
multi-step LIF, whose hand-written backward needs them without building an autograd graph.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..registry import Registry

DerivFn = Callable[[Tensor, float | Tensor], Tensor]


@dataclass(frozen=True)
class SurrogateSpec:
    """A surrogate: its name, default sharpness, ``dF/dx`` and ``dF/dalpha``."""

    name: str
    default_alpha: float
    dx: DerivFn
    dalpha: DerivFn
    function: type[torch.autograd.Function]


SURROGATES: Registry[SurrogateSpec] = Registry("surrogate")


def _fast_sigmoid_dx(x: Tensor, a: float | Tensor) -> Tensor:
    if isinstance(a, Tensor):
        return 1.0 / (1.0 + a * x.abs()) ** 2
    y = x.abs().mul_(a).add_(1.0)  # one temporary, then in place
    return y.mul_(y).reciprocal_()


def _fast_sigmoid_da(x: Tensor, a: float | Tensor) -> Tensor:
    return -x * x.abs() / (1.0 + a * x.abs()) ** 2


def _atan_dx(x: Tensor, a: float | Tensor) -> Tensor:
    if isinstance(a, Tensor):
        return (a / 2.0) / (1.0 + (math.pi / 2.0 * a * x) ** 2)
    return _atan_dx_(x * (math.pi / 2.0 * a), 1.0, a / 2.0)


def _atan_dx_(y: Tensor, scale: float, half_a: float) -> Tensor:
    """In place on a temporary ``y = k x``: ``half_a / (1 + y^2)``."""
    if scale != 1.0:
        y.mul_(scale)
    return y.mul_(y).add_(1.0).reciprocal_().mul_(half_a)


def _atan_da(x: Tensor, a: float | Tensor) -> Tensor:
    return (x / 2.0) / (1.0 + (math.pi / 2.0 * a * x) ** 2)


def _triangle_dx(x: Tensor, a: float | Tensor) -> Tensor:
    return a * torch.clamp(1.0 - a * x.abs(), min=0.0)


def _triangle_da(x: Tensor, a: float | Tensor) -> Tensor:
    inside = (a * x.abs() < 1.0).to(x.dtype)
    return x * (1.0 - a * x.abs()) * inside


def _sigmoid_dx(x: Tensor, a: float | Tensor) -> Tensor:
    s = torch.sigmoid(a * x)
    return a * s * (1.0 - s)


def _sigmoid_da(x: Tensor, a: float | Tensor) -> Tensor:
    s = torch.sigmoid(a * x)
    return x * s * (1.0 - s)


def _ste_dx(x: Tensor, a: float | Tensor) -> Tensor:
    return torch.ones_like(x)


def _ste_da(x: Tensor, a: float | Tensor) -> Tensor:
    return torch.zeros_like(x)


def _make_function(name: str, dx: DerivFn, da: DerivFn) -> type[torch.autograd.Function]:
    """Build the autograd.Function of one surrogate (Heaviside forward, ``dx`` backward)."""

    class _Spike(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x: Tensor, alpha: float | Tensor) -> Tensor:  # type: ignore[override]
            ctx.alpha_is_tensor = isinstance(alpha, Tensor)
            if ctx.alpha_is_tensor:
                ctx.save_for_backward(x, alpha)
            else:
                ctx.save_for_backward(x)
                ctx.alpha = alpha
            return (x >= 0).to(x.dtype)

        @staticmethod
        def backward(ctx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
            if ctx.alpha_is_tensor:
                x, alpha = ctx.saved_tensors
            else:
                (x,) = ctx.saved_tensors
                alpha = ctx.alpha
            grad_x = grad_out * dx(x, alpha) if ctx.needs_input_grad[0] else None
            grad_a = None
            if ctx.alpha_is_tensor and ctx.needs_input_grad[1]:
                g = grad_out * da(x, alpha)
                grad_a = _sum_to(g, alpha.shape)
            return grad_x, grad_a

    cls_name = "".join(p.capitalize() for p in name.split("_")) + "Spike"
    _Spike.__name__ = _Spike.__qualname__ = cls_name
    _Spike.__doc__ = f"Heaviside spike with the {name!r} surrogate gradient."
    return _Spike


def _sum_to(g: Tensor, shape: torch.Size) -> Tensor:
    """Sum a broadcast gradient back to ``shape``."""
    if g.shape == shape:
        return g
    while g.dim() > len(shape):
        g = g.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdim=True)
    return g


def register_surrogate(name: str, default_alpha: float, dx: DerivFn, dalpha: DerivFn) -> SurrogateSpec:
    """Register a new surrogate from its ``dF/dx`` and ``dF/dalpha``; returns its spec."""
    spec = SurrogateSpec(name, default_alpha, dx, dalpha, _make_function(name, dx, dalpha))
    SURROGATES.add(name, spec)
    return spec


FastSigmoidSpike = register_surrogate("fast_sigmoid", 25.0, _fast_sigmoid_dx, _fast_sigmoid_da).function
AtanSpike = register_surrogate("atan", 2.0, _atan_dx, _atan_da).function
TriangleSpike = register_surrogate("triangle", 1.0, _triangle_dx, _triangle_da).function
SigmoidSpike = register_surrogate("sigmoid", 4.0, _sigmoid_dx, _sigmoid_da).function
StraightThroughSpike = register_surrogate("straight_through", 1.0, _ste_dx, _ste_da).function


def get_surrogate(name: str) -> SurrogateSpec:
    """The registered surrogate ``name`` (raises :class:`UnknownNameError` listing valid names)."""
    return SURROGATES.get(name)


def list_surrogates() -> list[str]:
    """Names of the registered surrogates."""
    return SURROGATES.names()


def spike(x: Tensor, surrogate: str = "atan", alpha: float | Tensor | None = None) -> Tensor:
    """Heaviside spike of ``x = v - v_th`` with the named surrogate gradient.

    Args:
        x: distance of the membrane potential to threshold, any shape.
        surrogate: a name from :func:`list_surrogates`.
        alpha: sharpness; ``None`` uses the surrogate's default. A tensor requiring grad is learned.

    Returns:
        ``(x >= 0)`` as ``x.dtype``.
    """
    spec = SURROGATES.get(surrogate)
    return spec.function.apply(x, spec.default_alpha if alpha is None else alpha)


def surrogate_derivative_inplace(x: Tensor, surrogate: str, alpha: float) -> Tensor:
    """``dF/dx`` computed in place on ``x``, a temporary the caller gives up (saves one allocation)."""
    if surrogate == "atan":
        return _atan_dx_(x, math.pi / 2.0 * alpha, alpha / 2.0)
    if surrogate == "fast_sigmoid":
        return x.abs_().mul_(alpha).add_(1.0).square_().reciprocal_()
    return SURROGATES.get(surrogate).dx(x, alpha)


def surrogate_grad_inplace(x: Tensor, grad: Tensor, surrogate: str, alpha: float) -> Tensor:
    """``grad * dF/dx`` computed in place on ``x``, a temporary the caller gives up.

    The fused multi-step LIF needs only this product when nothing else reuses ``dF/dx``; for
    ``atan`` it is ``grad / (1 + (pi alpha x / 2)^2) * alpha / 2``, three passes over ``x`` instead of
    seven (same value up to rounding). Other surrogates multiply their in-place derivative by ``grad``.
    """
    if surrogate == "atan":
        k = math.pi / 2.0 * alpha
        torch.addcmul(x.new_ones(()), x, x, value=k * k, out=x)  # 1 + (k x)^2
        torch.div(grad, x, out=x)
        return x if alpha == 2.0 else x.mul_(alpha / 2.0)
    return surrogate_derivative_inplace(x, surrogate, alpha).mul_(grad)


def surrogate_derivative(x: Tensor, surrogate: str = "atan", alpha: float | Tensor | None = None) -> Tensor:
    """``dF/dx`` of the named surrogate at ``x`` (no autograd graph needed)."""
    spec = SURROGATES.get(surrogate)
    return spec.dx(x, spec.default_alpha if alpha is None else alpha)


def heaviside(x: Tensor) -> Tensor:
    """Plain Heaviside ``(x >= 0)`` with no gradient (for simulation)."""
    return (x >= 0).to(x.dtype)


class LearnableSurrogate(nn.Module):
    """A surrogate whose sharpness ``alpha`` is a trained parameter (learnable-slope variant).

    Args:
        surrogate: a registered surrogate name.
        alpha: initial sharpness (default: the surrogate's default).
    """

    def __init__(self, surrogate: str = "atan", alpha: float | None = None) -> None:
        super().__init__()
        spec = SURROGATES.get(surrogate)
        self.surrogate = surrogate
        self.alpha = nn.Parameter(torch.tensor(float(spec.default_alpha if alpha is None else alpha)))

    def forward(self, x: Tensor) -> Tensor:
        return spike(x, self.surrogate, self.alpha)

    def extra_repr(self) -> str:
        return f"surrogate={self.surrogate!r}, alpha={float(self.alpha):.3g}"
