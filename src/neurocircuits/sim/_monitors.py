"""Opt-in monitors: spikes, sampled state variables (with their memory stated up front), population rates."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._groups import NeuronGroup, Subgroup, resolve


class MonitorMemoryError(MemoryError):
    """A monitor would need more memory than its budget; the message says how much and how to cut it."""


class _Monitor:
    def __init__(self, source: NeuronGroup | Subgroup, name: str | None = None) -> None:
        self.source = source
        self.group, self.offset, self.n = resolve(source)
        self.name = name

    def build(self, dt_ms: float, device: Any) -> None:
        self.dt_ms, self.device = dt_ms, device

    def start_run(self, step0: int, n_steps: int) -> None:  # noqa: B027
        pass

    def record(self, step: int) -> None:  # noqa: B027
        pass

    @property
    def population(self) -> str:
        return self.source.label if isinstance(self.source, Subgroup) else self.group.label


class SpikeMonitor(_Monitor):
    """Records every spike of a population (or subgroup) as (step, neuron) pairs.

    Results: ``t_ms`` and ``i`` (numpy, time-sorted), ``count`` per neuron, ``spike_trains()``,
    ``to_tensors()`` and ``to_table()`` (tidy columns population / neuron / t_ms).
    """

    def build(self, dt_ms: float, device: Any) -> None:
        super().build(dt_ms, device)
        self._steps: list[Tensor] = []
        self._idx: list[Tensor] = []
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def record(self, step: int) -> None:
        z = self.group.spikes[self.offset:self.offset + self.n]
        idx = torch.nonzero(z).squeeze(1)
        if idx.numel():
            self._idx.append(idx)
            self._steps.append(torch.full_like(idx, step))
            self._cache = None

    def record_bulk(self, steps: np.ndarray, idx: np.ndarray) -> None:
        """Record many spikes at once (used by the numba fast path)."""
        if idx.size:
            self._idx.append(torch.as_tensor(idx))
            self._steps.append(torch.as_tensor(steps))
            self._cache = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None:
            if self._idx:
                steps = torch.cat(self._steps).cpu().numpy()
                idx = torch.cat(self._idx).cpu().numpy()
            else:
                steps = idx = np.zeros(0, dtype=np.int64)
            self._cache = (steps, idx)
        return self._cache

    @property
    def steps(self) -> np.ndarray:
        return self._arrays()[0]

    @property
    def i(self) -> np.ndarray:
        return self._arrays()[1]

    @property
    def t_ms(self) -> np.ndarray:
        return self.steps * self.dt_ms

    @property
    def num_spikes(self) -> int:
        return int(self.i.size)

    @property
    def count(self) -> np.ndarray:
        return np.bincount(self.i, minlength=self.n)

    def spike_trains(self) -> list[np.ndarray]:
        """Spike times (ms) of each neuron."""
        order = np.argsort(self.i, kind="stable")
        t, i = self.t_ms[order], self.i[order]
        bounds = np.searchsorted(i, np.arange(self.n + 1))
        return [t[bounds[k]:bounds[k + 1]] for k in range(self.n)]

    def to_tensors(self) -> dict[str, Tensor]:
        return {"t_ms": torch.as_tensor(self.t_ms), "i": torch.as_tensor(self.i)}

    def to_table(self) -> dict[str, np.ndarray]:
        """Tidy table (one row per spike) as a dict of equal-length columns (``pandas.DataFrame(...)``-ready)."""
        return {"population": np.full(self.i.size, self.population, dtype=object), "neuron": self.i,
                "t_ms": self.t_ms}


class StateMonitor(_Monitor):
    """Samples a state variable of some neurons every ``every_ms``.

    The memory it needs (``memory_bytes(duration_ms)``) is checked before a run starts: beyond
    ``max_bytes`` (default 512 MiB) the run refuses with :class:`MonitorMemoryError`.
    """

    def __init__(self, source: NeuronGroup | Subgroup, variable: str = "v", record: Any = True,
                 every_ms: float | None = None, max_bytes: int = 512 * 2**20, name: str | None = None) -> None:
        super().__init__(source, name)
        self.variable = variable
        if record is True:
            self.record_idx = np.arange(self.n)
        else:
            self.record_idx = np.asarray(list(record) if not isinstance(record, np.ndarray) else record, dtype=np.int64)
            if self.record_idx.size and (self.record_idx.min() < 0 or self.record_idx.max() >= self.n):
                raise ValueError(f"StateMonitor record indices must lie in [0, {self.n}).")
        self.every_ms = every_ms
        self.max_bytes = int(max_bytes)

    def build(self, dt_ms: float, device: Any) -> None:
        super().build(dt_ms, device)
        every = self.every_ms if self.every_ms is not None else dt_ms
        self.every_steps = max(1, int(round(every / dt_ms)))
        self._idx = torch.as_tensor(self.record_idx + self.offset, device=device)
        self._chunks: list[Tensor] = []
        self._times: list[np.ndarray] = []
        self.group.state_variable(self.variable)  # fail early on a wrong name

    def memory_bytes(self, duration_ms: float, itemsize: int = 4) -> int:
        every = self.every_ms if self.every_ms is not None else getattr(self, "dt_ms", 0.1)
        return int(np.ceil(duration_ms / every)) * int(self.record_idx.size) * itemsize

    def start_run(self, step0: int, n_steps: int) -> None:
        first = (-step0) % self.every_steps
        samples = np.arange(step0 + first, step0 + n_steps, self.every_steps)
        val = self.group.state_variable(self.variable)
        need = samples.size * self.record_idx.size * val.element_size()
        if need > self.max_bytes:
            raise MonitorMemoryError(
                f"StateMonitor({self.population!r}, {self.variable!r}) would need {need / 2**20:.1f} MiB for "
                f"{samples.size} samples x {self.record_idx.size} neurons (budget {self.max_bytes / 2**20:.1f} MiB); "
                "record fewer neurons, sample less often (every_ms=...), run shorter, or raise max_bytes."
            )
        self._buf = torch.empty(samples.size, self.record_idx.size, dtype=val.dtype, device=val.device)
        self._row = 0
        self._chunks.append(self._buf)
        self._times.append(samples * self.dt_ms)

    def record(self, step: int) -> None:
        if step % self.every_steps == 0:
            self._buf[self._row] = self.group.state_variable(self.variable)[self._idx]
            self._row += 1

    @property
    def values(self) -> Tensor:
        """``[time, recorded neuron]`` samples."""
        if not self._chunks:
            return torch.zeros(0, self.record_idx.size)
        return torch.cat(self._chunks)

    @property
    def t_ms(self) -> np.ndarray:
        return np.concatenate(self._times) if self._times else np.zeros(0)

    def to_tensors(self) -> dict[str, Tensor]:
        return {"t_ms": torch.as_tensor(self.t_ms), self.variable: self.values}

    def to_table(self) -> dict[str, np.ndarray]:
        vals = self.values.cpu().numpy()
        t = np.repeat(self.t_ms, self.record_idx.size)
        return {"population": np.full(vals.size, self.population, dtype=object),
                "neuron": np.tile(self.record_idx, len(self.t_ms)), "t_ms": t, self.variable: vals.reshape(-1)}


class PopulationRateMonitor(_Monitor):
    """Population rate per step (Hz): spikes in the step / (n * dt)."""

    def build(self, dt_ms: float, device: Any) -> None:
        super().build(dt_ms, device)
        self._chunks: list[Tensor] = []
        self._t0: list[int] = []

    def start_run(self, step0: int, n_steps: int) -> None:
        self._buf = torch.zeros(n_steps, dtype=torch.float64, device=self.device)
        self._step0 = step0
        self._chunks.append(self._buf)
        self._t0.append(step0)

    def record(self, step: int) -> None:
        self._buf[step - self._step0] = self.group.spikes[self.offset:self.offset + self.n].sum()

    @property
    def rate_hz(self) -> Tensor:
        counts = torch.cat(self._chunks) if self._chunks else torch.zeros(0, dtype=torch.float64)
        return counts.cpu() / (self.n * self.dt_ms * 1e-3)

    @property
    def t_ms(self) -> np.ndarray:
        return np.concatenate([np.arange(s, s + c.numel()) * self.dt_ms for s, c in zip(self._t0, self._chunks)]) \
            if self._chunks else np.zeros(0)

    def smooth_rate(self, width_ms: float) -> Tensor:
        """Rate smoothed with a flat window of ``width_ms``."""
        k = max(1, int(round(width_ms / self.dt_ms)))
        r = self.rate_hz[None, None, :]
        kernel = torch.full((1, 1, k), 1.0 / k, dtype=r.dtype)
        return torch.nn.functional.conv1d(r, kernel, padding=k // 2)[0, 0, : r.shape[-1]]

    def to_tensors(self) -> dict[str, Tensor]:
        return {"t_ms": torch.as_tensor(self.t_ms), "rate_hz": self.rate_hz}

    def to_table(self) -> dict[str, np.ndarray]:
        return {"population": np.full(self.t_ms.size, self.population, dtype=object), "t_ms": self.t_ms,
                "rate_hz": self.rate_hz.numpy()}
