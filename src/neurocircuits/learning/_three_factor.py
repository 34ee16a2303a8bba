"""Readout plasticity for reservoirs: an error-modulated, attention-gated three-factor Hebbian rule,
and FORCE (recursive least squares; Sussillo & Abbott 2009, Neuron 63:544) as the baseline.

Three-factor rule (pre-synaptic trace x_j, a neuromodulatory error signal, an attention gate)::

    e(t)   = y*(t) - w . x(t)                       (error broadcast by a modulator)
    dw_j   = eta a(t) e(t) x_j(t) / (|x(t)|^2 + eps) (normalised so eta is a fraction of the error)

The attention gate ``a(t)`` in [0, 1] switches plasticity on only while the attended cue's trial is
running; with ``a = 0`` nothing is learned. Averaged over trials whose target appears with
probability ``p``, the fixed point of the rule is the least-squares readout of ``p y*``: the learned
response amplitude is proportional to the stimulus probability. The rule has no state besides ``w``,
so it keeps tracking when the task changes.

FORCE keeps the inverse correlation matrix ``P``::

    k = P x / (1 + x^T P x),   P <- (P - k x^T P) / lambda,   w <- w + e k

With ``lambda = 1`` (no forgetting) ``P`` shrinks like ``1 / (number of samples)``, so after a task
switch FORCE re-adapts only as fast as the new data outweigh all the old data.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["three_factor_update", "three_factor_trial", "RLSState", "rls_init", "force_trial"]


def three_factor_update(w: np.ndarray, pre: np.ndarray, target: float, gate: float, lr: float,
                        eps: float = 1e-8) -> tuple[np.ndarray, float]:
    """One step of the three-factor rule (in place on ``w``); returns ``(w, error)``."""
    err = float(target - pre @ w)
    if gate != 0.0:
        w += (lr * gate * err / (pre @ pre + eps)) * pre
    return w, err


def three_factor_trial(w: np.ndarray, traces: np.ndarray, targets: np.ndarray, gate: np.ndarray, lr: float,
                       eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray]:
    """Run the rule through one trial: ``traces (T, F)``, ``targets (T,)``, ``gate (T,)``.

    Returns ``(w, errors (T,))``; ``w`` is updated in place at every step.
    """
    if traces.ndim != 2 or targets.shape != (traces.shape[0],) or gate.shape != (traces.shape[0],):
        raise ValueError(f"need traces (T, F), targets (T,) and gate (T,), got {traces.shape}, {targets.shape}, "
                         f"{gate.shape}.")
    if w.shape != (traces.shape[1],):
        raise ValueError(f"readout weights must have shape ({traces.shape[1]},), got {w.shape}.")
    errs = np.empty(traces.shape[0])
    norms = np.einsum("tf,tf->t", traces, traces) + eps
    for t in range(traces.shape[0]):
        x = traces[t]
        e = targets[t] - x @ w
        errs[t] = e
        if gate[t] != 0.0:
            w += (lr * gate[t] * e / norms[t]) * x
    return w, errs


class RLSState(NamedTuple):
    w: np.ndarray  # (F,)
    P: np.ndarray  # (F, F) inverse correlation estimate


def rls_init(n_features: int, alpha: float = 1.0) -> RLSState:
    """FORCE start: ``w = 0``, ``P = I / alpha``."""
    if alpha <= 0:
        raise ValueError(f"alpha must be > 0, got {alpha}.")
    return RLSState(np.zeros(n_features), np.eye(n_features) / alpha)


def force_trial(state: RLSState, traces: np.ndarray, targets: np.ndarray, gate: np.ndarray | None = None,
                every: int = 1, forgetting: float = 1.0) -> RLSState:
    """FORCE (RLS) updates through one trial, every ``every`` steps where the gate is open."""
    w, P = state.w.copy(), state.P.copy()
    for t in range(0, traces.shape[0], every):
        if gate is not None and gate[t] == 0.0:
            continue
        x = traces[t]
        Px = P @ x
        k = Px / (forgetting + x @ Px)
        e = targets[t] - x @ w
        w += e * k
        P -= np.outer(k, Px)
        if forgetting != 1.0:
            P /= forgetting
    return RLSState(w, P)
