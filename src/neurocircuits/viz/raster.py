"""Spike raster plots (matplotlib, Agg back end: no display needed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_FORMATS = (".png", ".svg", ".pdf")


def plot_raster(
    spike_times_ms: Sequence[float] | np.ndarray | Any,
    neuron_ids: Sequence[int] | np.ndarray | Any,
    path: str | os.PathLike[str],
    title: str | None = None,
    t_max_ms: float | None = None,
    n_neurons: int | None = None,
    marker_size: float = 2.0,
    dpi: int = 120,
) -> Path:
    """Draw a spike raster (one dot per spike: time on x, neuron on y) and save it to ``path``.

    Args:
        spike_times_ms: spike times in milliseconds (any 1-D array-like, tensors included).
        neuron_ids: the neuron index of each spike, same length as ``spike_times_ms``.
        path: output file; ``.png``, ``.svg`` or ``.pdf`` (chosen by suffix). Written atomically.
        title: optional title.
        t_max_ms: right end of the time axis (default: last spike).
        n_neurons: number of neuron rows (default: max id + 1).

    Returns:
        The written path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    t = _as_1d(spike_times_ms, "spike_times_ms")
    ids = _as_1d(neuron_ids, "neuron_ids")
    if t.shape != ids.shape:
        raise ValueError(
            f"spike_times_ms has {t.size} entries but neuron_ids has {ids.size}; pass one neuron id per spike."
        )
    if not np.all(np.isfinite(t)):
        raise ValueError("spike_times_ms contains NaN or inf; drop those spikes before plotting.")
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise ValueError(f"raster path must end in one of {_FORMATS}, got {path.name!r}.")
    fig = Figure(figsize=(7, 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(t, ids, s=marker_size, c="black", marker="|" if t.size < 20000 else ".", linewidths=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    top = n_neurons if n_neurons is not None else (int(ids.max()) + 1 if ids.size else 1)
    ax.set_ylim(-0.5, top - 0.5)
    right = t_max_ms if t_max_ms is not None else (float(t.max()) if t.size else 1.0)
    ax.set_xlim(0.0, max(right, 1e-9))
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lower()[1:])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _as_1d(values: Any, name: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=float).reshape(-1) if np.ndim(values) <= 1 else None
    if arr is None:
        raise ValueError(f"{name} must be one-dimensional, got shape {np.shape(values)}.")
    return arr
