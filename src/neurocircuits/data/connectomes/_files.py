"""Reading a user's connectome edge table (CSV) with checks that name the file and the problem.

The table has one row per connection with the columns ``pre``, ``post``, ``type`` (``chemical``
or ``electrical``; ``gap``/``gapjunction``/``ej`` are accepted for electrical, ``chem``/``send``
for chemical) and ``count`` (a non-negative synapse count). Optional columns: ``sign``
(``+1``/``-1``/empty) and ``neurotransmitter``. Electrical connections are made symmetric: a
row ``A,B,electrical,n`` also adds ``B -> A`` with the same count, and a contradicting reverse row
is an error.
"""

from __future__ import annotations

import csv
import difflib
import os
from collections.abc import Collection
from pathlib import Path

from ...graph import CircuitGraph, GraphFormatError
from ._celegans import normalise_neuron_name

REQUIRED_COLUMNS = ("pre", "post", "type", "count")
_TYPES = {
    "chemical": "chemical", "chem": "chemical", "send": "chemical", "s": "chemical",
    "electrical": "electrical", "gap": "electrical", "gapjunction": "electrical",
    "gap_junction": "electrical", "ej": "electrical",
}


class ConnectomeFileError(GraphFormatError):
    """A connectome file is malformed; the message names the file, the line and the problem."""


def read_connectome_csv(
    path: str | os.PathLike[str], neurons: Collection[str] | None = None, name: str | None = None,
    normalise_names: bool = True,
) -> CircuitGraph:
    """Read a connectome edge table into a CircuitGraph (``kind="neuron"`` nodes).

    Args:
        path: CSV file with the columns ``pre, post, type, count`` (see the module docstring).
        neurons: the allowed neuron names (e.g. ``data.connectome("celegans/cook2019_herm")
            .node_names()``); a name outside it raises. ``None`` accepts any name. Listed neurons
            become nodes even when they have no connection, in the given order.
        name: graph name (default: the file's stem).
        normalise_names: apply :func:`normalise_neuron_name` (``"DB07"`` -> ``"DB7"``).

    Raises:
        ConnectomeFileError: missing columns, unknown neuron names, bad or negative counts,
            unknown connection types, contradicting gap-junction rows, duplicate rows.
    """
    source = str(path)
    norm = normalise_neuron_name if normalise_names else (lambda s: str(s).strip())
    allowed = None if neurons is None else [norm(n) for n in neurons]
    allowed_set = None if allowed is None else set(allowed)
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ConnectomeFileError(
                f"{source}: missing column(s) {missing}; a connectome table needs the columns "
                f"{list(REQUIRED_COLUMNS)} (found {header})."
            )
        rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in reader]
    g = CircuitGraph(name=name if name is not None else Path(path).stem, attrs={"source_file": source})
    for n in allowed or ():
        if not g.has_node(n):
            g.add_node(n, kind="neuron")
    seen: dict[tuple[str, str, str], int] = {}
    for lineno, row in enumerate(rows, start=2):
        where = f"{source}, line {lineno}"
        pre, post = norm(row["pre"]), norm(row["post"])
        for cell in (pre, post):
            if not cell:
                raise ConnectomeFileError(f"{where}: empty neuron name.")
            if allowed_set is not None and cell not in allowed_set:
                close = difflib.get_close_matches(cell, allowed, n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise ConnectomeFileError(f"{where}: unknown neuron name {cell!r}.{hint}")
            if not g.has_node(cell):
                g.add_node(cell, kind="neuron")
        kind = _TYPES.get(row["type"].lower().replace(" ", ""))
        if kind is None:
            raise ConnectomeFileError(
                f"{where}: unknown connection type {row['type']!r}; use 'chemical' or 'electrical'."
            )
        try:
            count = float(row["count"])
        except ValueError:
            raise ConnectomeFileError(f"{where}: count {row['count']!r} is not a number.") from None
        if count < 0 or count != count:
            raise ConnectomeFileError(f"{where}: negative or NaN synapse count {count}; counts must be >= 0.")
        if count == 0:
            continue
        sign = _parse_sign(row.get("sign", ""), where) if kind == "chemical" else None
        extra = {"neurotransmitter": row["neurotransmitter"]} if row.get("neurotransmitter") else {}
        pairs = [(pre, post)] if kind == "chemical" or pre == post else [(pre, post), (post, pre)]
        for a, b in pairs:
            key = (a, b, kind)
            if key in seen:
                prev = g.edge(a, b, kind)
                if kind == "electrical" and prev.weight == count:
                    continue  # the (consistent) reverse of a gap junction already added
                raise ConnectomeFileError(
                    f"{where}: {kind} connection {a} -> {b} already given on line {seen[key]}"
                    + (" with a different count (gap junctions must be symmetric)." if kind == "electrical" else ".")
                )
            seen[key] = lineno
            g.add_edge(a, b, kind=kind, weight=count, sign=sign, **extra)
    return g


def _parse_sign(text: str, where: str) -> int | None:
    if text in ("", "0", "?"):
        return None
    if text in ("+", "+1", "1", "E", "e", "exc"):
        return 1
    if text in ("-", "-1", "I", "i", "inh"):
        return -1
    raise ConnectomeFileError(f"{where}: sign {text!r} is not +1, -1 or empty.")
