"""Symbolic primitives and the affine fit ``y ~ c f(a x + b) + d`` used by KAN symbolic regression.

Each primitive has a torch function, a sympy builder and a complexity (lower is simpler). The fit
searches ``(a, b)`` on a grid, zooms in around the best cell a few times, and solves ``(c, d)`` by
linear least squares; the quality is the coefficient of determination ``R^2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ...registry import Registry


@dataclass(frozen=True)
class Primitive:
    """A symbolic building block ``f`` with its torch and sympy forms and a complexity score."""

    name: str
    fn: Callable[[Tensor], Tensor]
    sympy: Callable[[Any], Any]
    complexity: float


SYMBOLIC_LIB: Registry[Primitive] = Registry("symbolic primitive")


def _sym(name: str, fn: Callable[[Tensor], Tensor], sp: Callable[[Any], Any], complexity: float) -> None:
    SYMBOLIC_LIB.add(name, Primitive(name, fn, sp, complexity))


def _sympy() -> Any:
    import sympy

    return sympy


_sym("x", lambda x: x, lambda s: s, 1)
_sym("x^2", lambda x: x**2, lambda s: s**2, 2)
_sym("x^3", lambda x: x**3, lambda s: s**3, 3)
_sym("x^4", lambda x: x**4, lambda s: s**4, 3)
_sym("1/x", lambda x: 1 / torch.where(x.abs() < 1e-3, torch.full_like(x, 1e-3) * torch.sign(x + 1e-12), x),
     lambda s: 1 / s, 2)
_sym("sqrt", lambda x: torch.sqrt(x.clamp(min=0) + 1e-12), lambda s: _sympy().sqrt(s), 2)
_sym("exp", lambda x: torch.exp(x.clamp(max=30)), lambda s: _sympy().exp(s), 2)
_sym("log", lambda x: torch.log(x.clamp(min=1e-6)), lambda s: _sympy().log(s), 2)
_sym("sin", torch.sin, lambda s: _sympy().sin(s), 2)
_sym("tanh", torch.tanh, lambda s: _sympy().tanh(s), 3)
_sym("abs", torch.abs, lambda s: _sympy().Abs(s), 3)
_sym("gaussian", lambda x: torch.exp(-(x**2)), lambda s: _sympy().exp(-(s**2)), 3)
_sym("0", lambda x: torch.zeros_like(x), lambda s: 0, 0)

DEFAULT_LIB = ("x", "x^2", "x^3", "x^4", "1/x", "sqrt", "exp", "log", "sin", "tanh", "abs", "gaussian")


@dataclass(frozen=True)
class SymbolicFit:
    """Result of fitting ``y ~ c f(a x + b) + d``."""

    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float
    complexity: float


def _r2_and_cd(f: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    # f: [..., n], y: [n] -> best c, d per leading index and R^2
    fm = f.mean(-1, keepdim=True)
    ym = y.mean()
    fc, yc = f - fm, y - ym
    var_f = (fc * fc).sum(-1)
    cov = (fc * yc).sum(-1)
    c = cov / var_f.clamp(min=1e-30)
    d = ym - c * fm.squeeze(-1)
    ss_tot = (yc * yc).sum().clamp(min=1e-30)
    r2 = cov * cov / (var_f.clamp(min=1e-30) * ss_tot)
    r2 = torch.where(torch.isfinite(r2) & (var_f > 1e-20), r2, torch.zeros_like(r2))
    return c, d, r2


def fit_primitive(x: Tensor, y: Tensor, name: str, a_range: tuple[float, float] = (-10.0, 10.0),
                  b_range: tuple[float, float] = (-10.0, 10.0), points: int = 41, zooms: int = 3) -> SymbolicFit:
    """Fit ``y ~ c f(a x + b) + d`` for primitive ``name`` on 1-D samples ``x``, ``y``."""
    prim = SYMBOLIC_LIB.get(name)
    x = x.detach().double().reshape(-1)
    y = y.detach().double().reshape(-1)
    if name == "0":
        return SymbolicFit(name, 0.0, 0.0, 0.0, float(y.mean()), 0.0, prim.complexity)
    if name == "x":  # affine: a, b are redundant
        c, d, r2 = _r2_and_cd(x[None], y)
        return SymbolicFit(name, 1.0, 0.0, float(c[0]), float(d[0]), float(r2[0]), prim.complexity)
    a_lo, a_hi = a_range
    b_lo, b_hi = b_range
    best = (0.0, 1.0, 0.0)
    for _ in range(zooms + 1):
        a = torch.linspace(a_lo, a_hi, points, dtype=x.dtype)
        b = torch.linspace(b_lo, b_hi, points, dtype=x.dtype)
        f = prim.fn(a[:, None, None] * x + b[None, :, None])  # [A, B, n]
        _, _, r2 = _r2_and_cd(f, y)
        r2 = torch.nan_to_num(r2, nan=0.0)
        idx = int(torch.argmax(r2))
        ia, ib = divmod(idx, points)
        best = (float(r2[ia, ib]), float(a[ia]), float(b[ib]))
        da, db = (a_hi - a_lo) / (points - 1), (b_hi - b_lo) / (points - 1)
        a_lo, a_hi = best[1] - 2 * da, best[1] + 2 * da
        b_lo, b_hi = best[2] - 2 * db, best[2] + 2 * db
    _, a_best, b_best = best
    f = prim.fn(a_best * x + b_best)
    c, d, r2 = _r2_and_cd(f[None], y)
    return SymbolicFit(name, a_best, b_best, float(c[0]), float(d[0]), float(r2[0]), prim.complexity)


def suggest_symbolic(x: Tensor, y: Tensor, lib: tuple[str, ...] = DEFAULT_LIB, weight_simple: float = 0.8,
                     **kw: Any) -> list[SymbolicFit]:
    """Fits of every primitive in ``lib`` ranked best first.

    The ranking score is ``weight_simple * complexity + (1 - weight_simple) * log2(1 - R^2 + 1e-5)``
    (lower is better): among near-perfect fits the simplest primitive wins.
    """
    fits = [fit_primitive(x, y, name, **kw) for name in lib]

    def score(f: SymbolicFit) -> float:
        return weight_simple * f.complexity + (1 - weight_simple) * math.log2(max(1 - f.r2, 0.0) + 1e-5)

    return sorted(fits, key=score)
