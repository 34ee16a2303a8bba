"""Circuit diagrams as SVG, laid out by layer.

Two back ends draw the same picture: Graphviz's ``dot`` (through the ``graphviz`` Python package,
used when both the package and the ``dot`` binary are available) and a pure-Python layered layout
(always available, deterministic, used by the tests). Either way the SVG holds one ``<g
class="node">`` per node and one ``<g class="edge">`` per edge, so a diagram can be checked (or
styled) without knowing which back end drew it.

Layout rule (pure Python): every node gets a row from its ``layer`` (embedding = -1 at the bottom,
logits at the top); within a layer, *reader* nodes (``attrs["role"] == "reader"``: the q/k/v/MLP
inputs of the discovery contract) sit on a row just below the *writer* nodes. Nodes without a layer
get a row from their longest-path depth (graphs with cycles: breadth-first depth from sources).
Inside a row, nodes start ordered by (head, name) and are then reordered by a few barycenter sweeps
to reduce crossings. Edges are cubic Bezier curves coloured by the sign of their score (blue
positive, red negative, grey unknown) with stroke width proportional to ``|score|``.
"""

from __future__ import annotations

import html
import math
import shutil
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..graph import CircuitGraph, Edge, Node

POSITIVE_COLOUR = "#2563eb"
NEGATIVE_COLOUR = "#dc2626"
UNKNOWN_COLOUR = "#9ca3af"

_NODE_W = 74.0
_NODE_H = 26.0
_GAP_X = 22.0
_ROW_H = 78.0
_MARGIN = 30.0
_MIN_WIDTH = 0.6
_MAX_WIDTH = 6.0


class DiagramError(ValueError):
    """A diagram cannot be drawn (e.g. an unknown back end was asked for)."""


def graphviz_available() -> bool:
    """True when the ``graphviz`` Python package imports and the ``dot`` binary is on PATH."""
    if shutil.which("dot") is None:
        return False
    try:
        import graphviz  # noqa: F401
    except ImportError:
        return False
    return True


def circuit_svg(
    graph: CircuitGraph,
    engine: str = "auto",
    prune_nodes: bool = True,
    title: str | None = None,
    rank_graph: CircuitGraph | None = None,
) -> str:
    """Draw ``graph`` as an SVG document (a string).

    Args:
        graph: the circuit; edge ``score`` sets colour (sign) and width (magnitude).
        engine: ``"auto"`` (Graphviz when available, else pure Python), ``"graphviz"`` or
            ``"python"``.
        prune_nodes: draw only nodes that touch an edge (a discovered circuit keeps every node of
            the model's graph in its node table); isolated nodes are dropped.
        title: optional caption drawn at the top.
        rank_graph: a larger graph (e.g. the model's full scored graph) whose structure fixes the
            rows, so that a circuit keeps the model's layer layout even where it lacks the nodes
            that order a layer (heads above their q/k/v inputs, the MLP above its input).

    Returns:
        The SVG text: one ``<g class="node">`` per drawn node and one ``<g class="edge">`` per edge.
    """
    if engine not in ("auto", "graphviz", "python"):
        raise DiagramError(f"unknown diagram engine {engine!r}; use 'auto', 'graphviz' or 'python'.")
    nodes = _drawn_nodes(graph, prune_nodes)
    edges = graph.edges
    if engine == "graphviz" or (engine == "auto" and graphviz_available()):
        if not graphviz_available():
            raise DiagramError(
                "engine='graphviz' needs the 'graphviz' Python package and the Graphviz 'dot' binary "
                "on PATH; install both or use engine='python'."
            )
        return _graphviz_svg(nodes, edges, title, _given_ranks(nodes, rank_graph))
    return _python_svg(nodes, edges, title, _given_ranks(nodes, rank_graph))


def _given_ranks(nodes: list[Node], rank_graph: CircuitGraph | None) -> dict[str, int] | None:
    if rank_graph is None:
        return None
    full = _ranks(rank_graph.nodes, rank_graph.edges)
    if any(n.name not in full for n in nodes):
        return None
    used = sorted({full[n.name] for n in nodes})
    ordinal = {r: i for i, r in enumerate(used)}
    return {n.name: ordinal[full[n.name]] for n in nodes}


# -- shared helpers --------------------------------------------------------------------------------
def _drawn_nodes(graph: CircuitGraph, prune_nodes: bool) -> list[Node]:
    if not prune_nodes:
        return graph.nodes
    used = graph.active_nodes()
    return [n for n in graph.nodes if n.name in used]


def _score(edge: Edge) -> float:
    s = edge.score if edge.score is not None else edge.weight
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return float("nan")
    return float(s)


def edge_colour(edge: Edge) -> str:
    """Blue for a positive score (or sign), red for negative, grey when unknown."""
    s = _score(edge)
    if math.isnan(s) or s == 0.0:
        sign = edge.sign or 0
        return POSITIVE_COLOUR if sign > 0 else NEGATIVE_COLOUR if sign < 0 else UNKNOWN_COLOUR
    return POSITIVE_COLOUR if s > 0 else NEGATIVE_COLOUR


def edge_widths(edges: Iterable[Edge]) -> list[float]:
    """Stroke widths proportional to ``|score|`` (between 0.6 and 6 px; unknown scores get 1 px)."""
    edges = list(edges)
    mags = [abs(_score(e)) for e in edges]
    finite = [m for m in mags if not math.isnan(m)]
    top = max(finite) if finite else 0.0
    out = []
    for m in mags:
        if math.isnan(m):
            out.append(1.0)
        elif top <= 0.0:
            out.append(_MIN_WIDTH)
        else:
            out.append(_MIN_WIDTH + (_MAX_WIDTH - _MIN_WIDTH) * m / top)
    return out


def _is_reader(node: Node) -> bool:
    return node.attrs.get("role") == "reader"


def _edge_label(edge: Edge) -> str:
    s = _score(edge)
    score = "n/a" if math.isnan(s) else f"{s:.4g}"
    pos = "" if edge.position is None else f" @pos {edge.position}"
    return f"{edge.source} -> {edge.target} [{edge.kind}]{pos}: score {score}"


# -- pure-Python layered layout ---------------------------------------------------------------------
def layered_layout(nodes: list[Node], edges: list[Edge]) -> dict[str, tuple[float, float]]:
    """Centre coordinates (x, y) of each node; rows by layer, readers below writers, top = last layer."""
    return _layout(nodes, edges)[0]


_DUMMY_W = 10.0


def _layout(nodes: list[Node], edges: list[Edge], rank: dict[str, int] | None = None) -> tuple[dict[str, tuple[float, float]], list[list[tuple[float, float]]]]:
    """Node centres and, per edge, the centres of the virtual points it passes through.

    An edge that spans several rows gets one virtual (dummy) node in every row in between, ordered
    with the real nodes (Sugiyama-style), so that long edges route around the nodes of the rows
    they cross instead of through them.
    """
    rank = rank if rank is not None else _ranks(nodes, edges)
    ordered_ranks = sorted(set(rank.values()))
    row_of = {r: i for i, r in enumerate(ordered_ranks)}
    rows: dict[int, list[str]] = defaultdict(list)
    width: dict[str, float] = {}
    by_name = {n.name: n for n in nodes}
    for n in sorted(nodes, key=lambda n: (n.head if n.head is not None else -1, n.name)):
        rows[row_of[rank[n.name]]].append(n.name)
        width[n.name] = _NODE_W
    links: list[tuple[str, str]] = []
    chains: list[list[str]] = []
    for ei, e in enumerate(edges):
        if e.source not in by_name or e.target not in by_name:
            chains.append([])
            continue
        a, b = row_of[rank[e.source]], row_of[rank[e.target]]
        step = 1 if b > a else -1
        chain = [e.source]
        for k, r in enumerate(range(a + step, b, step)):
            d = f"\x00d{ei}.{k}"
            rows[r].append(d)
            width[d] = _DUMMY_W
            chain.append(d)
        chain.append(e.target)
        links.extend(zip(chain[:-1], chain[1:]))
        chains.append(chain[1:-1])
    for n in nodes:  # keep each reader next to the writer it feeds
        owner = n.attrs.get("owner")
        if _is_reader(n) and owner in by_name and abs(row_of[rank[owner]] - row_of[rank[n.name]]) == 1:
            links.extend([(n.name, owner)] * 2)
    _barycenter_sweeps(rows, list(range(len(ordered_ranks))), links)
    row_w = {r: sum(width[m] for m in members) + _GAP_X * (len(members) - 1) for r, members in rows.items()}
    canvas_w = 2 * _MARGIN + max(row_w.values(), default=_NODE_W)
    n_rows = len(ordered_ranks)
    centre: dict[str, tuple[float, float]] = {}
    for r, members in rows.items():
        x = (canvas_w - row_w[r]) / 2
        y = _MARGIN + _NODE_H / 2 + (n_rows - 1 - r) * _ROW_H  # first rank at the bottom
        for m in members:
            centre[m] = (x + width[m] / 2, y)
            x += width[m] + _GAP_X
    pos = {n.name: centre[n.name] for n in nodes}
    routes = [[centre[d] for d in chain] for chain in chains]
    return pos, routes


def _ranks(nodes: list[Node], edges: list[Edge]) -> dict[str, int]:
    """Integer row of each node (larger = higher on the page)."""
    if nodes and all(n.layer is not None for n in nodes):
        return _layered_ranks(nodes, edges)
    # No (or partial) layer information: longest-path depth on a DAG, BFS depth otherwise.
    names = [n.name for n in nodes]
    preds: dict[str, set[str]] = {n: set() for n in names}
    succs: dict[str, set[str]] = {n: set() for n in names}
    for e in edges:
        if e.source in preds and e.target in preds and e.source != e.target:
            preds[e.target].add(e.source)
            succs[e.source].add(e.target)
    depth: dict[str, int] = {}
    indeg = {n: len(preds[n]) for n in names}
    frontier = [n for n in names if indeg[n] == 0]
    for n in frontier:
        depth[n] = 0
    order = []
    while frontier:
        n = frontier.pop()
        order.append(n)
        for m in succs[n]:
            depth[m] = max(depth.get(m, 0), depth[n] + 1)
            indeg[m] -= 1
            if indeg[m] == 0:
                frontier.append(m)
    if len(order) < len(names):  # cycles: breadth-first depth from sources (or the first node)
        depth = {}
        starts = [n for n in names if not preds[n]] or names[:1]
        queue = list(starts)
        for s in starts:
            depth[s] = 0
        while queue:
            n = queue.pop(0)
            for m in sorted(succs[n]):
                if m not in depth:
                    depth[m] = depth[n] + 1
                    queue.append(m)
        for n in names:
            if n not in depth:  # unreachable component: start it over at depth 0
                depth[n] = 0
    return depth


def _layered_ranks(nodes: list[Node], edges: list[Edge]) -> dict[str, int]:
    """Rows ordered by (layer, depth inside the layer); inside a layer, depth is the longest path over the
    layer's own edges plus reader -> owner links (q/k/v inputs, then heads, then the MLP input, then the MLP)."""
    layer = {n.name: int(n.layer) for n in nodes}  # type: ignore[arg-type]
    succ: dict[str, set[str]] = defaultdict(set)
    for e in edges:
        if e.source in layer and e.target in layer and layer[e.source] == layer[e.target] and e.source != e.target:
            succ[e.source].add(e.target)
    for n in nodes:
        owner = n.attrs.get("owner")
        if _is_reader(n) and owner in layer and layer[owner] == layer[n.name]:
            succ[n.name].add(owner)
    depth = {name: 0 for name in layer}
    for _ in range(len(layer)):  # Bellman-Ford style relaxation; stops early on a DAG
        changed = False
        for a, bs in succ.items():
            for b in bs:
                if depth[b] < depth[a] + 1 <= len(layer):
                    depth[b] = depth[a] + 1
                    changed = True
        if not changed:
            break
    keys = sorted({(layer[n], depth[n]) for n in layer})
    ordinal = {k: i for i, k in enumerate(keys)}
    return {n: ordinal[(layer[n], depth[n])] for n in layer}


def _barycenter_sweeps(rows: dict[int, list[str]], order: list[int], links: list[tuple[str, str]], sweeps: int = 6) -> None:
    """Reorder each row by the mean position of its neighbours in the adjacent rows (alternating sweeps)."""
    neighbours: dict[str, list[str]] = defaultdict(list)
    for a, b in links:
        neighbours[a].append(b)
        neighbours[b].append(a)
    for sweep in range(sweeps):
        seq = order[1:] if sweep % 2 == 0 else list(reversed(order[:-1]))
        for r in seq:
            ref = r - 1 if sweep % 2 == 0 else r + 1
            index = {m: i / max(1, len(rows[ref]) - 1) for i, m in enumerate(rows.get(ref, []))}
            row = rows[r]
            keyed = []
            for i, m in enumerate(row):
                nb = [index[x] for x in neighbours[m] if x in index]
                keyed.append((sum(nb) / len(nb) if nb else i / max(1, len(row) - 1), i, m))
            keyed.sort(key=lambda t: (t[0], t[1]))
            rows[r] = [t[2] for t in keyed]


def _route_path(points: list[tuple[float, float]]) -> str:
    """A smooth path through ``points`` with vertical tangents at each point (one cubic per segment)."""
    (x0, y0) = points[0]
    d = [f"M{x0:.1f},{y0:.1f}"]
    for (xa, ya), (xb, yb) in zip(points[:-1], points[1:]):
        ym = (ya + yb) / 2
        d.append(f"C{xa:.1f},{ym:.1f} {xb:.1f},{ym:.1f} {xb:.1f},{yb:.1f}")
    return " ".join(d)


def _python_svg(nodes: list[Node], edges: list[Edge], title: str | None, rank: dict[str, int] | None = None) -> str:
    pos, routes = _layout(nodes, edges, rank)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    xs += [p[0] for route in routes for p in route]
    top = 24.0 if title else 0.0
    width = max(xs) + _NODE_W / 2 + _MARGIN
    height = max(ys) + _NODE_H / 2 + _MARGIN + top
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="circuit" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="Helvetica, Arial, sans-serif">',
    ]
    if title:
        out.append(f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="13" '
                   f'font-weight="bold">{html.escape(title)}</text>')
    names = {n.name for n in nodes}
    out.append('<g class="owner-links">')
    for n in nodes:  # a reader feeds its owner writer: draw that implicit link, dashed
        owner = n.attrs.get("owner")
        if _is_reader(n) and owner in names:
            (x1, y1), (x2, y2) = pos[n.name], pos[owner]
            out.append(f'<line class="owner-link" x1="{x1:.1f}" y1="{y1 - _NODE_H / 2 + top:.1f}" x2="{x2:.1f}" '
                       f'y2="{y2 + _NODE_H / 2 + top:.1f}" stroke="#6b7280" stroke-width="1" stroke-dasharray="3 3"/>')
    out.append("</g>")
    out.append('<g class="edges">')
    for edge, w, route in zip(edges, edge_widths(edges), routes):
        if edge.source not in pos or edge.target not in pos:
            continue
        (x1, y1), (x2, y2) = pos[edge.source], pos[edge.target]
        if edge.source == edge.target:
            y1 += top
            d = (f"M{x1 - 10:.1f},{y1 - _NODE_H / 2:.1f} C{x1 - 30:.1f},{y1 - 40:.1f} "
                 f"{x1 + 30:.1f},{y1 - 40:.1f} {x1 + 10:.1f},{y1 - _NODE_H / 2:.1f}")
        else:
            down = y2 > y1  # leave the source from its top (bottom when drawing downwards), enter the target likewise
            start = (x1, y1 + (_NODE_H / 2 if down else -_NODE_H / 2) + top)
            end = (x2, y2 + (-_NODE_H / 2 if down else _NODE_H / 2) + top)
            d = _route_path([start] + [(x, y + top) for x, y in route] + [end])
        out.append(
            f'<g class="edge" data-source="{html.escape(edge.source)}" data-target="{html.escape(edge.target)}" '
            f'data-kind="{html.escape(edge.kind)}"><title>{html.escape(_edge_label(edge))}</title>'
            f'<path d="{d}" fill="none" stroke="{edge_colour(edge)}" stroke-width="{w:.2f}" '
            f'stroke-opacity="0.8"/></g>'
        )
    out.append("</g>")
    out.append('<g class="nodes">')
    for n in nodes:
        x, y = pos[n.name]
        y += top
        reader = _is_reader(n)
        fill = "#f3f4f6" if reader else "#fef3c7" if n.kind in ("embed", "logits") else "#e0f2fe"
        rx = 13 if reader else 4
        label = n.name if len(n.name) <= 11 else n.name[:10] + "\u2026"
        out.append(
            f'<g class="node" data-name="{html.escape(n.name)}"><title>{html.escape(n.name)} ({html.escape(n.kind)})</title>'
            f'<rect x="{x - _NODE_W / 2:.1f}" y="{y - _NODE_H / 2:.1f}" width="{_NODE_W:.0f}" height="{_NODE_H:.0f}" '
            f'rx="{rx}" fill="{fill}" stroke="#374151" stroke-width="1"/>'
            f'<text x="{x:.1f}" y="{y + 4:.1f}" text-anchor="middle" font-size="11">{html.escape(label)}</text></g>'
        )
    out.append("</g></svg>")
    return "\n".join(out)


# -- Graphviz -----------------------------------------------------------------------------------
def _graphviz_svg(nodes: list[Node], edges: list[Edge], title: str | None,
                  rank: dict[str, int] | None = None) -> str:  # pragma: no cover - needs `dot`
    import graphviz

    dot = graphviz.Digraph("circuit", format="svg")
    dot.attr(rankdir="BT", fontname="Helvetica", label=title or "", labelloc="t")
    ranks = rank if rank is not None else _ranks(nodes, edges)
    ids = {n.name: f"n{i}" for i, n in enumerate(nodes)}  # plain ids: ':' in a name would read as a port
    by_rank: dict[int, list[Node]] = defaultdict(list)
    for n in nodes:
        by_rank[ranks[n.name]].append(n)
    for r, group in sorted(by_rank.items()):
        with dot.subgraph(name=f"rank{r}") as sub:
            sub.attr(rank="same")
            for n in group:
                shape = "ellipse" if _is_reader(n) else "box"
                sub.node(ids[n.name], label=n.name, tooltip=n.name, shape=shape, style="filled",
                         fillcolor="#f3f4f6" if _is_reader(n) else "#e0f2fe", fontname="Helvetica")
    for edge, w in zip(edges, edge_widths(edges)):
        if edge.source not in ids or edge.target not in ids:
            continue
        dot.edge(ids[edge.source], ids[edge.target], color=edge_colour(edge), penwidth=f"{w:.2f}",
                 tooltip=_edge_label(edge))
    svg = dot.pipe(format="svg").decode("utf-8")
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


def diagram_info(graph: CircuitGraph) -> dict[str, Any]:
    """Counts that a drawn diagram should show (nodes touching an edge, edges)."""
    return {"n_nodes": len(graph.active_nodes()), "n_edges": graph.n_edges}
