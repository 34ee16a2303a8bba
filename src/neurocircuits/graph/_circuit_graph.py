"""CircuitGraph: the one object for connectomes, computation graphs and discovered circuits.

A circuit is a directed multigraph of units (neurons, populations, attention heads, MLPs, SAE
features) joined by edges (synapses, residual reads/writes). Nodes and edges are small records
with fixed, typed columns plus a free ``attrs`` dict; an edge is identified by
``(source, target, kind, position)`` so that a chemical synapse and a gap junction between the
same pair, or the q/k/v reads of one head, stay distinct.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

EdgeKey = tuple[str, str, str, int | None]


class GraphError(ValueError):
    """A CircuitGraph was built or queried inconsistently (unknown node, duplicate edge, ...)."""


@dataclass(frozen=True)
class Node:
    """One unit of a circuit.

    Attributes:
        name: unique identifier, e.g. ``"AVAL"``, ``"a1.h0"``, ``"mlp0"``.
        kind: what the unit is: ``"neuron"``, ``"head"``, ``"mlp"``, ``"embed"``, ``"logits"``,
            ``"feature"``, ``"sensory"``...
        layer: layer index for layered models (embedding = -1 by convention), else ``None``.
        head: attention-head index, else ``None``.
        position: token position for position-resolved graphs, else ``None``.
        attrs: anything else (cell class, neurotransmitter, coordinates, ...). JSON-serialisable.
    """

    name: str
    kind: str = "unit"
    layer: int | None = None
    head: int | None = None
    position: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Edge:
    """One directed connection.

    Attributes:
        source, target: node names.
        kind: ``"chemical"``, ``"electrical"``, ``"resid"``, ``"q"``, ``"k"``, ``"v"``, ...
        weight: a structural weight (synapse count, conductance, matrix entry), if any.
        score: an importance score from discovery (attribution, patching effect), if any.
        sign: +1 excitatory, -1 inhibitory, 0 / None unknown.
        position: token position for position-resolved edges, else ``None``.
        attrs: anything else; JSON-serialisable.
    """

    source: str
    target: str
    kind: str = "edge"
    weight: float | None = None
    score: float | None = None
    sign: int | None = None
    position: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> EdgeKey:
        return (self.source, self.target, self.kind, self.position)


NODE_COLUMNS = ("name", "kind", "layer", "head", "position")
EDGE_COLUMNS = ("source", "target", "kind", "weight", "score", "sign", "position")


class CircuitGraph:
    """A node table and an edge table with set operations, selection and I/O.

    Example:
        >>> g = CircuitGraph(name="toy")
        >>> g.add_node("a", kind="neuron"); g.add_node("b", kind="neuron")
        >>> g.add_edge("a", "b", kind="chemical", weight=3.0, sign=1)
        >>> g.top_k(1, by="weight").n_edges
        1
    """

    def __init__(
        self,
        nodes: Iterable[Node] = (),
        edges: Iterable[Edge] = (),
        name: str = "",
        attrs: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.attrs: dict[str, Any] = dict(attrs or {})
        self._nodes: dict[str, Node] = {}
        self._edges: dict[EdgeKey, Edge] = {}
        for node in nodes:
            self._insert_node(node)
        for edge in edges:
            self._insert_edge(edge)

    # -- building ---------------------------------------------------------------------------
    def add_node(self, name: str, kind: str = "unit", **fields: Any) -> Node:
        """Add a node; extra keyword arguments that are not columns go into ``attrs``."""
        columns, attrs = _split_columns(fields, NODE_COLUMNS)
        node = Node(name=name, kind=kind, attrs=attrs, **columns)
        self._insert_node(node)
        return node

    def add_edge(self, source: str, target: str, kind: str = "edge", **fields: Any) -> Edge:
        """Add an edge between existing nodes; extra keyword arguments go into ``attrs``."""
        columns, attrs = _split_columns(fields, EDGE_COLUMNS)
        edge = Edge(source=source, target=target, kind=kind, attrs=attrs, **columns)
        self._insert_edge(edge)
        return edge

    def _insert_node(self, node: Node) -> None:
        if node.name in self._nodes:
            raise GraphError(f"node {node.name!r} already exists in graph {self.name!r}.")
        self._nodes[node.name] = node

    def _insert_edge(self, edge: Edge) -> None:
        for end in (edge.source, edge.target):
            if end not in self._nodes:
                raise GraphError(
                    f"edge {edge.source!r} -> {edge.target!r} names unknown node {end!r}; "
                    f"add the node first with add_node({end!r}, ...)."
                )
        if edge.key in self._edges:
            raise GraphError(
                f"duplicate edge {edge.key}; edges are keyed by (source, target, kind, position)."
            )
        self._edges[edge.key] = edge

    # -- access -----------------------------------------------------------------------------
    @property
    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[Edge]:
        return list(self._edges.values())

    @property
    def n_nodes(self) -> int:
        return len(self._nodes)

    @property
    def n_edges(self) -> int:
        return len(self._edges)

    def node(self, name: str) -> Node:
        try:
            return self._nodes[name]
        except KeyError:
            raise GraphError(f"no node {name!r} in graph {self.name!r}.") from None

    def has_node(self, name: str) -> bool:
        return name in self._nodes

    def edge(self, source: str, target: str, kind: str = "edge", position: int | None = None) -> Edge:
        try:
            return self._edges[(source, target, kind, position)]
        except KeyError:
            raise GraphError(f"no edge {(source, target, kind, position)} in graph {self.name!r}.") from None

    def has_edge(self, source: str, target: str, kind: str | None = None) -> bool:
        return any(
            e.source == source and e.target == target and (kind is None or e.kind == kind)
            for e in self._edges.values()
        )

    def edge_keys(self) -> set[EdgeKey]:
        return set(self._edges)

    def node_names(self) -> list[str]:
        return list(self._nodes)

    def __iter__(self) -> Iterator[Edge]:
        return iter(self._edges.values())

    def __len__(self) -> int:
        return self.n_edges

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CircuitGraph):
            return NotImplemented
        return (
            self.name == other.name
            and self.attrs == other.attrs
            and _full_records(self._nodes.values()) == _full_records(other._nodes.values())
            and _full_records(self._edges.values()) == _full_records(other._edges.values())
        )

    def __repr__(self) -> str:
        return f"CircuitGraph(name={self.name!r}, n_nodes={self.n_nodes}, n_edges={self.n_edges})"

    def copy(self, name: str | None = None) -> CircuitGraph:
        return CircuitGraph(self.nodes, self.edges, name=self.name if name is None else name, attrs=self.attrs)

    # -- selection --------------------------------------------------------------------------
    def filter_edges(self, keep: Callable[[Edge], bool], prune_nodes: bool = False) -> CircuitGraph:
        """Sub-graph with the edges for which ``keep(edge)`` is true."""
        edges = [e for e in self._edges.values() if keep(e)]
        nodes = self.nodes
        if prune_nodes:
            used = {e.source for e in edges} | {e.target for e in edges}
            nodes = [n for n in nodes if n.name in used]
        return CircuitGraph(nodes, edges, name=self.name, attrs=self.attrs)

    def select(self, prune_nodes: bool = False, **criteria: Any) -> CircuitGraph:
        """Edges whose columns or attrs equal the given values (a list/set/tuple means "any of").

        Example: ``worm.select(kind="chemical")``, ``g.select(kind=["q", "k"], position=3)``.
        """
        for column in criteria:
            if column not in EDGE_COLUMNS and not any(column in e.attrs for e in self._edges.values()):
                raise GraphError(
                    f"cannot select on {column!r}: it is neither an edge column {EDGE_COLUMNS} "
                    f"nor an attribute of any edge."
                )
        return self.filter_edges(lambda e: _matches(e, criteria), prune_nodes=prune_nodes)

    def select_nodes(self, names: Iterable[str] | None = None, **criteria: Any) -> CircuitGraph:
        """Induced sub-graph on the nodes named, or matching the given columns/attrs."""
        wanted = set(names) if names is not None else None
        nodes = [
            n for n in self._nodes.values()
            if (wanted is None or n.name in wanted) and _matches(n, criteria)
        ]
        keep = {n.name for n in nodes}
        edges = [e for e in self._edges.values() if e.source in keep and e.target in keep]
        return CircuitGraph(nodes, edges, name=self.name, attrs=self.attrs)

    def top_k(self, k: int, by: str = "score", absolute: bool = True, prune_nodes: bool = False) -> CircuitGraph:
        """The ``k`` edges with the largest ``by`` value (by magnitude when ``absolute``)."""
        if k < 0:
            raise GraphError(f"top_k needs k >= 0, got {k}.")
        ranked = self._ranked(by, absolute)
        kept = {e.key for e in ranked[:k]}
        return self.filter_edges(lambda e: e.key in kept, prune_nodes=prune_nodes)

    def threshold(self, tau: float, by: str = "score", absolute: bool = True, prune_nodes: bool = False) -> CircuitGraph:
        """Edges whose ``by`` value (its magnitude when ``absolute``) is at least ``tau``."""
        self._check_rank_column(by)
        return self.filter_edges(
            lambda e: _rank_value(e, by, absolute) >= tau, prune_nodes=prune_nodes
        )

    def _ranked(self, by: str, absolute: bool) -> list[Edge]:
        self._check_rank_column(by)
        return sorted(self._edges.values(), key=lambda e: _rank_value(e, by, absolute), reverse=True)

    def _check_rank_column(self, by: str) -> None:
        if by not in ("score", "weight"):
            raise GraphError(f"edges can be ranked by 'score' or 'weight', not {by!r}.")

    def scores(self, by: str = "score") -> dict[EdgeKey, float]:
        """Map each edge key to its score (or weight); missing values become NaN."""
        self._check_rank_column(by)
        return {e.key: _value_or_nan(getattr(e, by)) for e in self._edges.values()}

    def with_scores(self, scores: dict[EdgeKey, float]) -> CircuitGraph:
        """A copy whose edge scores are replaced by ``scores`` (edge key -> value)."""
        unknown = set(scores) - set(self._edges)
        if unknown:
            raise GraphError(f"scores given for {len(unknown)} unknown edges, e.g. {next(iter(unknown))}.")
        edges = [replace(e, score=float(scores[e.key])) if e.key in scores else e for e in self._edges.values()]
        return CircuitGraph(self.nodes, edges, name=self.name, attrs=self.attrs)

    # -- neighbourhoods ---------------------------------------------------------------------
    def successors(self, name: str) -> list[str]:
        self.node(name)
        return sorted({e.target for e in self._edges.values() if e.source == name})

    def predecessors(self, name: str) -> list[str]:
        self.node(name)
        return sorted({e.source for e in self._edges.values() if e.target == name})

    def active_nodes(self) -> set[str]:
        """Nodes that touch at least one edge."""
        return {e.source for e in self._edges.values()} | {e.target for e in self._edges.values()}

    # -- set operations ---------------------------------------------------------------------
    def union(self, other: CircuitGraph) -> CircuitGraph:
        nodes = {**{n.name: n for n in other.nodes}, **self._nodes}
        edges = {**{e.key: e for e in other.edges}, **self._edges}
        return CircuitGraph(nodes.values(), edges.values(), name=self.name, attrs=self.attrs)

    def intersection(self, other: CircuitGraph) -> CircuitGraph:
        common = self.edge_keys() & other.edge_keys()
        return self.filter_edges(lambda e: e.key in common, prune_nodes=True)

    def difference(self, other: CircuitGraph) -> CircuitGraph:
        theirs = other.edge_keys()
        return self.filter_edges(lambda e: e.key not in theirs)

    def iou(self, other: CircuitGraph, level: str = "edge") -> float:
        """Intersection over union of edge keys (``level="edge"``) or active nodes (``"node"``)."""
        if level == "edge":
            a, b = self.edge_keys(), other.edge_keys()
        elif level == "node":
            a, b = self.active_nodes(), other.active_nodes()
        else:
            raise GraphError(f"iou level must be 'edge' or 'node', not {level!r}.")
        union = a | b
        return len(a & b) / len(union) if union else 1.0

    def overlap(self, other: CircuitGraph, level: str = "edge") -> float:
        """Fraction of this graph's edges (or active nodes) also present in ``other``."""
        if level == "edge":
            a, b = self.edge_keys(), other.edge_keys()
        elif level == "node":
            a, b = self.active_nodes(), other.active_nodes()
        else:
            raise GraphError(f"overlap level must be 'edge' or 'node', not {level!r}.")
        return len(a & b) / len(a) if a else 1.0


    # -- I/O (implemented in _io; methods here for discoverability) ---------------------------
    def to_dict(self) -> dict[str, Any]:
        from . import _io
        return _io.to_dict(self)

    def to_json(self, path: Any = None) -> str:
        """JSON text; also written atomically to ``path`` when given."""
        from . import _io
        return _io.to_json(self, path)

    def to_graphml(self, path: Any) -> None:
        from . import _io
        _io.to_graphml(self, path)

    def to_csv(self, path: Any) -> None:
        from . import _io
        _io.to_csv(self, path)

    def to_networkx(self) -> Any:
        from . import _io
        return _io.to_networkx(self)

    def to_scipy_sparse(self, by: str = "weight", kind: Any = None, nodelist: Any = None, signed: bool = False) -> Any:
        from . import _io
        return _io.to_scipy_sparse(self, by=by, kind=kind, nodelist=nodelist, signed=signed)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> CircuitGraph:
        from . import _io
        return _io.from_dict(data)

    @staticmethod
    def from_json(path_or_text: Any) -> CircuitGraph:
        from . import _io
        return _io.from_json(path_or_text)

    @staticmethod
    def from_graphml(path: Any) -> CircuitGraph:
        from . import _io
        return _io.from_graphml(path)

    @staticmethod
    def from_csv(path: Any, name: str = "") -> CircuitGraph:
        from . import _io
        return _io.from_csv(path, name=name)

    @staticmethod
    def from_networkx(g: Any, name: str | None = None) -> CircuitGraph:
        from . import _io
        return _io.from_networkx(g, name=name)

    @staticmethod
    def from_scipy_sparse(matrix: Any, names: Any = None, **kwargs: Any) -> CircuitGraph:
        from . import _io
        return _io.from_scipy_sparse(matrix, names, **kwargs)


def _split_columns(fields: dict[str, Any], columns: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    attrs = dict(fields.pop("attrs", None) or {})
    cols = {k: v for k, v in fields.items() if k in columns}
    attrs.update({k: v for k, v in fields.items() if k not in columns})
    return cols, attrs


def _matches(record: Node | Edge, criteria: dict[str, Any]) -> bool:
    for column, wanted in criteria.items():
        value = getattr(record, column) if hasattr(record, column) and column != "attrs" else record.attrs.get(column)
        if isinstance(wanted, (list, tuple, set, frozenset)):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def _value_or_nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _rank_value(edge: Edge, by: str, absolute: bool) -> float:
    value = _value_or_nan(getattr(edge, by))
    if math.isnan(value):
        return -math.inf
    return abs(value) if absolute else value


def _full_records(records: Iterable[Node | Edge]) -> list[tuple[Any, ...]]:
    return sorted(
        (tuple(repr(getattr(r, c)) for c in r.__dataclass_fields__ if c != "attrs") + (repr(sorted(r.attrs.items())),))
        for r in records
    )
