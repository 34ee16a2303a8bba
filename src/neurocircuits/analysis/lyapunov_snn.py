"""Maximal Lyapunov exponent of (input-driven, batched) recurrent dynamics and Lyapunov noise pruning.

**Estimator** (Benettin et al. 1980, averaged over trajectories). For a map
``v_{t+1} = f(v_t, x_t)`` a tangent vector is carried along with the exact Jacobian-vector product
(forward-mode autodiff), ``q_{t+1} = J_t q_t / |J_t q_t|``, and

    lambda = 1 / (T dt) * sum_t log |J_t q_t|

after a transient; the estimate is averaged over ``B`` independent trajectories (different initial
states, tangents and input noise) and reported with its standard error. Spike trains have no
Jacobian (a discrete-time spiking map is piecewise constant in the spikes), so for spiking
networks the estimator runs on the *smoothed* dynamics (the spike replaced by a sigmoid rate), e.g.
:meth:`neurocircuits.models.hrsnn.HRSNN.smooth_step`. For a linear map ``v -> A v`` the exponent is
``log rho(A)`` (spectral radius), which the tests check.

**Lyapunov noise pruning (LNP)** (Chakraborty et al., ICLR 2024), task-agnostic, in two steps:

1. *Noise pruning* (Moore & Chaudhuri 2020): drive the smoothed network with private white noise,
   measure the state covariance ``Sigma`` and keep synapse ``j -> i`` with probability
   ``p_ij = min(1, c |w_ij| (Sigma_ii + Sigma_jj - 2 sign(w_ij) Sigma_ij))`` (``c`` set so that the
   expected number kept meets the sparsity), rescaling kept weights to ``w_ij / p_ij`` so that the
   pruned matrix equals the dense one in expectation (the noise-driven covariance is preserved).
2. *Lyapunov guidance*: the recurrent gain ``g`` of the pruned matrix is set by bisection to the
   largest value whose maximal Lyapunov exponent is ``<= target``: the pruned network is stable
   yet close to the edge of chaos. The default target, -0.008 per ms, keeps a margin below 0: at
   -0.002 the smoothed exponent was negative but the spike trains of the spiking network still
   diverged from a perturbed copy (:func:`spike_divergence`), at -0.008 they converged.

:func:`activity_prune` is the baseline: keep the synapses with the largest ``|w_ij| r_j``
(``r_j`` the presynaptic firing rate under the same noise drive), no rescaling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["LyapunovEstimate", "max_lyapunov_exponent", "hrsnn_lyapunov", "noise_covariance",
           "noise_prune", "lyapunov_noise_prune", "activity_prune", "spike_divergence"]


class LyapunovEstimate(NamedTuple):
    """Mean maximal exponent (per unit time), its standard error, and one value per trajectory."""

    exponent: float
    sem: float
    per_trajectory: Tensor


def max_lyapunov_exponent(step: Callable[[Tensor, Tensor], Tensor], v0: Tensor, inputs: Tensor, *,
                          transient: int = 100, dt: float = 1.0, seed: int = 0) -> LyapunovEstimate:
    """Maximal Lyapunov exponent of ``v_{t+1} = step(v_t, inputs[t])``, averaged over the batch.

    Args:
        step: pure batched map ``(batch, n) x (batch, ...) -> (batch, n)``, differentiable in ``v``.
        v0: initial states ``(batch, n)``, one trajectory per row.
        inputs: ``(time, batch, ...)`` drive; ``time`` must exceed ``transient``.
        transient: steps before accumulating (the tangent aligns with the leading direction).
        dt: time per step; the exponent is per unit time.
        seed: seed of the random initial tangents.

    Returns:
        :class:`LyapunovEstimate`.
    """
    if v0.dim() != 2:
        raise ValueError(f"v0 must be (batch, n), got shape {tuple(v0.shape)}.")
    if inputs.shape[0] <= transient or inputs.shape[1] != v0.shape[0]:
        raise ValueError(f"inputs must be (time > transient={transient}, batch={v0.shape[0]}, ...), got "
                         f"{tuple(inputs.shape)}.")
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(v0.shape, generator=g, dtype=v0.dtype).to(v0.device)
    q = q / q.norm(dim=1, keepdim=True)
    v, total = v0.detach(), torch.zeros(v0.shape[0], dtype=v0.dtype, device=v0.device)
    with torch.no_grad():
        for t in range(inputs.shape[0]):
            v, jq = torch.func.jvp(lambda z: step(z, inputs[t]), (v,), (q,))
            n = jq.norm(dim=1)
            if not (torch.isfinite(n).all() and torch.isfinite(v).all()):
                raise FloatingPointError(f"max_lyapunov_exponent: non-finite state or tangent at step {t}; the "
                                         f"dynamics diverge (lower the gain or the input scale).")
            if t >= transient:
                total += torch.log(n.clamp_min(1e-300))
            q = jq / n.clamp_min(1e-300)[:, None]
    per = total / ((inputs.shape[0] - transient) * dt)
    sem = float(per.std() / math.sqrt(per.numel())) if per.numel() > 1 else float("nan")
    return LyapunovEstimate(float(per.mean()), sem, per)


def _noise_inputs(model, n_steps: int, batch: int, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_steps, batch, model.cfg.n_inputs, generator=g, dtype=model.W.dtype).to(model.W.device)


def hrsnn_lyapunov(model, n_steps: int = 400, batch: int = 8, transient: int = 100, seed: int = 0) -> LyapunovEstimate:
    """Maximal Lyapunov exponent (per ms) of an HRSNN's smoothed dynamics under white-noise input (task-agnostic)."""
    g = torch.Generator().manual_seed(seed + 1)
    v0 = torch.rand(batch, model.cfg.n_neurons, generator=g, dtype=model.W.dtype).to(model.W.device) * model.cfg.threshold
    return max_lyapunov_exponent(model.smooth_step, v0, _noise_inputs(model, n_steps, batch, seed), transient=transient,
                                 dt=model.cfg.dt_ms, seed=seed)


@torch.no_grad()
def noise_covariance(model, n_steps: int = 1500, batch: int = 8, noise_std: float = 0.5, transient: int = 200,
                     seed: int = 0) -> Tensor:
    """State covariance ``(N, N)`` of the smoothed network driven by private white noise per neuron."""
    g = torch.Generator().manual_seed(seed)
    n = model.cfg.n_neurons
    v = model.W.new_zeros(batch, n)
    x0 = model.W.new_zeros(batch, model.cfg.n_inputs)
    a = model.decay
    acc, acc2, count = model.W.new_zeros(n), model.W.new_zeros(n, n), 0
    for t in range(n_steps):
        xi = torch.randn(batch, n, generator=g, dtype=v.dtype).to(v.device)
        v = model.smooth_step(v, x0) + (1 - a) * noise_std * xi
        if t >= transient:
            acc += v.sum(0)
            acc2 += v.T @ v
            count += batch
    mu = acc / count
    return acc2 / count - torch.outer(mu, mu)


def noise_prune(w: Tensor, cov: Tensor, keep_fraction: float, seed: int = 0, sample: bool = False) -> Tensor:
    """Noise pruning by the covariance score ``|w_ij| (Sigma_ii + Sigma_jj - 2 sign(w_ij) Sigma_ij)``.

    ``sample=True`` is Moore & Chaudhuri's unbiased sampler (keep with ``p_ij = min(1, c score)``,
    reweight by ``1/p``); the default keeps the top-scoring synapses unchanged (no ``1/p`` outliers:
    on spiking reservoirs the reweighted outliers made the exponent erratic), leaving the overall
    scale to the Lyapunov-guided gain of :func:`lyapunov_noise_prune`.
    """
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}.")
    d = torch.diagonal(cov)
    score = w.abs() * (d[:, None] + d[None, :] - 2 * torch.sign(w) * cov).clamp_min(0)
    nz = w != 0
    score = score * nz
    n_keep = keep_fraction * float(nz.sum())
    if not sample:
        flat = torch.where(nz, score, torch.full_like(score, -1.0)).flatten()
        keep = torch.zeros_like(flat, dtype=torch.bool)
        keep[torch.topk(flat, int(round(n_keep))).indices] = True
        return torch.where(keep.view_as(w), w, torch.zeros_like(w))
    lo, hi = 0.0, 1.0
    while float(torch.clamp(hi * score, max=1).sum()) < n_keep and hi < 1e12:
        hi *= 2
    for _ in range(60):  # c such that sum_ij min(1, c s_ij) = n_keep
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if float(torch.clamp(mid * score, max=1).sum()) < n_keep else (lo, mid)
    p = torch.clamp(hi * score, max=1)
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(w.shape, generator=g, dtype=w.dtype).to(w.device) < p
    return torch.where(keep, w / p.clamp_min(1e-12), torch.zeros_like(w))


def lyapunov_noise_prune(model, keep_fraction: float, target_exponent: float = -0.008, max_gain: float = 8.0,
                         n_bisect: int = 10, seed: int = 0, sample: bool = False, lyap_kw: dict | None = None):
    """Lyapunov noise pruning of an HRSNN (see module docstring); returns ``(pruned_model, info)``.

    ``info`` holds the chosen gain, the pruned network's exponent estimate and the sparsity.
    """
    lkw = {"n_steps": 400, "batch": 8, "seed": seed, **(lyap_kw or {})}
    wp = noise_prune(model.W, noise_covariance(model, seed=seed), keep_fraction, seed=seed, sample=sample)
    lo, hi = 0.0, max_gain
    if hrsnn_lyapunov(model.with_recurrent_weights(hi * wp), **lkw).exponent <= target_exponent:
        lo = hi
    else:
        for _ in range(n_bisect):
            mid = 0.5 * (lo + hi)
            if hrsnn_lyapunov(model.with_recurrent_weights(mid * wp), **lkw).exponent <= target_exponent:
                lo = mid
            else:
                hi = mid
    pruned = model.with_recurrent_weights(lo * wp)
    est = hrsnn_lyapunov(pruned, **lkw)
    return pruned, {"gain": lo, "exponent": est.exponent, "sem": est.sem, "sparsity": pruned.sparsity()}


@torch.no_grad()
def activity_prune(model, keep_fraction: float, n_steps: int = 500, batch: int = 4, seed: int = 0):
    """Baseline: keep the ``keep_fraction`` of synapses with the largest ``|w_ij| * rate_j`` (no rescaling)."""
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}.")
    spk, _, _ = model.run(_noise_inputs(model, n_steps, batch, seed))
    rate = spk.mean((0, 1))
    score = model.W.abs() * rate[None, :]
    nz = model.W != 0
    k = int(round(keep_fraction * float(nz.sum())))
    flat = torch.where(nz, score, torch.full_like(score, -1.0)).flatten()
    idx = torch.topk(flat, k).indices
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep[idx] = True
    return model.with_recurrent_weights(torch.where(keep.view_as(score), model.W, torch.zeros_like(model.W)))


@torch.no_grad()
def spike_divergence(model, inputs: Tensor, perturbation: float = 0.3, tail: int = 300, seed: int = 0) -> float:
    """Spike-level sensitivity check of the *spiking* network (no smoothing).

    Two copies are driven by the same ``inputs`` ``(time, batch, n_inputs)`` from membranes that
    differ by up to ``perturbation`` (uniform); returns the fraction of differing spikes over the
    last ``tail`` steps. 0 means the spike trains forget their initial state (echo-state property);
    a chaotic spiking network keeps a positive mismatch.
    """
    if inputs.shape[0] <= tail:
        raise ValueError(f"inputs must have more than tail={tail} steps, got {inputs.shape[0]}.")
    g = torch.Generator().manual_seed(seed)
    s0 = model.initial_state(inputs.shape[1])
    s1 = s0._replace(v=s0.v + perturbation * torch.rand(s0.v.shape, generator=g, dtype=s0.v.dtype).to(s0.v.device))
    a, _, _ = model.run(inputs, s0)
    b, _, _ = model.run(inputs, s1)
    return float((a[-tail:] != b[-tail:]).to(torch.float64).mean())
