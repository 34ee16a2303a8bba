"""Synthetic recordings with a planted ground truth.

* :func:`glm_spikes` - a Poisson GLM network: ``lambda_i(t) = exp(b_i + sum_j W_ij f_j(t))`` with
  ``f_j`` spikes of ``j`` filtered by an exponential kernel (``tau_s``), rates capped at
  ``max_rate_hz``, spikes drawn per bin as Bernoulli(1 - exp(-lambda dt)). The planted couplings ``W`` come back as a CircuitGraph
  (edge ``j -> i`` with ``weight=|W_ij|``, ``sign``).
* :func:`lif_spikes` - leaky integrate-and-fire neurons, ``tau dv/dt = -(v - v_rest) + R I`` with
  noisy drive and instantaneous current jumps ``W_ij`` at presynaptic spikes; reset after threshold.
* :func:`calcium_from_spikes` - ``c_t = c_{t-1} exp(-dt/tau) + A s_t``, plus Gaussian noise:
  calcium traces from binned spikes (the usual GCaMP forward model).
* :func:`connectome_activity` - rate dynamics on a connectome,
  ``x_{t+1} = (1-a) x_t + a tanh(x_t W + u) + sigma eps``, ``W`` the signed adjacency scaled to
  spectral radius ``rho``: continuous activity aligned to the graph's node order.
"""

from __future__ import annotations

import numpy as np

from ...graph import CircuitGraph
from ..connectomes._matrix import signed_adjacency
from ._recording import Recording


def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_couplings(n: int, density: float = 0.1, scale: float = 1.0, frac_inhibitory: float = 0.3,
                     seed: int | np.random.Generator = 0) -> np.ndarray:
    """``W[post, pre]`` with Dale's law: each presynaptic neuron is E or I; no self-coupling."""
    if not 0 <= density <= 1:
        raise ValueError(f"density must be in [0, 1], got {density}.")
    rng = _rng(seed)
    mask = rng.random((n, n)) < density
    np.fill_diagonal(mask, False)
    sign = np.where(rng.random(n) < frac_inhibitory, -1.0, 1.0)
    return mask * rng.uniform(0.5, 1.5, (n, n)) * scale * sign[None, :]


def couplings_graph(w_post_pre: np.ndarray, names: list[str] | None = None, name: str = "planted") -> CircuitGraph:
    """The planted couplings as a CircuitGraph (edge pre -> post, ``weight=|W|``, ``sign``)."""
    n = w_post_pre.shape[0]
    names = names or [f"n{i}" for i in range(n)]
    g = CircuitGraph(name=name)
    for nm in names:
        g.add_node(nm, kind="neuron")
    for post, pre in zip(*np.nonzero(w_post_pre)):
        w = float(w_post_pre[post, pre])
        g.add_edge(names[pre], names[post], kind="chemical", weight=abs(w), sign=1 if w > 0 else -1)
    return g


def glm_spikes(
    n_neurons: int = 20, duration_s: float = 60.0, dt_s: float = 0.001, baseline_hz: float = 10.0,
    density: float = 0.1, coupling: float = 0.5, tau_s: float = 0.01, max_rate_hz: float = 200.0, seed: int = 0,
) -> tuple[Recording, CircuitGraph]:
    """Spikes of a coupled Poisson GLM and its planted coupling graph (see the module docstring)."""
    if dt_s <= 0 or duration_s <= 0:
        raise ValueError("dt_s and duration_s must be > 0.")
    rng = _rng(seed)
    w = random_couplings(n_neurons, density, coupling, seed=rng)
    n_steps = int(round(duration_s / dt_s))
    b = np.log(baseline_hz) * np.ones(n_neurons)
    decay = np.exp(-dt_s / tau_s)
    f = np.zeros(n_neurons)
    spikes = np.zeros((n_steps, n_neurons), dtype=bool)
    for t in range(n_steps):
        lam = np.minimum(np.exp(b + w @ f), max_rate_hz)
        s = rng.random(n_neurons) < -np.expm1(-lam * dt_s)
        spikes[t] = s
        f = f * decay + s
    names = [f"n{i}" for i in range(n_neurons)]
    trains = tuple((np.nonzero(spikes[:, i])[0] + 0.5) * dt_s for i in range(n_neurons))
    rec = Recording(tuple(names), spikes=trains, duration_s=n_steps * dt_s, rate_hz=1.0 / dt_s, name="glm",
                    attrs={"generator": "glm_spikes", "seed": seed})
    return rec, couplings_graph(w, names, "glm_couplings")


def lif_spikes(
    n_neurons: int = 20, duration_s: float = 10.0, dt_s: float = 0.0005, tau_mem_s: float = 0.02,
    v_thresh: float = 1.0, drive: float = 1.05, noise: float = 0.3, density: float = 0.1, coupling: float = 0.2,
    seed: int = 0,
) -> tuple[Recording, CircuitGraph]:
    """Spikes of a coupled LIF network (threshold 1, reset 0) and its planted coupling graph."""
    if dt_s <= 0 or duration_s <= 0 or tau_mem_s <= 0:
        raise ValueError("dt_s, duration_s and tau_mem_s must be > 0.")
    rng = _rng(seed)
    w = random_couplings(n_neurons, density, coupling, seed=rng)
    n_steps = int(round(duration_s / dt_s))
    v = rng.random(n_neurons) * v_thresh
    spikes = np.zeros((n_steps, n_neurons), dtype=bool)
    s = np.zeros(n_neurons)
    for t in range(n_steps):
        i_ext = drive + noise * np.sqrt(tau_mem_s / dt_s) * rng.standard_normal(n_neurons)
        v = v + dt_s / tau_mem_s * (-v + i_ext) + w @ s
        s = (v >= v_thresh).astype(np.float64)
        v = np.where(s > 0, 0.0, v)
        spikes[t] = s > 0
    names = [f"n{i}" for i in range(n_neurons)]
    trains = tuple((np.nonzero(spikes[:, i])[0] + 1) * dt_s for i in range(n_neurons))
    rec = Recording(tuple(names), spikes=trains, duration_s=n_steps * dt_s, rate_hz=1.0 / dt_s, name="lif",
                    attrs={"generator": "lif_spikes", "seed": seed})
    return rec, couplings_graph(w, names, "lif_couplings")


def calcium_from_spikes(
    spikes: Recording, rate_hz: float = 30.0, tau_s: float = 0.5, amplitude: float = 1.0, noise: float = 0.05,
    seed: int = 0,
) -> Recording:
    """Calcium-like traces: spikes binned at ``rate_hz``, convolved with ``exp(-t/tau_s)``, plus noise."""
    if tau_s <= 0 or rate_hz <= 0:
        raise ValueError("tau_s and rate_hz must be > 0.")
    counts = spikes.binned(1.0 / rate_hz).data
    assert counts is not None
    decay = np.exp(-1.0 / (rate_hz * tau_s))
    c = np.zeros_like(counts)
    level = np.zeros(counts.shape[1])
    for t in range(counts.shape[0]):
        level = level * decay + amplitude * counts[t]
        c[t] = level
    c = c + noise * _rng(seed).standard_normal(c.shape)
    return Recording(spikes.channels, data=c, rate_hz=rate_hz, start_s=spikes.start_s, name=f"{spikes.name}_calcium",
                     attrs={**spikes.attrs, "generator": "calcium_from_spikes", "tau_s": tau_s})


def connectome_activity(
    graph: CircuitGraph, n_steps: int = 2000, rate_hz: float = 2.0, leak: float = 0.5, spectral_radius: float = 0.9,
    drive: float = 0.5, noise: float = 0.1, unknown_sign: int = 1, seed: int = 0,
) -> tuple[Recording, np.ndarray]:
    """Rate activity on ``graph`` in its node order, and the ground-truth ``W[pre, post]`` used."""
    if not 0 < leak <= 1:
        raise ValueError(f"leak must be in (0, 1], got {leak}.")
    rng = _rng(seed)
    w, names = signed_adjacency(graph, unknown_sign=unknown_sign, gap_scale=1.0)
    radius = float(np.max(np.abs(np.linalg.eigvals(w)))) if w.any() else 1.0
    w = w * spectral_radius / radius
    u = drive * rng.standard_normal(len(names))
    x = np.zeros(len(names))
    out = np.zeros((n_steps, len(names)))
    for t in range(n_steps):
        x = (1 - leak) * x + leak * np.tanh(x @ w + u) + noise * rng.standard_normal(len(names))
        out[t] = x
    rec = Recording(tuple(names), data=out, rate_hz=rate_hz, name=f"{graph.name}_activity",
                    attrs={"generator": "connectome_activity", "seed": seed, "leak": leak})
    return rec, w
