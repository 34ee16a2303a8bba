"""Projections (chemical synapses with delays and optional plasticity) and gap junctions.

A :class:`Projection` stores its synapses in CSR order (by presynaptic neuron). When source neurons
spike, only their rows are touched: the weights are accumulated into the target's delay ring buffer at
slot ``(step + delay) % L`` (one ``index_add`` per step), so the work is spikes x fan-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..functional import plasticity as plast
from ..functional.synapses import SYNAPSES, gap_junction_current
from ._connect import (
    CSR,
    ConnectivityError,
    connect_fixed_in_degree,
    connect_fixed_out_degree,
    connect_one_to_one,
    connect_probability,
    from_circuit_graph,
    from_sparse,
)
from ._groups import NeuronGroup, Subgroup, resolve


_PAIR = plast.STDPParams()
_TRIPLET = plast.TripletParams()


@dataclass(frozen=True)
class STDP:
    """Pair-based STDP option for a projection (weights in the projection's weight unit)."""

    # Defaults come from functional.plasticity.STDPParams, the single source of the rule's numbers.
    tau_plus_ms: float = _PAIR.tau_plus_ms
    tau_minus_ms: float = _PAIR.tau_minus_ms
    a_plus: float = _PAIR.a_plus
    a_minus: float = _PAIR.a_minus
    w_min: float = _PAIR.w_min
    w_max: float = _PAIR.w_max
    rule: str = _PAIR.rule

    def __post_init__(self) -> None:
        if self.rule not in ("additive", "multiplicative"):
            raise ValueError(f"STDP rule must be 'additive' or 'multiplicative', got {self.rule!r}.")
        if self.tau_plus_ms <= 0 or self.tau_minus_ms <= 0:
            raise ValueError("STDP time constants tau_plus_ms and tau_minus_ms must be positive.")
        if self.w_max < self.w_min:
            raise ValueError("STDP needs w_min <= w_max.")


@dataclass(frozen=True)
class TripletSTDP:
    """Triplet STDP option (Pfister & Gerstner 2006, all-to-all); see ``functional.plasticity``."""

    # Defaults come from functional.plasticity.TripletParams (Pfister & Gerstner 2006 fit).
    tau_plus_ms: float = _TRIPLET.tau_plus_ms
    tau_minus_ms: float = _TRIPLET.tau_minus_ms
    tau_x_ms: float = _TRIPLET.tau_x_ms
    tau_y_ms: float = _TRIPLET.tau_y_ms
    a2_plus: float = _TRIPLET.a2_plus
    a3_plus: float = _TRIPLET.a3_plus
    a2_minus: float = _TRIPLET.a2_minus
    a3_minus: float = _TRIPLET.a3_minus
    w_min: float = _TRIPLET.w_min
    w_max: float = _TRIPLET.w_max


def _rows(indptr: Tensor, idx: Tensor, degree: int | None) -> Tensor:
    """Synapse ids of the rows ``idx`` (concatenated)."""
    starts = indptr[idx]
    if degree is not None:
        return (starts[:, None] + torch.arange(degree, device=idx.device)).reshape(-1)
    counts = indptr[idx + 1] - starts
    total = int(counts.sum())
    excl = torch.cumsum(counts, 0) - counts
    return torch.repeat_interleave(starts - excl, counts, output_size=total) + torch.arange(total, device=idx.device)


class _Pathway:
    """One source -> one target population part of a projection (built tensors)."""

    def __init__(self, proj: Projection, target: NeuronGroup | Subgroup) -> None:
        self.proj = proj
        self.target_spec = target


class Projection:
    """Synapses from ``source`` to one or several targets.

    Connectivity (pick one): ``p`` (independent pairs), ``fixed_in_degree``, ``fixed_out_degree``,
    ``one_to_one=True``, ``matrix`` (scipy.sparse or dense ``[n_pre, n_post]``, signed weights),
    ``graph`` (a CircuitGraph; node names in ``pre_names``/``post_names`` order), or explicit ``pre``/``post``
    index arrays.

    Weights: ``weight_mv`` for current synapses, ``weight_ns`` for conductance synapses (a scalar, one value
    per synapse, or ``callable(rng, n_syn)``); with ``matrix``/``graph`` the stored weights are used, scaled
    by ``weight_*`` if given. ``delay_ms``: scalar or per synapse, rounded to the time step.

    Args:
        synapse: ``delta_current``, ``exp_current``, ``alpha_current``, ``exp_conductance``, ``alpha_conductance``.
        tau_syn_ms: kernel time constant (not for delta).
        e_rev_mv: reversal potential (conductance synapses).
        autapses: allow i -> i when source and target are the same population.
        plasticity: :class:`STDP` or :class:`TripletSTDP`.
    """

    def __init__(self, source: NeuronGroup | Subgroup, targets: Any, *, p: float | None = None,
                 fixed_in_degree: int | None = None, fixed_out_degree: int | None = None,
                 one_to_one: bool = False, matrix: Any = None, graph: Any = None,
                 pre_names: list[str] | None = None, post_names: list[str] | None = None,
                 pre: Any = None, post: Any = None, weight_mv: Any = None, weight_ns: Any = None,
                 delay_ms: Any = 0.0, synapse: str = "exp_current", tau_syn_ms: float | None = None,
                 e_rev_mv: float | None = None, autapses: bool = False,
                 plasticity: STDP | TripletSTDP | None = None, name: str | None = None) -> None:
        self.kind = SYNAPSES.get(synapse)
        self.synapse = synapse
        rules = {"p": p is not None, "fixed_in_degree": fixed_in_degree is not None,
                 "fixed_out_degree": fixed_out_degree is not None, "one_to_one": bool(one_to_one),
                 "matrix": matrix is not None, "graph": graph is not None, "pre/post": pre is not None}
        chosen = [k for k, v in rules.items() if v]
        if len(chosen) != 1:
            raise ConnectivityError(f"give exactly one connectivity rule out of {list(rules)}; got {chosen or 'none'}.")
        if (pre is None) != (post is None):
            raise ConnectivityError("explicit connectivity needs both pre and post index arrays.")
        self.rule = chosen[0]
        if self.kind.mode == "current":
            if weight_ns is not None:
                raise ValueError(f"{synapse} synapses take weight_mv, not weight_ns.")
            self.weight = weight_mv
        else:
            if weight_mv is not None:
                raise ValueError(f"{synapse} synapses take weight_ns (a conductance), not weight_mv.")
            self.weight = weight_ns
        if self.weight is None and self.rule not in ("matrix", "graph"):
            raise ValueError(f"give the synaptic weight ({'weight_mv' if self.kind.mode == 'current' else 'weight_ns'}).")
        self.source = source
        self.targets = list(targets) if isinstance(targets, (list, tuple)) else [targets]
        self.rule_args = dict(p=p, fixed_in_degree=fixed_in_degree, fixed_out_degree=fixed_out_degree,
                              matrix=matrix, graph=graph, pre_names=pre_names, post_names=post_names,
                              pre=pre, post=post)
        self.delay_ms = delay_ms
        self.tau_syn_ms = tau_syn_ms
        self.e_rev_mv = e_rev_mv
        self.autapses = autapses
        self.plasticity = plasticity
        self.name = name
        if isinstance(plasticity, (STDP, TripletSTDP)) is False and plasticity is not None:
            raise ValueError("plasticity must be an sim.STDP or sim.TripletSTDP instance.")
        for tgt in self.targets:
            resolve(tgt)
        resolve(source)
        self.pathways = [_Pathway(self, t) for t in self.targets]

    # ------------------------------------------------------------------ build
    def _synapses(self, rng: np.random.Generator, n_pre: int, n_post: int, same: bool) -> tuple:
        a = self.rule_args
        w = None
        if self.rule == "p":
            pre, post = connect_probability(rng, n_pre, n_post, a["p"], self.autapses or not same)
        elif self.rule == "fixed_in_degree":
            pre, post = connect_fixed_in_degree(rng, n_pre, n_post, a["fixed_in_degree"], self.autapses or not same)
        elif self.rule == "fixed_out_degree":
            pre, post = connect_fixed_out_degree(rng, n_pre, n_post, a["fixed_out_degree"], self.autapses or not same)
        elif self.rule == "one_to_one":
            pre, post = connect_one_to_one(n_pre, n_post)
        elif self.rule == "matrix":
            pre, post, w = from_sparse(a["matrix"], n_pre, n_post)
        elif self.rule == "graph":
            pre, post, w = from_circuit_graph(a["graph"], a["pre_names"], a["post_names"])
        else:
            pre = np.asarray(a["pre"], dtype=np.int64).reshape(-1)
            post = np.asarray(a["post"], dtype=np.int64).reshape(-1)
            if pre.shape != post.shape:
                raise ConnectivityError("pre and post must have the same length.")
            if pre.size and (pre.min() < 0 or pre.max() >= n_pre or post.min() < 0 or post.max() >= n_post):
                raise ConnectivityError(f"pre indices must lie in [0, {n_pre}) and post in [0, {n_post}).")
        return pre, post, w

    def _values(self, value: Any, rng: np.random.Generator, n_syn: int, what: str, order: np.ndarray) -> np.ndarray:
        if callable(value):
            value = value(rng, n_syn)
        arr = np.asarray(value, dtype=np.float64)
        if arr.ndim == 0:
            return np.full(n_syn, float(arr))
        if arr.shape != (n_syn,):
            raise ValueError(f"{what} has {arr.size} values but the projection has {n_syn} synapses.")
        return arr[order]

    def build(self, rng: np.random.Generator, dt_ms: float, dtype: torch.dtype, device: Any) -> None:
        src_group, self.src_offset, n_pre = resolve(self.source)
        self.src_group = src_group
        for pw in self.pathways:
            tgt_group, offset, n_post = resolve(pw.target_spec)
            pre, post, w_data = self._synapses(rng, n_pre, n_post, tgt_group is src_group and
                                                offset == self.src_offset and n_post == n_pre)
            csr = CSR.build(pre, post, n_pre)
            n_syn = csr.n_synapses
            if w_data is not None:
                w = w_data[csr.order]
                if self.weight is not None:
                    w = w * self._values(self.weight, rng, n_syn, "weight", csr.order)
            else:
                w = self._values(self.weight, rng, n_syn, "weight", csr.order)
            delay = self._values(self.delay_ms, rng, n_syn, "delay_ms", csr.order)
            if np.any(delay < 0):
                raise ValueError("delay_ms must be non-negative.")
            d_steps = np.round(delay / dt_ms).astype(np.int64)
            ch = tgt_group.channel(self.synapse, self.tau_syn_ms, self.e_rev_mv)
            ch.max_delay_steps = max(ch.max_delay_steps, int(d_steps.max()) if n_syn else 0)
            pw.group, pw.offset, pw.n_post, pw.channel, pw.csr = tgt_group, offset, n_post, ch, csr
            pw.indptr = torch.as_tensor(csr.indptr, device=device)
            pw.post = torch.as_tensor(csr.post + offset, device=device)
            pw.pre = torch.as_tensor(csr.pre, device=device)
            pw.w = torch.as_tensor(w, dtype=dtype, device=device)
            counts = np.diff(csr.indptr)
            pw.degree = int(counts[0]) if counts.size and np.all(counts == counts[0]) else None
            uniform = n_syn == 0 or np.all(d_steps == d_steps[0])
            pw.delay_uniform = int(d_steps[0]) if n_syn and uniform else (0 if uniform else None)
            pw.delay = None if uniform else torch.as_tensor(d_steps, device=device)
            if self.plasticity is not None:
                col = np.argsort(csr.post, kind="stable")
                pw.col_perm = torch.as_tensor(col, device=device)
                cptr = np.zeros(n_post + 1, dtype=np.int64)
                np.cumsum(np.bincount(csr.post, minlength=n_post), out=cptr[1:])
                pw.col_ptr = torch.as_tensor(cptr, device=device)
                n_tr = 2 if isinstance(self.plasticity, TripletSTDP) else 1
                pw.pre_traces = [torch.zeros(n_pre, dtype=dtype, device=device) for _ in range(n_tr)]
                pw.post_traces = [torch.zeros(n_post, dtype=dtype, device=device) for _ in range(n_tr)]
        self.dt_ms = dt_ms

    # ------------------------------------------------------------------ step
    def propagate(self, step: int) -> None:
        z = self.src_group.spikes[self.src_offset:self.src_offset + len(self.pathways[0].indptr) - 1]
        idx = torch.nonzero(z).squeeze(1)
        for pw in self.pathways:
            pw.syn_pre = None
            if idx.numel() == 0:
                continue
            syn = _rows(pw.indptr, idx, pw.degree)
            pw.syn_pre = syn
            ch = pw.channel
            if pw.delay is not None:
                flat = ((step + pw.delay[syn]) % ch.length) * ch.n + pw.post[syn]
                ch.flat.index_add_(0, flat, pw.w[syn])
            else:
                ch.buffer[(step + pw.delay_uniform) % ch.length].index_add_(0, pw.post[syn], pw.w[syn])

    def learn(self) -> None:
        """Event-driven plasticity after this step's spikes were propagated with the old weights."""
        rule = self.plasticity
        if rule is None:
            return
        dt = self.dt_ms
        z_pre = self.src_group.spikes[self.src_offset:self.src_offset + len(self.pathways[0].indptr) - 1]
        triplet = isinstance(rule, TripletSTDP)
        for pw in self.pathways:
            z_post = pw.group.spikes[pw.offset:pw.offset + pw.n_post]
            if triplet:
                taus_pre, taus_post = (rule.tau_plus_ms, rule.tau_x_ms), (rule.tau_minus_ms, rule.tau_y_ms)
            else:
                taus_pre, taus_post = (rule.tau_plus_ms,), (rule.tau_minus_ms,)
            for tr, tau in zip(pw.pre_traces, taus_pre):
                tr.copy_(plast.decay_trace(tr, tau, dt))
            for tr, tau in zip(pw.post_traces, taus_post):
                tr.copy_(plast.decay_trace(tr, tau, dt))
            post_local = pw.post - pw.offset
            if pw.syn_pre is not None:  # pre spikes: depression from the postsynaptic trace
                s = pw.syn_pre
                if triplet:
                    pw.w[s] = plast.triplet_depress(pw.w[s], pw.post_traces[0][post_local[s]],
                                                    pw.pre_traces[1][pw.pre[s]], rule)
                else:
                    pw.w[s] = plast.stdp_depress(pw.w[s], pw.post_traces[0][post_local[s]], rule)
            post_idx = torch.nonzero(z_post).squeeze(1)
            if post_idx.numel():
                s = pw.col_perm[_rows(pw.col_ptr, post_idx, None)]
                if triplet:  # traces are read before this step's increments (simultaneous spikes: no pair)
                    pw.w[s] = plast.triplet_potentiate(pw.w[s], pw.pre_traces[0][pw.pre[s]],
                                                       pw.post_traces[1][post_local[s]], rule)
                else:
                    pw.w[s] = plast.stdp_potentiate(pw.w[s], pw.pre_traces[0][pw.pre[s]], rule)
            for tr in pw.pre_traces:
                tr.add_(z_pre)
            for tr in pw.post_traces:
                tr.add_(z_post)

    # ------------------------------------------------------------------ results
    def weights(self, target: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pre, post, weight)`` arrays of the ``target``-th pathway (current weights, CSR order)."""
        pw = self.pathways[target]
        return pw.pre.cpu().numpy(), (pw.post - pw.offset).cpu().numpy(), pw.w.cpu().numpy()

    @property
    def n_synapses(self) -> int:
        return sum(pw.csr.n_synapses for pw in self.pathways if hasattr(pw, "csr"))


class GapJunction:
    """Symmetric electrical coupling inside one population: input ``g (v_j - v_i)`` in mV for LIF.

    Give pairs ``pre``/``post`` (each pair is coupled both ways) or ``p`` for random pairs.
    ``weight`` is the coupling conductance relative to the leak (dimensionless).
    """

    def __init__(self, group: NeuronGroup, weight: float, *, p: float | None = None, pre: Any = None,
                 post: Any = None) -> None:
        if (p is None) == (pre is None):
            raise ConnectivityError("GapJunction needs either p or explicit pre/post pairs.")
        if weight < 0:
            raise ValueError("gap-junction weight (a conductance) must be non-negative.")
        self.group, self.weight, self.p, self.pre_in, self.post_in = group, float(weight), p, pre, post
        group.gap_junctions.append(self)

    def build(self, rng: np.random.Generator, dt_ms: float, dtype: torch.dtype, device: Any) -> None:
        n = self.group.n
        if self.p is not None:
            i, j = connect_probability(rng, n, n, self.p, autapses=False)
            keep = i < j
            i, j = i[keep], j[keep]
        else:
            i = np.asarray(self.pre_in, dtype=np.int64).reshape(-1)
            j = np.asarray(self.post_in, dtype=np.int64).reshape(-1)
        ii, jj = np.concatenate([i, j]), np.concatenate([j, i])
        self.i = torch.as_tensor(ii, device=device)
        self.j = torch.as_tensor(jj, device=device)
        self.g = torch.full((ii.size,), self.weight, dtype=dtype, device=device)

    def current(self, v: Tensor) -> Tensor:
        return gap_junction_current(v, self.i, self.j, self.g)
