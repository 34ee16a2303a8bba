"""Populations: :class:`NeuronGroup` (any registered neuron model), :class:`PoissonGroup`,
:class:`SpikeGeneratorGroup`, and :class:`Subgroup` views (``group[a:b]``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..functional.neurons import NEURON_MODELS, NeuronModel, poisson_step
from ..functional.synapses import ALPHA_JUMP, SYNAPSES, SynapseKind, conductance_drive, lif_current_coupling

_EXACT_LINEAR = ("lif", "alif")


def _as_param(value: Any, n: int, name: str, dtype: torch.dtype, device: Any) -> Any:
    """Scalars stay Python floats (cheapest and exact); arrays become ``[n]`` tensors."""
    if isinstance(value, str):
        return value
    arr = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64)
    if arr.ndim == 0:
        if not np.isfinite(arr):
            raise ValueError(f"parameter {name} is {float(arr)}; give a finite number.")
        return float(arr)
    if arr.shape != (n,):
        raise ValueError(f"parameter {name} has shape {arr.shape}; give a scalar or one value per neuron ({n},).")
    return torch.as_tensor(arr, dtype=dtype, device=device)


class Channel:
    """Synaptic input of one kind (kernel, tau, reversal) into a group, with its delay ring buffer."""

    def __init__(self, kind: SynapseKind, tau_syn_ms: float | None, e_rev_mv: float | None) -> None:
        self.kind, self.tau_syn_ms, self.e_rev_mv = kind, tau_syn_ms, e_rev_mv
        self.max_delay_steps = 0
        self.g: Tensor | None = None
        self.x: Tensor | None = None
        self.buffer: Tensor | None = None

    def build(self, n: int, dt_ms: float, dtype: torch.dtype, device: Any) -> None:
        self.n = n
        self.length = self.max_delay_steps + 1
        self.buffer = torch.zeros(self.length, n, dtype=dtype, device=device)
        self.flat = self.buffer.view(-1)
        if self.kind.kernel != "delta":
            self.g = torch.zeros(n, dtype=dtype, device=device)
            self.decay = math.exp(-dt_ms / self.tau_syn_ms)
        if self.kind.kernel == "alpha":
            self.x = torch.zeros(n, dtype=dtype, device=device)
            self.h = dt_ms / self.tau_syn_ms

    def advance(self) -> None:
        """Exact kernel decay over one step (after the membrane has used the start-of-step values)."""
        if self.kind.kernel == "exp":
            self.g.mul_(self.decay)
        elif self.kind.kernel == "alpha":
            self.g.mul_(self.decay).add_(self.x, alpha=self.h * self.decay)
            self.x.mul_(self.decay)

    def take(self, step: int) -> Tensor:
        slot = self.buffer[step % self.length]
        out = slot.clone()
        slot.zero_()
        return out

    def deliver(self, step: int) -> None:
        slot = self.buffer[step % self.length]
        if self.kind.kernel == "exp":
            self.g.add_(slot)
        elif self.kind.kernel == "alpha":
            self.x.add_(slot, alpha=ALPHA_JUMP)
        slot.zero_()


class NeuronGroup:
    """A population of ``n`` neurons of one registered model.

    Args:
        n: number of neurons.
        model: a name in ``NEURON_MODELS`` (``lif``, ``alif``, ``izhikevich``, ``adex``, ``hh``).
        name: label used in errors and tables (default ``group<k>``).
        method: integrator (default: the model's, ``exact`` for LIF/ALIF).
        input_current: constant external drive (scalar or per neuron) in the model's input unit.
        v_init_mv: initial membrane potential (scalar, per-neuron array, or ``callable(rng, n)``).
        g_leak_ns: leak conductance used to express conductance weights (nS) relative to the leak (LIF).
        **params: model parameters with units in their names (``tau_mem_ms=20``, ...).
    """

    def __init__(self, n: int, model: str = "lif", name: str | None = None, method: str | None = None,
                 input_current: Any = 0.0, v_init_mv: Any = None, g_leak_ns: float = 10.0, **params: Any) -> None:
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"a NeuronGroup needs a positive integer number of neurons, got {n!r}.")
        self.n = int(n)
        self.spec: NeuronModel = NEURON_MODELS.get(model)
        self.model = model
        self.params_in = self.spec.make_params(**params)
        self.method = method or self.spec.default_method
        if self.method not in self.spec.methods:
            raise ValueError(f"neuron model {model!r} supports method in {self.spec.methods}, got {self.method!r}.")
        for field, value in self.params_in._asdict().items():
            if field.startswith("tau") and np.any(np.asarray(value, dtype=float) <= 0):
                raise ValueError(f"{field} must be positive, got {value}.")
        if g_leak_ns <= 0:
            raise ValueError(f"g_leak_ns must be positive, got {g_leak_ns}.")
        self.name = name
        self.input_current_in = input_current
        self.v_init_mv = v_init_mv
        self.g_leak_ns = float(g_leak_ns)
        self.channels: dict[tuple, Channel] = {}
        self.gap_junctions: list[Any] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, item: slice) -> Subgroup:
        start, stop, step = item.indices(self.n)
        if step != 1 or stop <= start:
            raise ValueError("subgroups are contiguous slices group[a:b] with a < b.")
        return Subgroup(self, start, stop)

    def __repr__(self) -> str:
        return f"NeuronGroup({self.n}, model={self.model!r}, name={self.name!r})"

    # ------------------------------------------------------------------ build
    def channel(self, synapse: str, tau_syn_ms: float | None, e_rev_mv: float | None) -> Channel:
        kind = SYNAPSES.get(synapse)
        if kind.kernel != "delta" and (tau_syn_ms is None or tau_syn_ms <= 0):
            raise ValueError(f"synapse {synapse!r} needs a positive tau_syn_ms, got {tau_syn_ms}.")
        if kind.mode == "conductance" and e_rev_mv is None:
            raise ValueError(f"synapse {synapse!r} needs a reversal potential e_rev_mv (e.g. 0 or -80).")
        key = (synapse, None if kind.kernel == "delta" else float(tau_syn_ms),
               float(e_rev_mv) if kind.mode == "conductance" else None)
        if key not in self.channels:
            self.channels[key] = Channel(kind, key[1], key[2])
        return self.channels[key]

    def build(self, rng: np.random.Generator, dt_ms: float, dtype: torch.dtype, device: Any) -> None:
        n = self.n
        self.dt_ms, self.dtype, self.device = dt_ms, dtype, device
        self.params = self.spec.params(*[_as_param(v, n, f, dtype, device)
                                         for f, v in self.params_in._asdict().items()])
        self.input_current = _as_param(self.input_current_in, n, "input_current", dtype, device)
        state = self.spec.initial_state(n, self.params, dtype, device)
        if self.v_init_mv is not None:
            v0 = self.v_init_mv(rng, n) if callable(self.v_init_mv) else self.v_init_mv
            v0 = torch.broadcast_to(torch.as_tensor(np.asarray(v0, dtype=np.float64), dtype=dtype, device=device), (n,))
            state = state._replace(v=v0.clone())
        self.state = state
        self.exact = self.model in _EXACT_LINEAR and self.method == "exact"
        self.spikes = torch.zeros(n, dtype=dtype, device=device)
        for ch in self.channels.values():
            ch.build(n, dt_ms, dtype, device)
            if self.exact and ch.kind.mode == "current" and ch.kind.kernel != "delta":
                tm = self.params.tau_mem_ms
                kg, kx = lif_current_coupling(tm.cpu() if isinstance(tm, Tensor) else tm, ch.tau_syn_ms, dt_ms,
                                              ch.kind.kernel)
                ch.kappa_g = kg.item() if kg.ndim == 0 else kg.to(dtype=dtype, device=device)
                ch.kappa_x = kx.item() if kx.ndim == 0 else kx.to(dtype=dtype, device=device)
        self._current = [c for c in self.channels.values() if c.kind.mode == "current" and c.kind.kernel != "delta"]
        self._cond = [c for c in self.channels.values() if c.kind.mode == "conductance"]
        self._delta = [c for c in self.channels.values() if c.kind.kernel == "delta"]
        self._cond_scale = 1.0 / self.g_leak_ns if self.model in _EXACT_LINEAR else 1.0

    # ------------------------------------------------------------------ step
    def update(self) -> Tensor:
        """Advance membrane and synaptic kernels by one step; return this step's spikes."""
        v = self.state.v
        x = self.input_current
        for gj in self.gap_junctions:
            x = x + gj.current(v)
        for ch in self._current:
            if self.exact:
                x = x + ch.kappa_g * ch.g
                if ch.x is not None:
                    x = x + ch.kappa_x * ch.x
            else:
                x = x + ch.g
        params = self.params
        if self._cond:
            if self.model in _EXACT_LINEAR:
                g_tot = 1.0
                ge = 0.0
                for ch in self._cond:
                    g = ch.g * self._cond_scale
                    g_tot = g_tot + g
                    ge = ge + g * ch.e_rev_mv
                tau_eff, v_inf = conductance_drive(params.v_rest_mv, x, g_tot, ge, params.tau_mem_ms)
                params = params._replace(tau_mem_ms=tau_eff, v_rest_mv=v_inf)
                x = torch.zeros_like(v)
            else:
                for ch in self._cond:
                    x = x + ch.g * (ch.e_rev_mv - v)
        if not isinstance(x, Tensor):
            x = torch.full_like(v, float(x))
        z, self.state = self.spec.step(x, self.state, params, self.dt_ms, method=self.method)
        for ch in self._current + self._cond:
            ch.advance()
        self.spikes = z
        return z

    def deliver(self, step: int) -> None:
        """Move this step's arrivals from the delay buffers into the synaptic variables."""
        for ch in self._current + self._cond:
            ch.deliver(step)
        for ch in self._delta:
            dv = ch.take(step)
            open_ = self.spikes == 0
            if hasattr(self.state, "refractory_left_ms"):
                open_ = open_ & (self.state.refractory_left_ms <= 0.5 * self.dt_ms)
            self.state = self.state._replace(v=self.state.v + dv * open_.to(dv.dtype))

    def set_synaptic_state(self, synapse: str, tau_syn_ms: float, values: Any, e_rev_mv: float | None = None) -> None:
        """Set the synaptic variable of one input channel (after ``net.build()``), e.g. initial conductances."""
        key = (synapse, float(tau_syn_ms), None if e_rev_mv is None else float(e_rev_mv))
        if key not in self.channels or self.channels[key].g is None:
            raise ValueError(f"{self.label} has no {synapse} input with tau_syn_ms={tau_syn_ms}, e_rev_mv={e_rev_mv}; "
                             f"existing: {list(self.channels)}. Build the network first (net.build()).")
        ch = self.channels[key]
        ch.g.copy_(torch.broadcast_to(torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=ch.g.dtype), ch.g.shape))

    def state_variable(self, name: str) -> Tensor:
        if name in self.state._fields:
            return getattr(self.state, name)
        for ch in self.channels.values():
            label = f"g_{ch.kind.name}_{ch.tau_syn_ms:g}" if ch.tau_syn_ms else None
            if name == label:
                return ch.g
        raise ValueError(f"{self.label} has no state variable {name!r}; valid: {list(self.state._fields)} "
                         f"and synaptic {[f'g_{c.kind.name}_{c.tau_syn_ms:g}' for c in self._current + self._cond]}.")

    @property
    def label(self) -> str:
        return self.name or "group"


class PoissonGroup(NeuronGroup):
    """Independent Poisson spike sources at ``rate_hz`` (scalar or per neuron)."""

    def __init__(self, n: int, rate_hz: Any, name: str | None = None) -> None:
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"a PoissonGroup needs a positive integer number of neurons, got {n!r}.")
        if np.any(np.asarray(rate_hz, dtype=float) < 0):
            raise ValueError("rate_hz must be non-negative.")
        self.n, self.name, self.model = int(n), name, "poisson"
        self.rate_in = rate_hz
        self.channels, self.gap_junctions = {}, []

    def build(self, rng: np.random.Generator, dt_ms: float, dtype: torch.dtype, device: Any) -> None:
        self.dt_ms, self.dtype, self.device = dt_ms, dtype, device
        self.rate = _as_param(self.rate_in, self.n, "rate_hz", dtype, device)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(rng.integers(0, 2**63 - 1)))
        self.spikes = torch.zeros(self.n, dtype=dtype, device=device)
        self.state = None

    def update(self) -> Tensor:
        self.spikes = poisson_step(self.rate, (self.n,), self.dt_ms, self.generator, self.dtype, self.device)
        return self.spikes

    def deliver(self, step: int) -> None:
        if self.channels:
            raise ValueError(f"{self.label} is a spike source; it cannot be the target of a projection.")

    def channel(self, *args: Any) -> Channel:
        raise ValueError(f"{self.label} is a spike source; it cannot be the target of a projection.")


class SpikeGeneratorGroup(PoissonGroup):
    """Neurons that spike at given times: ``indices[k]`` fires at ``times_ms[k]`` (rounded to the step)."""

    def __init__(self, n: int, indices: Any, times_ms: Any, name: str | None = None) -> None:
        super().__init__(n, 0.0, name)
        self.model = "spike_generator"
        self.indices_in = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.times_in = np.asarray(times_ms, dtype=np.float64).reshape(-1)
        if self.indices_in.shape != self.times_in.shape:
            raise ValueError("indices and times_ms must have the same length.")
        if self.indices_in.size and (self.indices_in.min() < 0 or self.indices_in.max() >= n):
            raise ValueError(f"spike generator indices must lie in [0, {n}).")

    def build(self, rng: np.random.Generator, dt_ms: float, dtype: torch.dtype, device: Any) -> None:
        super().build(rng, dt_ms, dtype, device)
        steps = np.round(self.times_in / dt_ms).astype(np.int64)
        self.schedule: dict[int, Tensor] = {}
        for s in np.unique(steps):
            self.schedule[int(s)] = torch.as_tensor(np.unique(self.indices_in[steps == s]), device=device)
        self.step_counter = 0

    def update(self) -> Tensor:
        z = torch.zeros(self.n, dtype=self.dtype, device=self.device)
        idx = self.schedule.get(self.step_counter)
        if idx is not None:
            z[idx] = 1.0
        self.step_counter += 1
        self.spikes = z
        return z


class Subgroup:
    """A contiguous slice ``group[start:stop]`` usable as a projection source/target or monitor target."""

    def __init__(self, parent: NeuronGroup, start: int, stop: int) -> None:
        self.parent, self.start, self.stop = parent, start, stop
        self.n = stop - start

    def __len__(self) -> int:
        return self.n

    @property
    def label(self) -> str:
        return f"{self.parent.label}[{self.start}:{self.stop}]"


def resolve(target: NeuronGroup | Subgroup) -> tuple[NeuronGroup, int, int]:
    """(group, offset, size) of a group or subgroup."""
    if isinstance(target, Subgroup):
        return target.parent, target.start, target.n
    if isinstance(target, NeuronGroup):
        return target, 0, target.n
    raise TypeError(f"expected a NeuronGroup or a subgroup group[a:b], got {type(target).__name__}.")
