"""The :class:`Network`: explicit simulation objects, a clock-driven loop, event-driven propagation.

Update order within a step (Brian2's schedule): every population integrates its state and thresholds
(``groups``/``thresholds``/``resets`` happen inside the neuron step function); every projection pushes
this step's spikes into its targets' delay buffers (``synapses``); arrivals due now are added to the
synaptic variables (so a zero-delay spike at step k moves the membrane from step k+1 on, as in Brian2);
plasticity; monitors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ._groups import NeuronGroup, PoissonGroup
from ._monitors import PopulationRateMonitor, StateMonitor, _Monitor
from ._projection import GapJunction, Projection


class SimulationDivergedError(RuntimeError):
    """The simulation blew up (NaN/inf or runaway rates); ``step``, ``time_ms`` and ``population`` say where."""

    def __init__(self, message: str, step: int, time_ms: float, population: str) -> None:
        super().__init__(message)
        self.step, self.time_ms, self.population = step, time_ms, population


class Network:
    """A container of populations, projections and monitors that runs them on one clock.

    Args:
        dt_ms: time step.
        seed: seeds connectivity, initial values drawn by callables and Poisson inputs; a seeded run on
            CPU is bit-for-bit reproducible.
        device: ``"cpu"``, ``"cuda"``, or ``"auto"`` (CUDA when available).
        dtype: ``torch.float32`` (default) or ``torch.float64``.
        max_rate_hz: a population whose mean rate over ``rate_window_ms`` exceeds this stops the run.
        check_every_steps: how often to check for NaN/inf (default 1 on CPU, 100 on CUDA).
        backend: ``"auto"`` (the numba CPU fast path when the network qualifies, else torch), ``"torch"``
            (vectorised torch, CPU or CUDA) or ``"numba"`` (raise if the network does not qualify).
    """

    def __init__(self, dt_ms: float = 0.1, seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32,
                 max_rate_hz: float = 1000.0, rate_window_ms: float = 100.0,
                 check_every_steps: int | None = None, backend: str = "auto") -> None:
        if backend not in ("auto", "torch", "numba"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'numba', got {backend!r}.")
        self.backend = backend
        if not dt_ms > 0:
            raise ValueError(f"dt_ms must be positive, got {dt_ms}.")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError("dtype must be torch.float32 or torch.float64.")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.dt_ms, self.seed, self.device, self.dtype = float(dt_ms), int(seed), torch.device(device), dtype
        self.max_rate_hz, self.rate_window_ms = float(max_rate_hz), float(rate_window_ms)
        self.check_every_steps = check_every_steps or (1 if self.device.type == "cpu" else 100)
        self.groups: list[NeuronGroup] = []
        self.projections: list[Projection] = []
        self.monitors: list[_Monitor] = []
        self.step_count = 0
        self.built = False

    # ------------------------------------------------------------------ assembly
    def add(self, obj: Any) -> Any:
        """Add a population, projection or monitor; returns it (``exc = net.add(NeuronGroup(...))``)."""
        if self.built:
            raise RuntimeError("the network has already run; build a new Network to add objects.")
        if isinstance(obj, NeuronGroup):
            if obj.name is None:
                obj.name = f"group{len(self.groups)}"
            if any(g.name == obj.name for g in self.groups):
                raise ValueError(f"a population named {obj.name!r} is already in the network.")
            self.groups.append(obj)
        elif isinstance(obj, Projection):
            obj.name = obj.name or f"projection{len(self.projections)}"
            self.projections.append(obj)
        elif isinstance(obj, _Monitor):
            self.monitors.append(obj)
        elif isinstance(obj, GapJunction):
            pass  # attached to its group at construction
        else:
            raise TypeError(f"cannot add a {type(obj).__name__} to a Network.")
        return obj

    def _check_members(self) -> None:
        known = {id(g) for g in self.groups}
        for p in self.projections:
            for part in [p.source, *p.targets]:
                g = getattr(part, "parent", part)
                if id(g) not in known:
                    raise ValueError(f"projection {p.name!r} uses population {g.label!r} that was not added to the network.")
        for m in self.monitors:
            if id(m.group) not in known:
                raise ValueError(f"a monitor watches population {m.group.label!r} that was not added to the network.")

    def build(self) -> None:
        """Draw connectivity and allocate state (done by the first :meth:`run`)."""
        if self.built:
            return
        self._check_members()
        seqs = np.random.SeedSequence(self.seed).spawn(len(self.groups) + len(self.projections) + 1)
        rngs = [np.random.default_rng(s) for s in seqs]
        args = (self.dt_ms, self.dtype, self.device)
        # projections first: they size the delay buffers of their targets' channels
        for k, p in enumerate(self.projections):
            p.build(rngs[len(self.groups) + k], *args)
        for k, g in enumerate(self.groups):
            g.build(rngs[k], *args)
            for gj in g.gap_junctions:
                gj.build(rngs[-1], *args)
        for m in self.monitors:
            m.build(self.dt_ms, self.device)
        self._window_steps = max(1, int(round(self.rate_window_ms / self.dt_ms)))
        self._counts = [torch.zeros((), dtype=torch.float64, device=self.device) for _ in self.groups]
        self.built = True

    # ------------------------------------------------------------------ run
    @property
    def t_ms(self) -> float:
        return self.step_count * self.dt_ms

    def run(self, duration_ms: float, progress: bool | None = None) -> None:
        """Advance by ``duration_ms`` (continues from where the last run stopped).

        Args:
            progress: show a tqdm bar (default: when the run has more than 20,000 steps).
        """
        if duration_ms < 0:
            raise ValueError(f"duration_ms must be non-negative, got {duration_ms}.")
        self.build()
        n_steps = int(round(duration_ms / self.dt_ms))
        for m in self.monitors:
            m.start_run(self.step_count, n_steps)
        show = progress if progress is not None else n_steps > 20000
        bar = tqdm(total=n_steps, unit="step", disable=not show, mininterval=0.5)
        chunk = max(1, n_steps // 100)
        if self.active_backend() == "numba":
            self._run_fast(n_steps, bar)
            bar.close()
            return
        with torch.no_grad():
            for k in range(n_steps):
                self._step(self.step_count)
                self.step_count += 1
                if show and (k + 1) % chunk == 0:
                    bar.update(chunk)
        bar.update(n_steps - bar.n)
        bar.close()

    def active_backend(self) -> str:
        """The backend the next run uses (``"numba"`` or ``"torch"``)."""
        from ._fast import ineligible_reason

        if self.backend == "torch":
            return "torch"
        self.build()
        why = ineligible_reason(self)
        if why is None:
            return "numba"
        if self.backend == "numba":
            raise ValueError(f"backend='numba' cannot run this network: {why}. Use backend='torch' or 'auto'.")
        return "torch"

    def _run_fast(self, n_steps: int, bar: Any) -> None:
        from ._fast import FastEngine

        engine = FastEngine(self)
        state_monitors = [m for m in self.monitors if isinstance(m, StateMonitor)]
        offsets = {id(g): int(o) for g, o in zip(self.groups, engine.offsets)}
        window = self._window_steps
        end = self.step_count + n_steps
        try:
            while self.step_count < end:
                todo = min(window - self.step_count % window, end - self.step_count)
                for m in state_monitors:  # stop right after the next sampled step
                    todo = min(todo, (-self.step_count) % m.every_steps + 1)
                step0 = self.step_count
                steps, idx, done, bad = engine.run(step0, todo)
                for m in self.monitors:
                    lo = offsets[id(m.group)] + m.offset
                    sel = (idx >= lo) & (idx < lo + m.n)
                    if isinstance(m, StateMonitor):
                        continue
                    if isinstance(m, PopulationRateMonitor):
                        m._buf[step0 - m._step0: step0 - m._step0 + done] = torch.as_tensor(
                            np.bincount(steps[sel] - step0, minlength=done)[:done], dtype=torch.float64)
                    else:
                        m.record_bulk(steps[sel], idx[sel] - lo)
                for g in self.groups:
                    o = offsets[id(g)]
                    self._counts[self.groups.index(g)] += float(((idx >= o) & (idx < o + g.n)).sum())
                self.step_count += done
                bar.update(done)
                last = self.step_count - 1
                for m in state_monitors:
                    if done and last % m.every_steps == 0:
                        engine.flush(last)
                        m._buf[m._row] = engine.read(m.group, m.variable)[m._idx]
                        m._row += 1
                if bad >= 0:
                    g = next(g for g in self.groups if offsets[id(g)] <= bad < offsets[id(g)] + g.n)
                    step = self.step_count
                    raise SimulationDivergedError(
                        f"population {g.label!r} diverged by step {step} (t = {step * self.dt_ms:.4g} ms; the numba "
                        f"path checks every 16 steps): v of neuron {bad - offsets[id(g)]} is {float(engine.v[bad])}. "
                        "Reduce dt_ms or check weights and input currents.", step, step * self.dt_ms, g.label)
                if self.step_count % window == 0:
                    self._check_rates(self.step_count - 1)
        finally:
            engine.sync_to_torch(self.step_count)

    def _step(self, step: int) -> None:
        for g in self.groups:
            g.update()
        for p in self.projections:
            p.propagate(step)
        for g in self.groups:
            g.deliver(step)
        for p in self.projections:
            p.learn()
        for m in self.monitors:
            m.record(step)
        self._check(step)

    def _check(self, step: int) -> None:
        for k, g in enumerate(self.groups):
            self._counts[k] += g.spikes.sum()
        if (step + 1) % self.check_every_steps == 0:
            for g in self.groups:
                if g.state is not None and not bool(torch.isfinite(g.state.v).all()):
                    bad = int((~torch.isfinite(g.state.v)).nonzero()[0, 0])
                    raise SimulationDivergedError(
                        f"population {g.label!r} diverged at step {step} (t = {step * self.dt_ms:.4g} ms): "
                        f"v of neuron {bad} is {float(g.state.v[bad])}. Reduce dt_ms, switch to an exact/rk4 "
                        "integrator, or check weights and input currents.", step, step * self.dt_ms, g.label)
        if (step + 1) % self._window_steps == 0:
            self._check_rates(step)

    def _check_rates(self, step: int) -> None:
        window_s = self._window_steps * self.dt_ms * 1e-3
        for k, g in enumerate(self.groups):
            rate = float(self._counts[k]) / g.n / window_s
            self._counts[k].zero_()
            if rate > self.max_rate_hz and not isinstance(g, PoissonGroup):
                raise SimulationDivergedError(
                    f"population {g.label!r} ran away: mean rate {rate:.0f} Hz over the "
                    f"{self.rate_window_ms:g} ms ending at step {step} (t = {step * self.dt_ms:.4g} ms) exceeds "
                    f"max_rate_hz={self.max_rate_hz:g}. Check the balance of excitation and inhibition, or "
                    "raise max_rate_hz if this is intended.", step, step * self.dt_ms, g.label)

    def summary(self) -> dict[str, Any]:
        """Populations, synapse counts and time simulated."""
        self.build()
        return {
            "t_ms": self.t_ms, "dt_ms": self.dt_ms, "device": str(self.device), "dtype": str(self.dtype),
            "populations": {g.label: {"n": g.n, "model": g.model} for g in self.groups},
            "projections": {p.name: {"synapse": p.synapse, "n_synapses": p.n_synapses} for p in self.projections},
        }


def mean_rate_hz(n_spikes: int, n_neurons: int, duration_ms: float) -> float:
    return n_spikes / n_neurons / (duration_ms * 1e-3) if n_neurons and duration_ms else math.nan
