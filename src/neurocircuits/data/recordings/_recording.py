"""``Recording``: spike trains and continuous recordings as one small tidy type.

A recording has named channels (neurons, electrodes, stimulus lines) and either

* ``spikes``: one sorted array of spike times in seconds per channel (``kind="spikes"``), or
* ``data``: a ``[time, channel]`` float array sampled at ``rate_hz`` (``kind="continuous"``;
  calcium traces, membrane potentials, stimuli). Missing channels are NaN columns.

Both share ``start_s`` and ``duration_s``; ``binned(bin_s)`` turns spikes into counts,
``align(names)`` reorders channels into a given order (e.g. a connectome's node order), and
``to_tensor()`` gives ``[time, channel]`` for a model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np


class RecordingError(ValueError):
    """A recording is inconsistent (shapes, unsorted spikes, unknown channels); the message says how."""


@dataclass(frozen=True, eq=False)
class Recording:
    """Spike trains or a continuous recording (see the module docstring).

    Attributes:
        channels: channel names, unique.
        spikes: per channel, sorted spike times in seconds (``None`` for continuous data).
        data: ``[time, channel]`` samples (``None`` for spike data).
        rate_hz: sampling rate of ``data``; for spikes, an optional nominal resolution.
        start_s: time of the first sample / start of the observation window, seconds.
        duration_s: length of the observation window, seconds (derived from ``data`` when continuous).
        name: free text; ``attrs``: JSON-serialisable metadata (units, source, ...).
    """

    channels: tuple[str, ...]
    spikes: tuple[np.ndarray, ...] | None = None
    data: np.ndarray | None = None
    rate_hz: float | None = None
    start_s: float = 0.0
    duration_s: float | None = None
    name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        channels = tuple(str(c) for c in self.channels)
        object.__setattr__(self, "channels", channels)
        if len(set(channels)) != len(channels):
            dup = sorted({c for c in channels if channels.count(c) > 1})
            raise RecordingError(f"channel names must be unique; repeated: {dup[:5]}.")
        if (self.spikes is None) == (self.data is None):
            raise RecordingError("give exactly one of spikes= (spike trains) or data= (continuous samples).")
        if self.spikes is not None:
            self._check_spikes(channels)
        else:
            self._check_data(channels)

    def _check_spikes(self, channels: tuple[str, ...]) -> None:
        trains = tuple(np.asarray(t, dtype=np.float64).reshape(-1) for t in self.spikes or ())
        if len(trains) != len(channels):
            raise RecordingError(f"{len(trains)} spike trains for {len(channels)} channels; give one per channel.")
        for c, t in zip(channels, trains):
            if not np.isfinite(t).all():
                raise RecordingError(f"channel {c!r} has NaN/inf spike times.")
            if t.size > 1 and np.any(np.diff(t) < 0):
                raise RecordingError(f"channel {c!r}: spike times must be sorted ascending.")
            if t.size and t[0] < self.start_s:
                raise RecordingError(f"channel {c!r} has a spike at {t[0]} s, before start_s={self.start_s}.")
        object.__setattr__(self, "spikes", trains)
        if self.duration_s is None:
            last = max((float(t[-1]) for t in trains if t.size), default=self.start_s)
            object.__setattr__(self, "duration_s", last - self.start_s)
        elif any(t.size and t[-1] > self.start_s + self.duration_s for t in trains):
            raise RecordingError("a spike lies after start_s + duration_s; widen duration_s.")

    def _check_data(self, channels: tuple[str, ...]) -> None:
        data = np.asarray(self.data, dtype=np.float64)
        if data.ndim == 1 and len(channels) == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[1] != len(channels):
            raise RecordingError(
                f"data must be [time, channel] with {len(channels)} channels, got shape {data.shape}."
            )
        if self.rate_hz is None or not self.rate_hz > 0:
            raise RecordingError(f"continuous data needs rate_hz > 0, got {self.rate_hz}.")
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "duration_s", data.shape[0] / float(self.rate_hz))

    # -- basics ---------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return "spikes" if self.spikes is not None else "continuous"

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def n_samples(self) -> int:
        if self.data is None:
            raise RecordingError("spike recordings have no samples; use binned(bin_s) first.")
        return int(self.data.shape[0])

    def times(self) -> np.ndarray:
        """Sample times in seconds (continuous recordings)."""
        return self.start_s + np.arange(self.n_samples) / float(self.rate_hz or 1.0)

    def index(self, channel: str) -> int:
        try:
            return self.channels.index(channel)
        except ValueError:
            raise RecordingError(f"no channel {channel!r}; channels are {list(self.channels[:10])}...") from None

    def firing_rates_hz(self) -> np.ndarray:
        """Mean rate of each channel over the observation window (spike recordings)."""
        if self.spikes is None:
            raise RecordingError("firing_rates_hz needs spike trains.")
        dur = self.duration_s or 0.0
        return np.array([t.size / dur if dur > 0 else math.nan for t in self.spikes])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recording):
            return NotImplemented
        if (self.channels, self.kind, self.name, self.attrs) != (other.channels, other.kind, other.name, other.attrs):
            return False
        if not (math.isclose(self.start_s, other.start_s) and _close(self.duration_s, other.duration_s)
                and _close(self.rate_hz, other.rate_hz)):
            return False
        if self.spikes is not None:
            return all(np.array_equal(a, b) for a, b in zip(self.spikes, other.spikes or ()))
        return bool(np.array_equal(self.data, other.data, equal_nan=True))

    def __repr__(self) -> str:
        extra = f"rate_hz={self.rate_hz}, n_samples={self.n_samples}" if self.data is not None else \
            f"n_spikes={sum(t.size for t in self.spikes or ())}"
        return (f"Recording(name={self.name!r}, kind={self.kind!r}, n_channels={self.n_channels}, "
                f"duration_s={self.duration_s:.4g}, {extra})")

    # -- transforms -----------------------------------------------------------------------------
    def binned(self, bin_s: float) -> Recording:
        """Spike counts in bins of ``bin_s`` seconds as a continuous recording (rate ``1/bin_s``)."""
        if self.spikes is None:
            raise RecordingError("binned() needs spike trains; this recording is continuous.")
        if not bin_s > 0:
            raise RecordingError(f"bin_s must be > 0, got {bin_s}.")
        n_bins = max(1, int(math.ceil(round((self.duration_s or 0.0) / bin_s, 9))))
        counts = np.zeros((n_bins, self.n_channels))
        for j, t in enumerate(self.spikes):
            idx = np.clip(np.floor((t - self.start_s) / bin_s).astype(np.int64), 0, n_bins - 1)
            counts[:, j] = np.bincount(idx, minlength=n_bins)
        return Recording(self.channels, data=counts, rate_hz=1.0 / bin_s, start_s=self.start_s,
                         name=self.name, attrs={**self.attrs, "binned_from": "spikes", "bin_s": bin_s})

    def select(self, channels: Sequence[str]) -> Recording:
        """The named channels, in the given order (unknown names raise)."""
        idx = [self.index(c) for c in channels]
        if self.spikes is not None:
            return replace(self, channels=tuple(channels), spikes=tuple(self.spikes[i] for i in idx))
        return replace(self, channels=tuple(channels), data=self.data[:, idx], duration_s=None)

    def align(self, names: Sequence[str]) -> Recording:
        """Reorder to ``names`` (e.g. ``graph.node_names()``); names not recorded become NaN
        columns (continuous) or empty trains (spikes), marked in ``attrs["recorded"]``."""
        names = [str(n) for n in names]
        have = set(self.channels)
        recorded = [n in have for n in names]
        if self.spikes is not None:
            trains = tuple(self.spikes[self.index(n)] if ok else np.empty(0) for n, ok in zip(names, recorded))
            return replace(self, channels=tuple(names), spikes=trains, attrs={**self.attrs, "recorded": recorded})
        data = np.full((self.n_samples, len(names)), np.nan)
        for j, (n, ok) in enumerate(zip(names, recorded)):
            if ok:
                data[:, j] = self.data[:, self.index(n)]
        return replace(self, channels=tuple(names), data=data, duration_s=None,
                       attrs={**self.attrs, "recorded": recorded})

    def to_tensor(self, dtype: Any = None) -> Any:
        """``[time, channel]`` torch tensor of the samples (continuous recordings)."""
        import torch

        if self.data is None:
            raise RecordingError("to_tensor() needs samples; call binned(bin_s) on spike trains first.")
        return torch.as_tensor(self.data, dtype=dtype or torch.float32)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
