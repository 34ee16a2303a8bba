"""Summary statistics of a spike raster and atomic export (NPZ, NWB when pynwb is installed)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np


def spike_statistics(t_ms: np.ndarray, i: np.ndarray, n_neurons: int, duration_ms: float,
                     min_spikes_for_cv: int = 3) -> dict[str, float]:
    """Mean rate (Hz), mean CV of inter-spike intervals (neurons with enough spikes), spike count."""
    t_ms, i = np.asarray(t_ms, dtype=np.float64), np.asarray(i, dtype=np.int64)
    order = np.lexsort((t_ms, i))
    t_s, i_s = t_ms[order], i[order]
    bounds = np.searchsorted(i_s, np.arange(n_neurons + 1))
    cvs = []
    for k in range(n_neurons):
        tr = t_s[bounds[k]:bounds[k + 1]]
        if tr.size >= min_spikes_for_cv:
            isi = np.diff(tr)
            if isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
    return {
        "spike_count": int(i.size),
        "rate_hz": float(i.size / n_neurons / (duration_ms * 1e-3)) if duration_ms > 0 else float("nan"),
        "cv_isi": float(np.mean(cvs)) if cvs else float("nan"),
        "n_neurons_with_cv": len(cvs),
        "fraction_active": float(np.unique(i).size / n_neurons),
    }


def save_spikes_npz(path: str | os.PathLike[str], t_ms: np.ndarray, i: np.ndarray, **meta: Any) -> Path:
    """Write spikes (``t_ms``, ``i``) and scalar metadata to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, t_ms=np.asarray(t_ms), i=np.asarray(i), **{k: np.asarray(v) for k, v in meta.items()})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)
    return path


def save_spikes_nwb(path: str | os.PathLike[str], t_ms: np.ndarray, i: np.ndarray, n_neurons: int,
                    description: str = "neurocircuits simulation") -> Path:
    """Write the spikes as an NWB units table (needs ``pynwb``); atomic."""
    from datetime import datetime, timezone

    from pynwb import NWBHDF5IO, NWBFile

    path = Path(path)
    nwb = NWBFile(session_description=description, identifier=path.stem,
                  session_start_time=datetime.now(timezone.utc))
    order = np.argsort(i, kind="stable")
    t_s, i_s = np.asarray(t_ms)[order] * 1e-3, np.asarray(i)[order]
    bounds = np.searchsorted(i_s, np.arange(n_neurons + 1))
    for k in range(n_neurons):
        nwb.add_unit(spike_times=t_s[bounds[k]:bounds[k + 1]])
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    with NWBHDF5IO(str(tmp), "w") as io_:
        io_.write(nwb)
    os.replace(tmp, path)
    return path
