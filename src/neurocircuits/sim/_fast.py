"""CPU fast path: the whole step loop of a LIF network compiled with numba (kernels in ``_fast_kernels``).

It runs the same update as the torch path (``functional.lif_step`` with the exact synaptic coupling of
``functional.synapses``; same expressions, same order of operations, same summation order of synaptic
events), chunk by chunk, on flat numpy copies of the network's state that are written back when a run
ends. ``tests/unit/test_sim_*`` check that both paths give identical rasters (and, for current synapses,
identical state) in float64, and Brian2's raster. One step is one pass over the neurons in cache-sized
blocks with vectorised inner loops; parameters equal over the network, uniform weights and uniform
delays are passed as single numbers (numba compiles a specialisation per combination). Chosen by
measurement: on CUBA it is 20-130x faster than the vectorised torch loop, whose per-step operator
overhead dominates at these sizes, and faster than Brian2's C++ standalone target (``bench/sim.py``).

Eligible networks: LIF neurons with ``method="exact"`` and no gap junctions; delta/exp/alpha current and
exp conductance synapses; no plasticity; spike, population-rate and state monitors. Anything else runs on
the torch path (``Network(backend="auto")`` decides; ``backend="numba"`` raises if it cannot).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ._groups import NeuronGroup, PoissonGroup
from ._monitors import PopulationRateMonitor, SpikeMonitor, StateMonitor

_KIND = {"delta_current": 0, "exp_current": 1, "alpha_current": 2, "exp_conductance": 3}


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def ineligible_reason(net: Any) -> str | None:
    """Why ``net`` cannot use the numba path (``None`` when it can)."""
    if not numba_available():
        return "numba is not installed"
    if net.device.type != "cpu":
        return "the network is not on the CPU"
    for g in net.groups:
        if isinstance(g, PoissonGroup) or g.model != "lif" or g.method != "exact":
            return f"population {g.label!r} is not an exact-integration LIF"
        if g.gap_junctions:
            return f"population {g.label!r} has gap junctions"
        for key in g.channels:
            if key[0] not in _KIND:
                return f"population {g.label!r} has {key[0]} synapses"
    for p in net.projections:
        if p.plasticity is not None:
            return f"projection {p.name!r} is plastic"
    for m in net.monitors:
        if not isinstance(m, (SpikeMonitor, PopulationRateMonitor, StateMonitor)):
            return f"a {type(m).__name__} is attached"
    return None


def _kernel() -> Any:
    from . import _fast_kernels

    return _fast_kernels


def _uniform(a: np.ndarray) -> Any:
    """The scalar (of the array's dtype) when every value is the same, else the array itself."""
    bits = a.view(f"u{a.itemsize}")  # bitwise: -0.0 and 0.0 are not merged
    return a[0] if a.size and np.all(bits == bits[0]) else a


class FastEngine:
    """Packs a built network into flat arrays (views of its tensors where state lives) for the kernel."""

    def __init__(self, net: Any) -> None:
        self.net = net
        dtype = np.float64 if net.dtype == torch.float64 else np.float32
        dt = net.dt_ms
        groups: list[NeuronGroup] = net.groups
        self.offsets = np.cumsum([0] + [g.n for g in groups])
        n = int(self.offsets[-1])
        self.n = n
        self.dt = dtype(dt)
        self.half_dt = dtype(0.5 * dt)

        def per_neuron(get: Any) -> np.ndarray:
            out = np.empty(n, dtype=dtype)
            for g, o in zip(groups, self.offsets):
                val = get(g)
                out[o:o + g.n] = val.cpu().numpy() if isinstance(val, torch.Tensor) else val
            return out

        from ..functional.neurons import _exp_decay

        def decay_of(g: NeuronGroup) -> Any:
            d = _exp_decay(dt, g.params.tau_mem_ms)
            return d.to(g.dtype) if isinstance(d, torch.Tensor) else torch.tensor(d, dtype=g.dtype)

        self.iext = per_neuron(lambda g: g.input_current)
        self.vrest = per_neuron(lambda g: g.params.v_rest_mv)
        self.vthr = per_neuron(lambda g: g.params.v_thresh_mv)
        self.vres = per_neuron(lambda g: g.params.v_reset_mv)
        self.refms = per_neuron(lambda g: g.params.refractory_ms)
        self.decay = per_neuron(decay_of)
        self.tau = per_neuron(lambda g: g.params.tau_mem_ms)
        self.soft = np.concatenate([np.full(g.n, g.params.reset == "soft") for g in groups]).astype(np.bool_)
        self.gscale = per_neuron(lambda g: g._cond_scale)
        # one state array over all groups; the groups' tensors become views of it
        self.v = per_neuron(lambda g: g.state.v)
        self.ref = per_neuron(lambda g: g.state.refractory_left_ms)
        self.spikes_pad = np.zeros(-(-n // 64) * 64, dtype=np.int8)  # padded: the kernel scans 64 at a time
        self.spikes = self.spikes_pad[:n]
        self.spikes[:] = per_neuron(lambda g: g.spikes)
        chans = [(g, o, ch) for g, o in zip(groups, self.offsets) for ch in g.channels.values()]
        n_ch = max(1, len(chans))
        self.ch_kind = np.full(n_ch, -1, dtype=np.int64)
        self.ch_lo = np.zeros(n_ch, dtype=np.int64)
        self.ch_hi = np.zeros(n_ch, dtype=np.int64)
        self.ch_decay = np.ones(n_ch, dtype=dtype)
        self.ch_h = np.zeros(n_ch, dtype=dtype)
        self.ch_erev = np.zeros(n_ch, dtype=dtype)
        self.ch_len = np.ones(n_ch, dtype=np.int64)
        L = max([ch.length for _, _, ch in chans] + [1])
        self.g = np.zeros((n_ch, n), dtype=dtype)
        self.xs = np.zeros((n_ch, n), dtype=dtype)
        self.kg = np.zeros((n_ch, n), dtype=dtype)
        self.kx = np.zeros((n_ch, n), dtype=dtype)
        self.buf = np.zeros((n_ch, L, n), dtype=dtype)
        self.chan_id: dict[int, int] = {}
        for c, (g, o, ch) in enumerate(chans):
            self.chan_id[id(ch)] = c
            self.ch_kind[c] = _KIND[ch.kind.name]
            self.ch_lo[c], self.ch_hi[c] = o, o + g.n
            if ch.g is not None:
                self.ch_decay[c] = ch.decay
                self.g[c, o:o + g.n] = ch.g.cpu().numpy()
            if ch.x is not None:
                self.ch_h[c] = ch.h
                self.xs[c, o:o + g.n] = ch.x.cpu().numpy()
            self.ch_erev[c] = ch.e_rev_mv or 0.0
            self.buf[c, :ch.length, o:o + g.n] = ch.buffer.cpu().numpy()
            self.ch_len[c] = ch.length
            if hasattr(ch, "kappa_g"):
                self.kg[c, o:o + g.n] = ch.kappa_g.cpu().numpy() if isinstance(ch.kappa_g, torch.Tensor) else ch.kappa_g
                self.kx[c, o:o + g.n] = ch.kappa_x.cpu().numpy() if isinstance(ch.kappa_x, torch.Tensor) else ch.kappa_x
        self.group_offset = {id(g): int(o) for g, o in zip(groups, self.offsets)}
        src_lo, n_src, ptr_off, syn_off, pw_ch, pw_delay, pw_w = [], [], [], [], [], [], []
        indptr, post, w, dly = [], [], [], []
        n_ptr = n_syn = 0
        for p in net.projections:
            for pw in p.pathways:
                src_lo.append(self.group_offset[id(p.src_group)] + p.src_offset)
                n_src.append(len(pw.csr.indptr) - 1)
                ptr_off.append(n_ptr)
                syn_off.append(n_syn)
                pw_ch.append(self.chan_id[id(pw.channel)])
                indptr.append(pw.csr.indptr)
                post.append(pw.post.cpu().numpy() + self.group_offset[id(pw.group)])
                w.append(pw.w.cpu().numpy().astype(dtype))
                w_uni = _uniform(w[-1])  # one weight for the whole pathway: the kernel reads no weight array
                pw_w.append(np.nan if isinstance(w_uni, np.ndarray) else w_uni)
                # a uniform delay is one number per pathway (-1: per-synapse delays in dly)
                pw_delay.append(-1 if pw.delay is not None else pw.delay_uniform)
                if pw.delay is not None:
                    dly.append(pw.delay.cpu().numpy())
                n_ptr += len(pw.csr.indptr)
                n_syn += pw.csr.n_synapses
        cat = lambda xs, dt_: np.concatenate(xs).astype(dt_) if xs else np.zeros(0, dtype=dt_)  # noqa: E731
        idx_t = np.uint32 if n < 2**32 else np.int64
        self.pw = (np.asarray(src_lo, np.int64), np.asarray(n_src, np.int64), np.asarray(ptr_off, np.int64),
                   np.asarray(syn_off, np.int64), np.asarray(pw_ch, np.int64), np.asarray(pw_delay, np.int64),
                   np.asarray(pw_w, dtype), cat(indptr, np.int64), cat(post, idx_t), cat(w, dtype), cat(dly, np.int64))
        self.k = _kernel()
        self.cond = np.zeros(n, dtype=np.bool_)
        for c in range(len(chans)):
            if self.ch_kind[c] == 3:
                self.cond[self.ch_lo[c]:self.ch_hi[c]] = True
        # parameters equal over the network reach the kernel as scalars (one compiled specialisation each)
        self.params = tuple(_uniform(a) for a in (self.iext, self.vrest, self.vthr, self.vres, self.refms,
                                                     self.decay, self.tau, self.soft, self.gscale))
        cover = [slice(int(lo), int(hi)) for lo, hi in zip(self.ch_lo, self.ch_hi)]
        self.kg_k, self.kx_k = (
            np.array([a[c, cv][0] if cv.stop > cv.start else 0 for c, cv in enumerate(cover)], dtype=dtype)
            if all(not isinstance(_uniform(a[c, cv]), np.ndarray) for c, cv in enumerate(cover) if cv.stop > cv.start)
            else a for a in (self.kg, self.kx))
        block = self.k.BLOCK
        self.x = np.zeros(block, dtype=dtype)
        self.gtot = np.ones(block, dtype=dtype)
        self.ge = np.zeros(block, dtype=dtype)
        self.cap = max(1 << 16, 4 * n)
        self.out_step = np.empty(self.cap, dtype=np.int64)
        self.out_idx = np.empty(self.cap, dtype=np.int64)

    def run(self, step0: int, n_steps: int) -> tuple[np.ndarray, np.ndarray, int, int]:
        """Run ``n_steps``; returns (spike steps, spike neuron ids, steps done, bad neuron or -2/-1)."""
        done, n_out, bad = self.k.run_chunk(
            step0, n_steps, self.dt, self.half_dt, self.v, self.ref, self.spikes_pad, *self.params, self.cond,
            self.ch_kind, self.ch_lo, self.ch_hi, self.ch_decay, self.ch_h, self.ch_erev, self.ch_len, self.g,
            self.xs, self.kg_k, self.kx_k, self.buf, *self.pw, self.out_step, self.out_idx, self.x, self.gtot,
            self.ge)
        return self.out_step[:n_out].copy(), self.out_idx[:n_out].copy(), int(done), int(bad)

    def flush(self, step: int) -> None:
        """Apply the arrivals of ``step`` now (idempotent: the slot is zeroed)."""
        self.k.deliver(step, self.half_dt, self.v, self.ref, self.spikes, self.ch_kind, self.ch_lo, self.ch_hi,
                     self.ch_len, self.g, self.xs, self.buf)

    def read(self, group: NeuronGroup, name: str) -> torch.Tensor:
        """Current value of a state variable of ``group`` (after :meth:`flush`)."""
        o = self.group_offset[id(group)]
        sl = slice(o, o + group.n)
        if name == "v":
            return torch.as_tensor(self.v[sl])
        if name == "refractory_left_ms":
            return torch.as_tensor(self.ref[sl])
        for ch in group.channels.values():
            if ch.tau_syn_ms and name == f"g_{ch.kind.name}_{ch.tau_syn_ms:g}":
                return torch.as_tensor(self.g[self.chan_id[id(ch)], sl])
        return group.state_variable(name)

    def sync_to_torch(self, step: int) -> None:
        """Flush the arrivals of the last step (``step - 1``) and write the state back into the groups' tensors."""
        self.k.deliver(step - 1, self.half_dt, self.v, self.ref, self.spikes, self.ch_kind, self.ch_lo, self.ch_hi,
                     self.ch_len, self.g, self.xs, self.buf)
        for g, o in zip(self.net.groups, self.offsets):
            sl = slice(int(o), int(o) + g.n)
            g.state = g.state._replace(v=torch.as_tensor(self.v[sl].copy()),
                                       refractory_left_ms=torch.as_tensor(self.ref[sl].copy()))
            g.spikes = torch.as_tensor(self.spikes[sl].astype(self.v.dtype))
            for ch in g.channels.values():
                c = self.chan_id[id(ch)]
                if ch.g is not None:
                    ch.g.copy_(torch.as_tensor(self.g[c, sl]))
                if ch.x is not None:
                    ch.x.copy_(torch.as_tensor(self.xs[c, sl]))
                ch.buffer.copy_(torch.as_tensor(self.buf[c, :ch.length, sl]))
