"""A dependency-free SVG diagram of a connectome laid out by cell class.

Columns left to right: sensory, polymodal, inter, motor, then anything else (muscles, other
cells, unknown). Chemical synapses are solid lines coloured by sign (red excitatory, blue
inhibitory, grey unknown), gap junctions are dashed green; line width grows with the synapse count.
"""

from __future__ import annotations

import math
import os
from html import escape

from ...graph import CircuitGraph, write_atomic

CLASS_ORDER = ("sensory", "polymodal", "inter", "motor", "unknown", "muscle", "other")
CLASS_COLOUR = {
    "sensory": "#e6a01e", "polymodal": "#b07cc6", "inter": "#4c9be8", "motor": "#d9534f",
    "unknown": "#999999", "muscle": "#7a5230", "other": "#bbbbbb",
}
_SIGN_COLOUR = {1: "#c0392b", -1: "#2c6fbb", None: "#888888", 0: "#888888"}


def connectome_svg(
    graph: CircuitGraph, path: str | os.PathLike[str] | None = None, max_edges: int = 600,
    width: int = 1100, row_px: float = 9.0,
) -> str:
    """Render ``graph`` as SVG text (written atomically to ``path`` when given).

    Args:
        graph: a connectome (nodes with a ``cell_class`` attr; others go to the last column).
        path: optional output file.
        max_edges: draw only the heaviest edges (by weight) to keep the picture readable.
        width: picture width in pixels.
        row_px: vertical spacing between neurons of one column.
    """
    if max_edges < 0:
        raise ValueError(f"max_edges must be >= 0, got {max_edges}.")
    columns: dict[str, list[str]] = {}
    for n in graph.nodes:
        cls = str(n.attrs.get("cell_class", "other"))
        columns.setdefault(cls if cls in CLASS_ORDER else "other", []).append(n.name)
    used = [c for c in CLASS_ORDER if c in columns]
    tallest = max((len(v) for v in columns.values()), default=1)
    height = int(100 + tallest * row_px)
    xs = {c: 80 + i * (width - 160) / max(1, len(used) - 1) for i, c in enumerate(used)} if used else {}
    pos: dict[str, tuple[float, float]] = {}
    for c in used:
        names = sorted(columns[c])
        top = 60 + (tallest - len(names)) * row_px / 2
        for k, name in enumerate(names):
            pos[name] = (xs[c], top + k * row_px)
    edges = sorted(graph.edges, key=lambda e: -(e.weight or 1.0))[:max_edges]
    wmax = max((e.weight or 1.0 for e in edges), default=1.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<title>{escape(graph.name)}</title>',
        f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{escape(graph.name)}: '
        f'{graph.n_nodes} cells, {graph.n_edges} edges (heaviest {len(edges)} drawn)</text>',
    ]
    for e in edges:
        (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
        w = 0.3 + 2.2 * math.sqrt((e.weight or 1.0) / wmax)
        if e.kind == "electrical":
            style = f'stroke="#2e8b57" stroke-dasharray="3,2" stroke-width="{w:.2f}"'
        else:
            style = f'stroke="{_SIGN_COLOUR.get(e.sign, "#888888")}" stroke-width="{w:.2f}"'
        bend = 40 if x1 == x2 else 0
        out.append(
            f'<path d="M{x1:.1f},{y1:.1f} Q{(x1 + x2) / 2 + bend:.1f},{(y1 + y2) / 2:.1f} {x2:.1f},{y2:.1f}" '
            f'fill="none" {style} opacity="0.35"/>'
        )
    for c in used:
        out.append(f'<text x="{xs[c]:.1f}" y="45" text-anchor="middle" font-size="12" '
                   f'fill="{CLASS_COLOUR[c]}">{c} ({len(columns[c])})</text>')
    for name, (x, y) in pos.items():
        cls = str(graph.node(name).attrs.get("cell_class", "other"))
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{CLASS_COLOUR.get(cls, "#bbbbbb")}">'
                   f'<title>{escape(name)}</title></circle>')
    legend = [("#c0392b", "", "excitatory chemical"), ("#2c6fbb", "", "inhibitory chemical"),
              ("#888888", "", "chemical, sign unknown"), ("#2e8b57", ' stroke-dasharray="3,2"', "gap junction")]
    for i, (colour, dash, label) in enumerate(legend):
        x0 = 20 + i * 190
        out.append(f'<line x1="{x0}" y1="{height - 12}" x2="{x0 + 24}" y2="{height - 12}" stroke="{colour}" '
                   f'stroke-width="2"{dash}/><text x="{x0 + 30}" y="{height - 8}" font-size="11">{label}</text>')
    out.append("</svg>")
    text = "\n".join(out) + "\n"
    if path is not None:
        write_atomic(path, text)
    return text
