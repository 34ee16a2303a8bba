"""CircuitGraph I/O: JSON, GraphML, CSV edge lists, networkx and scipy.sparse.

Every writer is atomic (temp file + rename) and every reader names the file and the problem when
the input is malformed.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sp

from ._circuit_graph import EDGE_COLUMNS, NODE_COLUMNS, CircuitGraph, Edge, GraphError, Node

FORMAT_VERSION = 1
_ATTR_PREFIX = "attr."
_JSON_ATTR_PREFIX = "json."


class GraphFormatError(GraphError):
    """A graph file or object could not be read; the message names the file and the problem."""


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename, so a crash loses nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp creates 0600; give the usual mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- JSON ---------------------------------------------------------------------------------------
def to_dict(graph: CircuitGraph) -> dict[str, Any]:
    return {
        "format": "neurocircuits.CircuitGraph",
        "version": FORMAT_VERSION,
        "name": graph.name,
        "attrs": graph.attrs,
        "nodes": [_record_dict(n, NODE_COLUMNS) for n in graph.nodes],
        "edges": [_record_dict(e, EDGE_COLUMNS) for e in graph.edges],
    }


def from_dict(data: dict[str, Any], source: str = "<dict>") -> CircuitGraph:
    if not isinstance(data, dict) or data.get("format") != "neurocircuits.CircuitGraph":
        raise GraphFormatError(f"{source}: not a CircuitGraph document (missing 'format': 'neurocircuits.CircuitGraph').")
    for key in ("nodes", "edges"):
        if not isinstance(data.get(key), list):
            raise GraphFormatError(f"{source}: missing or malformed {key!r} list.")
    try:
        nodes = [Node(**_with_attrs(d)) for d in data["nodes"]]
        edges = [Edge(**_with_attrs(d)) for d in data["edges"]]
        return CircuitGraph(nodes, edges, name=data.get("name", ""), attrs=data.get("attrs") or {})
    except TypeError as err:
        raise GraphFormatError(f"{source}: malformed node or edge record ({err}).") from err
    except GraphError as err:
        raise GraphFormatError(f"{source}: {err}") from err


def to_json(graph: CircuitGraph, path: str | os.PathLike[str] | None = None) -> str:
    text = json.dumps(to_dict(graph), indent=1, allow_nan=True)
    if path is not None:
        write_atomic(path, text)
    return text


def from_json(path_or_text: str | os.PathLike[str]) -> CircuitGraph:
    source, text = _read_text_or_path(path_or_text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise GraphFormatError(f"{source}: invalid JSON ({err}).") from err
    return from_dict(data, source)


# -- networkx -----------------------------------------------------------------------------------
def to_networkx(graph: CircuitGraph) -> nx.MultiDiGraph:
    """A ``networkx.MultiDiGraph`` whose node/edge data are the columns plus the attrs."""
    g = nx.MultiDiGraph(name=graph.name, **graph.attrs)
    for n in graph.nodes:
        g.add_node(n.name, **{c: getattr(n, c) for c in NODE_COLUMNS if c != "name"}, **n.attrs)
    for e in graph.edges:
        data = {c: getattr(e, c) for c in EDGE_COLUMNS if c not in ("source", "target")}
        g.add_edge(e.source, e.target, key=_edge_key_str(e), **data, **e.attrs)
    return g


def from_networkx(g: nx.Graph, name: str | None = None) -> CircuitGraph:
    """Build a CircuitGraph from any networkx graph (undirected edges become both directions)."""
    graph = CircuitGraph(name=name if name is not None else str(g.graph.get("name", "")),
                         attrs={k: v for k, v in g.graph.items() if k != "name"})
    for node, data in g.nodes(data=True):
        graph.add_node(str(node), **{"kind": "unit", **dict(data)})
    directed = g.is_directed()
    edge_iter = g.edges(data=True, keys=False) if not g.is_multigraph() else g.edges(data=True)
    for u, v, data in edge_iter:
        data = {"kind": "edge", **dict(data)}
        pairs = [(u, v)] if directed or u == v else [(u, v), (v, u)]
        for s, t in pairs:
            graph.add_edge(str(s), str(t), **data)
    return graph


# -- GraphML ------------------------------------------------------------------------------------
def to_graphml(graph: CircuitGraph, path: str | os.PathLike[str]) -> None:
    """GraphML through networkx. ``None`` columns are omitted and read back as ``None``;
    non-scalar attrs are stored as JSON strings."""
    g = nx.MultiDiGraph()
    g.graph["name"] = graph.name
    g.graph[_JSON_ATTR_PREFIX + "attrs"] = json.dumps(graph.attrs)
    for n in graph.nodes:
        g.add_node(n.name, **_graphml_fields(n, NODE_COLUMNS, skip=("name",)))
    for e in graph.edges:
        g.add_edge(e.source, e.target, key=_edge_key_str(e), **_graphml_fields(e, EDGE_COLUMNS, skip=("source", "target")))
    lines = "\n".join(nx.generate_graphml(g))
    write_atomic(path, lines + "\n")


def from_graphml(path: str | os.PathLike[str]) -> CircuitGraph:
    source = str(path)
    try:
        g = nx.read_graphml(path, force_multigraph=True)
    except FileNotFoundError:
        raise
    except Exception as err:  # networkx raises several parse error types
        raise GraphFormatError(f"{source}: not a readable GraphML file ({err}).") from err
    attrs = json.loads(g.graph.get(_JSON_ATTR_PREFIX + "attrs", "{}"))
    graph = CircuitGraph(name=str(g.graph.get("name", "")), attrs=attrs)
    try:
        for node, data in g.nodes(data=True):
            graph._insert_node(Node(name=str(node), **_from_graphml_fields(data, NODE_COLUMNS, "unit")))
        for u, v, data in g.edges(data=True):
            graph._insert_edge(Edge(source=str(u), target=str(v), **_from_graphml_fields(data, EDGE_COLUMNS, "edge")))
    except (TypeError, GraphError) as err:
        raise GraphFormatError(f"{source}: {err}") from err
    return graph


# -- CSV edge lists -----------------------------------------------------------------------------
def to_csv(graph: CircuitGraph, path: str | os.PathLike[str]) -> None:
    """Edge table as CSV (columns + one column per attr key). Nodes without edges are lost;
    use JSON or GraphML for a lossless copy."""
    attr_keys = sorted({k for e in graph.edges for k in e.attrs})
    rows = [list(EDGE_COLUMNS) + attr_keys]
    for e in graph.edges:
        rows.append([_csv_cell(getattr(e, c)) for c in EDGE_COLUMNS] + [_csv_cell(e.attrs.get(k)) for k in attr_keys])
    import io

    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    write_atomic(path, buf.getvalue())


def from_csv(path: str | os.PathLike[str], name: str = "") -> CircuitGraph:
    """Read an edge list with at least ``source`` and ``target`` columns."""
    source = str(path)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"source", "target"} - set(reader.fieldnames or [])
        if missing:
            raise GraphFormatError(f"{source}: missing column(s) {sorted(missing)}; an edge list needs 'source' and 'target'.")
        rows = list(reader)
    graph = CircuitGraph(name=name or Path(path).stem)
    for lineno, row in enumerate(rows, start=2):
        for end in (row["source"], row["target"]):
            if end and not graph.has_node(end):
                graph.add_node(end)
        try:
            fields = {k: _parse_csv_cell(k, v) for k, v in row.items() if k not in ("source", "target")}
            fields = {k: v for k, v in fields.items() if v is not None}
            graph.add_edge(row["source"], row["target"], **{"kind": "edge", **fields})
        except (ValueError, GraphError) as err:
            raise GraphFormatError(f"{source}, line {lineno}: {err}") from err
    return graph


# -- scipy.sparse -------------------------------------------------------------------------------
def to_scipy_sparse(
    graph: CircuitGraph, by: str = "weight", kind: str | Sequence[str] | None = None,
    nodelist: Sequence[str] | None = None, signed: bool = False,
) -> tuple[sp.csr_matrix, list[str]]:
    """Adjacency ``A[source, target]`` summed over parallel edges; missing values count as 1.

    With ``signed=True`` each entry is multiplied by the edge's sign (unknown sign = +1).
    """
    names = list(nodelist) if nodelist is not None else graph.node_names()
    index = {n: i for i, n in enumerate(names)}
    kinds = None if kind is None else ({kind} if isinstance(kind, str) else set(kind))
    rows, cols, vals = [], [], []
    for e in graph.edges:
        if kinds is not None and e.kind not in kinds:
            continue
        if e.source not in index or e.target not in index:
            continue
        value = getattr(e, by)
        value = 1.0 if value is None else float(value)
        if signed and e.sign:
            value *= e.sign
        rows.append(index[e.source]); cols.append(index[e.target]); vals.append(value)
    mat = sp.coo_matrix((vals, (rows, cols)), shape=(len(names), len(names)), dtype=np.float64).tocsr()
    mat.sum_duplicates()
    return mat, names


def from_scipy_sparse(
    matrix: sp.spmatrix | np.ndarray, names: Sequence[str] | None = None, kind: str = "edge",
    node_kind: str = "unit", name: str = "", signed: bool = True,
) -> CircuitGraph:
    """Nonzero ``matrix[i, j]`` becomes an edge i -> j with ``weight=|w|`` and ``sign`` when
    ``signed`` (else ``weight=w``)."""
    mat = sp.coo_matrix(matrix)
    if mat.shape[0] != mat.shape[1]:
        raise GraphFormatError(f"adjacency must be square, got shape {mat.shape}.")
    n = mat.shape[0]
    names = [str(i) for i in range(n)] if names is None else [str(x) for x in names]
    if len(names) != n:
        raise GraphFormatError(f"{len(names)} names given for a {n}x{n} adjacency.")
    graph = CircuitGraph(name=name)
    for nm in names:
        graph.add_node(nm, kind=node_kind)
    for i, j, w in zip(mat.row, mat.col, mat.data):
        if w == 0:
            continue
        if signed:
            graph.add_edge(names[i], names[j], kind=kind, weight=abs(float(w)), sign=1 if w > 0 else -1)
        else:
            graph.add_edge(names[i], names[j], kind=kind, weight=float(w))
    return graph


# -- helpers ------------------------------------------------------------------------------------
def _record_dict(record: Node | Edge, columns: tuple[str, ...]) -> dict[str, Any]:
    out = {c: getattr(record, c) for c in columns}
    if record.attrs:
        out["attrs"] = record.attrs
    return out


def _with_attrs(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, "attrs": dict(d.get("attrs") or {})}


def _read_text_or_path(path_or_text: str | os.PathLike[str]) -> tuple[str, str]:
    if isinstance(path_or_text, str) and path_or_text.lstrip().startswith("{"):
        return "<json text>", path_or_text
    path = Path(path_or_text)
    return str(path), path.read_text(encoding="utf-8")


def _edge_key_str(e: Edge) -> str:
    return f"{e.kind}@{e.position}" if e.position is not None else e.kind


def _graphml_fields(record: Node | Edge, columns: tuple[str, ...], skip: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in columns:
        if c in skip:
            continue
        value = getattr(record, c)
        if value is not None:
            out[c] = value
    for k, v in record.attrs.items():
        if isinstance(v, (bool, int, float, str)):
            out[_ATTR_PREFIX + k] = v
        else:
            out[_JSON_ATTR_PREFIX + k] = json.dumps(v)
    return out


def _from_graphml_fields(data: dict[str, Any], columns: tuple[str, ...], default_kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": default_kind, "attrs": {}}
    for k, v in data.items():
        if k in columns:
            out[k] = v
        elif k.startswith(_ATTR_PREFIX):
            out["attrs"][k[len(_ATTR_PREFIX):]] = v
        elif k.startswith(_JSON_ATTR_PREFIX):
            out["attrs"][k[len(_JSON_ATTR_PREFIX):]] = json.loads(v)
    for int_col in ("layer", "head", "position", "sign"):
        if out.get(int_col) is not None:
            out[int_col] = int(out[int_col])
    return out


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


_CSV_INT = {"sign", "position"}
_CSV_FLOAT = {"weight", "score"}


def _parse_csv_cell(column: str, text: str | None) -> Any:
    if text is None or text == "":
        return None
    if column in _CSV_INT:
        return int(text)
    if column in _CSV_FLOAT:
        value = float(text)
        if column == "weight" and value < 0:
            raise ValueError(f"negative weight {value} in column 'weight' (use the 'sign' column for inhibition)")
        return value
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
