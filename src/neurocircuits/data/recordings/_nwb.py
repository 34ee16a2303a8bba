"""NWB read/write for :class:`Recording` through ``pynwb`` (optional extra ``[nwb]``).

Spike recordings go to the NWB ``units`` table (one unit per channel, a ``channel`` column with
the name, ``obs_intervals`` = the observation window); continuous recordings to an acquisition
``TimeSeries`` with ``[time, channel]`` data, ``rate`` and ``starting_time``. The recording's
name, channel names and attrs are stored as JSON in the file's ``notes`` so that a round trip
loses nothing. Writing is atomic (temporary file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..connectomes._registry import require
from ._recording import Recording, RecordingError

_MARK = "neurocircuits.Recording"
_SERIES = "recording"


class NWBFormatError(RecordingError):
    """An NWB file could not be read (truncated, corrupt, or not written by this library); the
    message names the file and the problem."""


def write_nwb(recording: Recording, path: str | os.PathLike[str], session_description: str = "") -> None:
    """Write ``recording`` to the NWB file ``path`` (atomically)."""
    pynwb = require("pynwb", "nwb", "NWB I/O")
    path = Path(path)
    meta = {"format": _MARK, "version": 1, "name": recording.name, "channels": list(recording.channels),
            "kind": recording.kind, "attrs": recording.attrs, "rate_hz": recording.rate_hz,
            "start_s": recording.start_s, "duration_s": recording.duration_s}
    nwb = pynwb.NWBFile(
        session_description=session_description or recording.name or "neurocircuits recording",
        identifier=str(uuid.uuid4()), session_start_time=datetime(2000, 1, 1, tzinfo=timezone.utc),
        notes=json.dumps(meta),
    )
    if recording.spikes is not None:
        nwb.add_unit_column(name="channel", description="channel (neuron) name")
        window = [[recording.start_s, recording.start_s + (recording.duration_s or 0.0)]]
        for name, train in zip(recording.channels, recording.spikes):
            nwb.add_unit(spike_times=np.asarray(train, dtype=np.float64), obs_intervals=window, channel=name)
    else:
        nwb.add_acquisition(pynwb.TimeSeries(
            name=_SERIES, data=np.asarray(recording.data), unit=str(recording.attrs.get("unit", "a.u.")),
            rate=float(recording.rate_hz or 1.0), starting_time=float(recording.start_s),
            description=json.dumps(list(recording.channels)),
        ))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.nwb")
    os.close(fd)
    try:
        with pynwb.NWBHDF5IO(tmp, "w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_nwb(path: str | os.PathLike[str]) -> Recording:
    """Read a recording written by :func:`write_nwb`, or the units table / first acquisition
    TimeSeries of another NWB file.

    Raises:
        NWBFormatError: the file is truncated, corrupt or holds neither units nor a TimeSeries.
        FileNotFoundError: no such file.
    """
    pynwb = require("pynwb", "nwb", "NWB I/O")
    source = str(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"{source}: no such NWB file.")
    try:
        with pynwb.NWBHDF5IO(source, "r") as io:
            nwb = io.read()
            return _to_recording(nwb, source)
    except NWBFormatError:
        raise
    except Exception as err:  # h5py / hdmf raise OSError, KeyError, ValueError... on damaged files
        raise NWBFormatError(
            f"{source}: not a readable NWB file (truncated or corrupt?): {type(err).__name__}: {err}"
        ) from err


def _to_recording(nwb: Any, source: str) -> Recording:
    meta: dict[str, Any] = {}
    try:
        parsed = json.loads(nwb.notes or "{}")
        if isinstance(parsed, dict) and parsed.get("format") == _MARK:
            meta = parsed
    except (TypeError, json.JSONDecodeError):
        pass
    kind = meta.get("kind") or ("spikes" if nwb.units is not None and len(nwb.units) else "continuous")
    if kind == "spikes":
        units = nwb.units
        if units is None:
            raise NWBFormatError(f"{source}: the file has no units table with spike times.")
        n = len(units)
        cols = set(units.colnames)
        names = [str(units["channel"][i]) for i in range(n)] if "channel" in cols else [str(units.id[i]) for i in range(n)]
        trains = tuple(np.asarray(units["spike_times"][i], dtype=np.float64) for i in range(n))
        channels = meta.get("channels", names)
        if list(channels) != names:
            raise NWBFormatError(f"{source}: units table channels {names[:5]} disagree with the stored metadata.")
        return Recording(tuple(channels), spikes=trains, rate_hz=meta.get("rate_hz"),
                         start_s=float(meta.get("start_s", 0.0)), duration_s=meta.get("duration_s"),
                         name=meta.get("name", ""), attrs=meta.get("attrs", {}))
    series = nwb.acquisition.get(_SERIES) or next(iter(nwb.acquisition.values()), None)
    if series is None:
        raise NWBFormatError(f"{source}: the file has neither a units table nor an acquisition TimeSeries.")
    data = np.asarray(series.data[:])
    if data.ndim == 1:
        data = data[:, None]
    channels = meta.get("channels")
    if channels is None:
        try:
            channels = json.loads(series.description)
        except (TypeError, json.JSONDecodeError):
            channels = [f"ch{i}" for i in range(data.shape[1])]
    rate = series.rate if series.rate is not None else meta.get("rate_hz")
    if rate is None:
        raise NWBFormatError(f"{source}: TimeSeries {series.name!r} has timestamps, not a rate; resample it first.")
    return Recording(tuple(channels), data=data, rate_hz=float(rate), start_s=float(series.starting_time or 0.0),
                     name=meta.get("name", ""), attrs=meta.get("attrs", {}))
