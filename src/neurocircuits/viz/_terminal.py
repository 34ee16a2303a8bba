"""A rich terminal summary of discovery runs: one row per method."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from ._report import _fmt, _get, total_edges


def summary_table(results: Sequence[Any], title: str | None = "Circuit discovery") -> Table:
    """A ``rich.table.Table`` with columns method, edges kept, faithfulness, time."""
    table = Table(title=title)
    table.add_column("method", style="bold")
    table.add_column("edges kept", justify="right")
    table.add_column("faithfulness", justify="right")
    table.add_column("time (s)", justify="right")
    for r in results:
        kept = _get(r, "n_edges")
        total = total_edges(r)
        kept_s = "n/a" if kept is None else str(kept)
        if total:
            kept_s += f" / {total} ({100.0 * int(kept or 0) / total:.1f}%)"
        table.add_row(str(_get(r, "method", "")), kept_s, _fmt(_get(r, "faithfulness")), _fmt(_get(r, "seconds"), 2))
    return table


def print_summary(results: Sequence[Any], console: Console | None = None, title: str | None = "Circuit discovery") -> None:
    """Print :func:`summary_table` to ``console`` (default: a new stdout console)."""
    (console or Console()).print(summary_table(results, title=title))
