"""Faithfulness-vs-circuit-size curves as a small, self-contained inline SVG (no matplotlib).

A curve is given in any of these forms and normalised by :func:`curve_points`:

- a mapping with sequences ``"n_edges"`` and ``"faithfulness"`` (also ``"sizes"``/``"x"`` and
  ``"values"``/``"y"``),
- an object with attributes ``n_edges`` and ``faithfulness``,
- a sequence of ``(n_edges, faithfulness)`` pairs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#db2777", "#0891b2", "#4b5563")

_X_KEYS = ("n_edges", "sizes", "size", "x", "k")
_Y_KEYS = ("faithfulness", "values", "y", "faith")


class CurveFormatError(ValueError):
    """A curve could not be read as (n_edges, faithfulness) points."""


def curve_points(curve: Any) -> list[tuple[float, float]]:
    """Normalise a curve to a sorted list of finite ``(n_edges, faithfulness)`` points."""
    if curve is None:
        return []
    xs = ys = None
    if isinstance(curve, Mapping):
        xs = next((curve[k] for k in _X_KEYS if k in curve), None)
        ys = next((curve[k] for k in _Y_KEYS if k in curve), None)
        if xs is None or ys is None:
            raise CurveFormatError(
                f"a curve mapping needs an x key {_X_KEYS} and a y key {_Y_KEYS}; got keys {sorted(curve)}."
            )
    elif hasattr(curve, "n_edges") and hasattr(curve, "faithfulness"):
        xs, ys = curve.n_edges, curve.faithfulness
    elif isinstance(curve, Sequence) and not isinstance(curve, str):
        try:
            xs, ys = [p[0] for p in curve], [p[1] for p in curve]
        except (TypeError, IndexError, KeyError) as err:
            raise CurveFormatError("a curve sequence must hold (n_edges, faithfulness) pairs.") from err
    else:
        raise CurveFormatError(f"cannot read a curve from a {type(curve).__name__}.")
    xs, ys = _as_floats(xs), _as_floats(ys)
    if len(xs) != len(ys):
        raise CurveFormatError(f"curve has {len(xs)} sizes but {len(ys)} faithfulness values.")
    pts = [(x, y) for x, y in zip(xs, ys) if math.isfinite(x) and math.isfinite(y)]
    return sorted(pts)


def _as_floats(values: Any) -> list[float]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    return [float(v) for v in values]


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + 1e-9 * step:
        if t >= lo - 1e-9 * step:
            ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:.2g}"


def curves_svg(
    curves: Mapping[str, Any],
    title: str = "Faithfulness vs circuit size",
    x_label: str = "edges kept",
    y_label: str = "faithfulness",
    width: int = 520,
    height: int = 320,
    log_x: bool = False,
) -> str:
    """An SVG line chart with one ``<polyline class="curve">`` per named curve.

    Args:
        curves: series name (e.g. the method) -> curve in any form :func:`curve_points` reads.
        log_x: use a log10 x axis (sizes must then be positive; non-positive points are dropped).
    """
    series = {name: curve_points(c) for name, c in curves.items()}
    if log_x:
        series = {k: [(math.log10(x), y) for x, y in v if x > 0] for k, v in series.items()}
    all_pts = [p for pts in series.values() for p in pts]
    left, right, top, bottom = 58.0, 120.0, 30.0, 44.0
    pw, ph = width - left - right, height - top - bottom
    x_lo = min((p[0] for p in all_pts), default=0.0)
    x_hi = max((p[0] for p in all_pts), default=1.0)
    y_lo = min([0.0] + [p[1] for p in all_pts])
    y_hi = max([1.0] + [p[1] for p in all_pts])
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    xt, yt = _nice_ticks(x_lo, x_hi), _nice_ticks(y_lo, y_hi)
    x_lo, x_hi = min(x_lo, xt[0]), max(x_hi, xt[-1])
    y_lo, y_hi = min(y_lo, yt[0]), max(y_hi, yt[-1])

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * pw

    def sy(y: float) -> float:
        return top + (1 - (y - y_lo) / (y_hi - y_lo)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="curves" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f'<text x="{left + pw / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw:.1f}" height="{ph:.1f}" fill="none" stroke="#9ca3af"/>',
    ]
    for t in xt:
        x = sx(t)
        label = _fmt(10 ** t) if log_x else _fmt(t)
        out.append(f'<line x1="{x:.1f}" y1="{top + ph:.1f}" x2="{x:.1f}" y2="{top + ph + 4:.1f}" stroke="#6b7280"/>'
                   f'<text x="{x:.1f}" y="{top + ph + 16:.1f}" text-anchor="middle">{label}</text>')
    for t in yt:
        y = sy(t)
        out.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left + pw:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
                   f'<text x="{left - 7}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    if y_lo < 1.0 < y_hi:
        out.append(f'<line x1="{left}" y1="{sy(1.0):.1f}" x2="{left + pw:.1f}" y2="{sy(1.0):.1f}" '
                   f'stroke="#6b7280" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{left + pw / 2:.1f}" y="{height - 8}" text-anchor="middle">{html.escape(x_label)}</text>')
    out.append(f'<text transform="translate(14,{top + ph / 2:.1f}) rotate(-90)" text-anchor="middle">{html.escape(y_label)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        out.append(f'<polyline class="curve" data-name="{html.escape(name)}" points="{coords}" fill="none" '
                   f'stroke="{colour}" stroke-width="2"/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}">'
                       f'<title>{html.escape(name)}: {_fmt(10 ** x if log_x else x)} edges, faithfulness {y:.3f}</title></circle>')
        ly = top + 12 + 16 * i
        out.append(f'<line x1="{left + pw + 10:.1f}" y1="{ly:.1f}" x2="{left + pw + 28:.1f}" y2="{ly:.1f}" '
                   f'stroke="{colour}" stroke-width="2"/><text x="{left + pw + 32:.1f}" y="{ly + 4:.1f}">{html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
