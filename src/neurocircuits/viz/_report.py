"""The discovery report folder: ``report.html``, ``circuit.json`` and ``scores.csv``.

The folder is built in a temporary sibling directory and renamed into place, so a crash or a
Ctrl-C never leaves a half-written report (an existing report is replaced only once the new one is
complete).

A *result* is anything with the attributes of ``neurocircuits.discover.DiscoveryResult``:
``method``, ``scores`` (CircuitGraph with edge scores), ``circuit`` (CircuitGraph),
``faithfulness``, ``n_edges``, ``seconds`` and ``curve`` (see :mod:`._curves`); missing optional
attributes are shown as "n/a".
"""

from __future__ import annotations

import csv
import datetime as _dt
import html
import io
import json
import math
import os
import platform
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..graph import CircuitGraph
from ._curves import CurveFormatError, curve_points, curves_svg
from ._diagram import circuit_svg

REPORT_FILES = ("report.html", "circuit.json", "scores.csv")
SCORES_COLUMNS = ("method", "source", "target", "kind", "position", "score", "in_circuit")


def _get(result: Any, name: str, default: Any = None) -> Any:
    if isinstance(result, Mapping):
        return result.get(name, default)
    return getattr(result, name, default)


def _num(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _fmt(v: Any, digits: int = 3) -> str:
    f = _num(v)
    return "n/a" if math.isnan(f) else f"{f:.{digits}f}"


def _json_safe(value: Any) -> Any:
    """Coerce metadata to JSON-serialisable values (tensors, paths, numpy scalars -> str/float)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return str(value)


def total_edges(result: Any) -> int | None:
    scores = _get(result, "scores")
    return scores.n_edges if isinstance(scores, CircuitGraph) else None


def scores_rows(results: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per (method, scored edge), sorted by |score| within each method."""
    rows = []
    for r in results:
        scores: CircuitGraph | None = _get(r, "scores")
        circuit: CircuitGraph | None = _get(r, "circuit")
        if scores is None:
            continue
        kept = circuit.edge_keys() if circuit is not None else set()
        edges = sorted(scores.edges, key=lambda e: -abs(_num(e.score)) if not math.isnan(_num(e.score)) else math.inf)
        for e in edges:
            rows.append({
                "method": str(_get(r, "method", "")), "source": e.source, "target": e.target, "kind": e.kind,
                "position": "" if e.position is None else e.position, "score": _num(e.score),
                "in_circuit": int(e.key in kept),
            })
    return rows


def scores_csv(results: Sequence[Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SCORES_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in scores_rows(results):
        row = dict(row)
        row["score"] = repr(row["score"])
        writer.writerow(row)
    return buf.getvalue()


def run_metadata(meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The caller's metadata plus date, machine and library versions."""
    import torch

    from .. import __version__ as nc_version

    base = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": f"{platform.platform()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "neurocircuits": nc_version,
    }
    base.update({str(k): _json_safe(v) for k, v in (meta or {}).items()})
    return base


def _summary_rows_html(results: Sequence[Any]) -> str:
    rows = []
    for r in results:
        total = total_edges(r)
        kept = _get(r, "n_edges")
        kept_s = "n/a" if kept is None else str(kept)
        if total:
            kept_s += f" / {total} ({100.0 * int(kept or 0) / total:.1f}%)"
        rows.append(
            f'<tr class="summary-row"><td>{html.escape(str(_get(r, "method", "")))}</td><td>{kept_s}</td>'
            f'<td>{_fmt(_get(r, "faithfulness"))}</td><td>{_fmt(_get(r, "completeness"))}</td>'
            f'<td>{_fmt(_get(r, "seconds"), 2)} s</td></tr>'
        )
    return "\n".join(rows)


def _top_edges_html(result: Any, top_n: int) -> str:
    rows = [row for row in scores_rows([result])][:top_n]
    out = []
    for i, row in enumerate(rows, 1):
        out.append(
            f'<tr class="edge-row"><td>{i}</td><td>{html.escape(row["source"])}</td><td>{html.escape(row["target"])}</td>'
            f'<td>{html.escape(row["kind"])}</td><td>{row["position"]}</td><td>{row["score"]:.5g}</td>'
            f'<td>{"yes" if row["in_circuit"] else ""}</td></tr>'
        )
    return "\n".join(out)


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#111827;max-width:1200px}
h1{font-size:22px} h2{font-size:17px;margin-top:28px} table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #d1d5db;padding:3px 9px;font-size:13px;text-align:left}
th{background:#f3f4f6} .meta td:first-child{font-weight:bold} .figure{overflow-x:auto;border:1px solid #e5e7eb;padding:6px}
.legend span{display:inline-block;margin-right:16px;font-size:12px} details{margin:10px 0}
summary{cursor:pointer;font-weight:bold}
"""


def report_html(
    results: Sequence[Any],
    meta: Mapping[str, Any] | None = None,
    top_n: int = 30,
    engine: str = "auto",
    title: str | None = None,
) -> str:
    """The self-contained HTML report (inline SVG, no scripts, no external files)."""
    meta = run_metadata(meta)
    title = title or f"Circuit discovery: {meta.get('model', 'model')} / {meta.get('task', 'task')}"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        '<h2>Run</h2><table class="meta">',
    ]
    for k, v in meta.items():
        parts.append(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>")
    parts.append("</table>")
    parts.append('<h2>Summary</h2><table class="summary"><tr><th>method</th><th>edges kept</th>'
                 "<th>faithfulness</th><th>completeness</th><th>time</th></tr>")
    parts.append(_summary_rows_html(results))
    parts.append("</table><p>Faithfulness = (m<sub>circuit</sub> &minus; m<sub>ablated</sub>) / (m<sub>full</sub> "
                 "&minus; m<sub>ablated</sub>), with every edge outside the circuit ablated for m<sub>circuit</sub> "
                 "and every edge ablated for m<sub>ablated</sub>: 1 when the circuit alone reproduces the model, "
                 "0 when it does no better than the fully ablated model. Completeness = share of the full effect "
                 "removed by ablating only the circuit.</p>")

    curves = {}
    for r in results:
        try:
            pts = curve_points(_get(r, "curve"))
        except CurveFormatError:
            pts = []
        if pts:
            curves[str(_get(r, "method", f"run {len(curves)}"))] = pts
    if curves:
        parts.append('<h2>Faithfulness vs circuit size</h2><div class="figure">')
        parts.append(curves_svg(curves))
        parts.append("</div>")

    for i, r in enumerate(results):
        method = html.escape(str(_get(r, "method", f"run {i}")))
        circuit = _get(r, "circuit")
        parts.append(f'<details class="method" {"open" if i == 0 else ""}><summary>{method}: circuit and top edges</summary>')
        if isinstance(circuit, CircuitGraph):
            parts.append(f"<h2>Circuit ({circuit.n_edges} edges)</h2>")
            parts.append('<p class="legend"><span style="color:#2563eb">&#9644; positive score</span>'
                         '<span style="color:#dc2626">&#9644; negative score</span>'
                         "<span>width &#8733; |score|; bottom = embedding, top = logits</span></p>")
            scores = _get(r, "scores")
            rank_graph = scores if isinstance(scores, CircuitGraph) else None
            parts.append('<div class="figure">' + circuit_svg(circuit, engine=engine, rank_graph=rank_graph) + "</div>")
        parts.append(f"<h2>Top {top_n} edges by |score|</h2>")
        parts.append('<table class="top-edges"><tr><th>#</th><th>source</th><th>target</th><th>kind</th>'
                     "<th>position</th><th>score</th><th>in circuit</th></tr>")
        parts.append(_top_edges_html(r, top_n))
        parts.append("</table></details>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    out_dir: str | os.PathLike[str],
    results: Any,
    meta: Mapping[str, Any] | None = None,
    top_n: int = 30,
    engine: str = "auto",
) -> Path:
    """Write ``report.html``, ``circuit.json`` and ``scores.csv`` into ``out_dir`` atomically.

    Args:
        out_dir: the report folder; replaced as a whole once the new report is complete.
        results: one discovery result or a sequence of them; the first one's circuit is
            ``circuit.json`` and is drawn open in the HTML.
        meta: run metadata shown in the report and stored in ``circuit.json``'s attrs (model,
            task, metric, ablation, seed, ...).

    Returns:
        The report folder path.
    """
    if not isinstance(results, Sequence) or isinstance(results, (str, Mapping)):
        results = [results]
    results = list(results)
    if not results:
        raise ValueError("write_report needs at least one discovery result.")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    full_meta = run_metadata(meta)
    primary = results[0]
    circuit = _get(primary, "circuit")
    if not isinstance(circuit, CircuitGraph):
        raise TypeError(f"result.circuit must be a CircuitGraph, got {type(circuit).__name__}.")
    circuit = circuit.copy()
    circuit.attrs.update({
        "method": str(_get(primary, "method", "")), "faithfulness": _json_safe(_get(primary, "faithfulness")),
        "seconds": _json_safe(_get(primary, "seconds")), "run": full_meta,
    })
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        (tmp / "report.html").write_text(report_html(results, meta, top_n=top_n, engine=engine), encoding="utf-8")
        (tmp / "circuit.json").write_text(json.dumps(circuit.to_dict(), indent=1), encoding="utf-8")
        (tmp / "scores.csv").write_text(scores_csv(results), encoding="utf-8")
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_into_place(tmp: Path, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder; pick another --out.")
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
