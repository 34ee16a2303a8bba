"""Parse a model's computation graph (the discovery contract) into index tables for the engine.

Writers are units whose output is added into a stream; readers are input ports whose activation is
a constant plus the sum of the outputs of the writers with an edge into them. The engine never
looks at names: only at ``attrs["role"]``, ``attrs["hook"]``, ``head`` and the edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..graph import CircuitGraph, Edge


class DiscoveryError(ValueError):
    """A model, graph, data set or option is unusable for circuit discovery; the message says why."""


@dataclass
class WriterInfo:
    name: str
    hook: str
    head: int | None
    index: int


@dataclass
class ReaderInfo:
    name: str
    hook: str
    head: int | None
    owner: str | None
    index: int


@dataclass
class ReaderGroup:
    """All readers sharing one hook point (e.g. the q inputs of every head of a layer)."""

    hook: str
    readers: list[int]  # reader indices, in head order when headed
    heads: list[int | None]
    writers: list[int]  # union of incoming writer indices (U,)
    edge_table: torch.Tensor  # (U, R) long: edge index of (writer u, reader r), or -1 when absent


@dataclass
class GraphIndex:
    """Index tables over the writer -> reader edges of a computation graph.

    Attributes:
        graph: the model's computation graph (non-positional).
        writers / readers: in graph node order (topological by the contract).
        edges: the writer -> reader edges; edge ``e`` joins ``edge_writer[e]`` -> ``edge_reader[e]``.
        groups: reader groups by hook point, in first-appearance order.
        writer_hooks: hook name -> writer indices on it.
    """

    graph: CircuitGraph
    writers: list[WriterInfo]
    readers: list[ReaderInfo]
    edges: list[Edge]
    edge_writer: torch.Tensor
    edge_reader: torch.Tensor
    groups: list[ReaderGroup]
    writer_hooks: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_edges(self) -> int:
        return len(self.edges)

    @property
    def n_writers(self) -> int:
        return len(self.writers)

    def source_writers(self) -> list[int]:
        """Writers that own no reader: the inputs of the graph (e.g. the embedding)."""
        owners = {r.owner for r in self.readers}
        return [w.index for w in self.writers if w.name not in owners]

    def owned_readers(self, writer_name: str) -> list[int]:
        return [r.index for r in self.readers if r.owner == writer_name]

    def edges_into(self, reader: int) -> list[int]:
        return torch.nonzero(self.edge_reader == reader).flatten().tolist()

    def edges_from(self, writer: int) -> list[int]:
        return torch.nonzero(self.edge_writer == writer).flatten().tolist()


def build_index(graph: CircuitGraph) -> GraphIndex:
    """Check ``graph`` against the discovery contract and build its index tables."""
    if not isinstance(graph, CircuitGraph):
        raise DiscoveryError(
            f"model.computation_graph() must return a neurocircuits.graph.CircuitGraph, got {type(graph).__name__}."
        )
    writers: list[WriterInfo] = []
    readers: list[ReaderInfo] = []
    by_name: dict[str, tuple[str, int]] = {}
    for node in graph.nodes:
        role = node.attrs.get("role")
        if role not in ("writer", "reader"):
            continue
        hook = node.attrs.get("hook")
        if not isinstance(hook, str) or not hook:
            raise DiscoveryError(
                f"{role} node {node.name!r} has no attrs['hook'] naming the HookPoint that holds its "
                "activation; every writer and reader of the computation graph needs one."
            )
        if role == "writer":
            writers.append(WriterInfo(node.name, hook, node.head, len(writers)))
            by_name[node.name] = ("writer", writers[-1].index)
        else:
            readers.append(ReaderInfo(node.name, hook, node.head, node.attrs.get("owner"), len(readers)))
            by_name[node.name] = ("reader", readers[-1].index)
    if not writers or not readers:
        raise DiscoveryError(
            f"the computation graph {graph.name!r} declares {len(writers)} writer and {len(readers)} reader nodes; "
            "mark nodes with attrs role='writer' (adds into a stream) or role='reader' (reads a stream)."
        )
    edges: list[Edge] = []
    ew: list[int] = []
    er: list[int] = []
    for edge in graph.edges:
        src, dst = by_name.get(edge.source), by_name.get(edge.target)
        if src is None or dst is None:
            continue
        if src[0] != "writer" or dst[0] != "reader":
            raise DiscoveryError(
                f"edge {edge.source!r} -> {edge.target!r} must go from a writer to a reader node "
                f"(it goes from a {src[0]} to a {dst[0]})."
            )
        if edge.position is not None:
            raise DiscoveryError(
                f"edge {edge.key} already has a position; computation_graph() must return position-free "
                "edges (use per_position=True to resolve positions)."
            )
        edges.append(edge)
        ew.append(src[1])
        er.append(dst[1])
    if not edges:
        raise DiscoveryError(f"the computation graph {graph.name!r} has no writer -> reader edges.")
    edge_writer = torch.tensor(ew, dtype=torch.long)
    edge_reader = torch.tensor(er, dtype=torch.long)

    # reader groups by hook
    group_members: dict[str, list[int]] = {}
    for r in readers:
        group_members.setdefault(r.hook, []).append(r.index)
    groups: list[ReaderGroup] = []
    for hook, members in group_members.items():
        heads = [readers[i].head for i in members]
        if len(members) > 1 and any(h is None for h in heads):
            names = [readers[i].name for i in members]
            raise DiscoveryError(
                f"readers {names} share hook {hook!r} but not all have a head index; several readers on one "
                "hook must each name their head (the slice [:, :, head] of the hook tensor)."
            )
        if len(set(heads)) != len(heads):
            raise DiscoveryError(f"two readers on hook {hook!r} claim the same head; heads: {heads}.")
        order = sorted(range(len(members)), key=lambda i: -1 if heads[i] is None else heads[i])
        members = [members[i] for i in order]
        heads = [heads[i] for i in order]
        union: list[int] = sorted({ew[e] for e in range(len(edges)) if er[e] in set(members)})
        table = torch.full((len(union), len(members)), -1, dtype=torch.long)
        upos = {w: i for i, w in enumerate(union)}
        rpos = {r: i for i, r in enumerate(members)}
        for e in range(len(edges)):
            if er[e] in rpos:
                table[upos[ew[e]], rpos[er[e]]] = e
        groups.append(ReaderGroup(hook, members, heads, union, table))

    writer_hooks: dict[str, list[int]] = {}
    for w in writers:
        writer_hooks.setdefault(w.hook, []).append(w.index)
    for hook, ws in writer_hooks.items():
        heads = [writers[i].head for i in ws]
        if len(ws) > 1 and any(h is None for h in heads):
            raise DiscoveryError(
                f"writers {[writers[i].name for i in ws]} share hook {hook!r} but not all have a head index."
            )
    return GraphIndex(graph, writers, readers, edges, edge_writer, edge_reader, groups, writer_hooks)


def positional_graph(index: GraphIndex, n_pos: int) -> CircuitGraph:
    """The computation graph with every edge repeated once per token position (edge.position = p)."""
    g = CircuitGraph(index.graph.nodes, name=index.graph.name, attrs={**index.graph.attrs, "positional": True})
    kept = {(e.source, e.target, e.kind) for e in index.edges}
    for e in index.graph.edges:
        if (e.source, e.target, e.kind) not in kept:
            g.add_edge(e.source, e.target, kind=e.kind, weight=e.weight, sign=e.sign, attrs=dict(e.attrs))
    for e in index.edges:
        for p in range(n_pos):
            g.add_edge(e.source, e.target, kind=e.kind, weight=e.weight, sign=e.sign, position=p, attrs=dict(e.attrs))
    return g
