"""Neuron models as pure step functions: ``step(x, state, params, dt_ms) -> (spikes, new_state)``.

These functions are the single source of truth for neuron dynamics: the simulator (``neurocircuits.sim``)
and the surrogate-gradient training stack call the same code. Units: time in ms, voltages in mV.
Every step takes a pluggable ``spike_fn`` that receives the distance to threshold (``v - v_thresh``)
and returns spikes; the default is the Heaviside step ``(x > 0)``; training passes a surrogate.

Models (paper -> equations):

* **LIF** (Lapicque 1907; Gerstner & Kistler 2002, ch. 4)::

      tau_mem dv/dt = v_rest - v + x            (x: input as the steady depolarisation R*I, mV)
      v > v_thresh  ->  spike; hard reset v <- v_reset, or soft reset v <- v - (v_thresh - v_reset)
      refractory_ms after a spike: v is held (not integrated) and cannot spike.

  ``method="exact"`` integrates the linear ODE in closed form with x constant over the step:
  ``v' = v_inf + (v - v_inf) exp(-dt/tau_mem)``, ``v_inf = v_rest + x``.

* **ALIF** (Bellec et al. 2018, "Long short-term memory and learning-to-learn in networks of spiking
  neurons"): LIF with threshold ``v_thresh + beta_mv * a``, ``tau_adapt da/dt = -a``, ``a += 1`` per spike.

* **Izhikevich** (Izhikevich 2003, "Simple model of spiking neurons")::

      dv/dt = 0.04 v^2 + 5 v + 140 - u + I,   du/dt = a (b v - u),   v >= 30 -> v <- c, u <- u + d

* **AdEx** (Brette & Gerstner 2005, "Adaptive exponential integrate-and-fire model")::

      C dV/dt = -g_L (V - E_L) + g_L D_T exp((V - V_T)/D_T) - w + I,   tau_w dw/dt = a (V - E_L) - w
      V > v_peak -> V <- v_reset, w <- w + b        (pF, nS, mV, ms, pA)

* **Hodgkin-Huxley** (Hodgkin & Huxley 1952, squid axon, rest shifted to -65 mV)::

      C dV/dt = I - g_Na m^3 h (V - E_Na) - g_K n^4 (V - E_K) - g_L (V - E_L)
      dx/dt = alpha_x(V) (1 - x) - beta_x(V) x,   x in {m, h, n}       (uF/cm^2, mS/cm^2, uA/cm^2)

  A spike is an upward crossing of ``spike_threshold_mv``.

* **Poisson** input: spikes with probability ``rate_hz * dt_ms / 1000`` per step.

Integrators are picked by name from :data:`neurocircuits.functional.integrators.INTEGRATORS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..registry import Registry
from .integrators import integrate

SpikeFn = Callable[[Tensor], Tensor]
Scalar = float | Tensor


def heaviside(x: Tensor) -> Tensor:
    """Spike where ``x > 0`` (strict, as Brian2 and NEST threshold), in the dtype of ``x``."""
    return (x > 0).to(x.dtype)


def _exp_decay(dt_ms: float, tau_ms: Scalar) -> Scalar:
    if isinstance(tau_ms, Tensor):
        return torch.exp(-dt_ms / tau_ms)
    return math.exp(-dt_ms / tau_ms)


def _check_method(model: str, method: str, allowed: tuple[str, ...]) -> None:
    if method not in allowed:
        raise ValueError(f"{model} neurons support method in {allowed}, got {method!r}.")


def _refractory(ref_left_ms: Tensor, dt_ms: float) -> tuple[Tensor, Tensor]:
    """Count down the refractory time; a neuron is held while more than half a step remains.

    After a spike at step k with ``refractory_ms = r`` the neuron is held for steps k+1 .. k+r/dt-1 and
    integrates again at step k + r/dt (Brian2's ``timestep(t - lastspike) >= timestep(refractory)``).
    """
    left = (ref_left_ms - dt_ms).clamp_min(0.0)
    return left, left > 0.5 * dt_ms


# --------------------------------------------------------------------------------------------- LIF
class LIFParams(NamedTuple):
    """Leaky integrate-and-fire parameters (scalars or per-neuron tensors)."""

    tau_mem_ms: Scalar = 20.0
    v_thresh_mv: Scalar = -50.0
    v_reset_mv: Scalar = -60.0
    v_rest_mv: Scalar = -60.0
    refractory_ms: Scalar = 0.0
    reset: str = "hard"


class LIFState(NamedTuple):
    v: Tensor
    refractory_left_ms: Tensor


def _lif_membrane(x: Tensor, v: Tensor, p: Any, dt_ms: float, method: str) -> Tensor:
    if method == "exact":
        v_inf = p.v_rest_mv + x
        return v_inf + (v - v_inf) * _exp_decay(dt_ms, p.tau_mem_ms)
    return integrate(method, lambda y: ((p.v_rest_mv - y[0] + x) / p.tau_mem_ms,), (v,), dt_ms)[0]


def _reset(v: Tensor, z: Tensor, thresh: Scalar, p: Any) -> Tensor:
    if p.reset == "hard":
        return v - z * (v - p.v_reset_mv)
    if p.reset == "soft":
        return v - z * (thresh - p.v_reset_mv)
    raise ValueError(f"reset must be 'hard' or 'soft', got {p.reset!r}.")


def lif_step(
    input_current: Tensor,
    state: LIFState,
    params: LIFParams,
    dt_ms: float,
    spike_fn: SpikeFn = heaviside,
    method: str = "exact",
) -> tuple[Tensor, LIFState]:
    """One LIF step.

    Args:
        input_current: drive ``x`` in mV (R * I), held constant over the step, shape ``[..., n]``.
        state: ``LIFState(v, refractory_left_ms)``.
        params: :class:`LIFParams`.
        dt_ms: time step.
        spike_fn: maps ``v - v_thresh`` to spikes (Heaviside, or a surrogate for training).
        method: ``"exact"`` (closed form) or an integrator name (``"euler"``, ``"rk2"``, ``"rk4"``).

    Returns:
        ``(spikes, new_state)``; spikes have the dtype of ``v``.
    """
    _check_method("lif", method, ("exact", "euler", "rk2", "rk4"))
    v, ref = state
    v_int = _lif_membrane(input_current, v, params, dt_ms, method)
    ref_left, held = _refractory(ref, dt_ms)
    v_int = torch.where(held, v, v_int)
    z = spike_fn(v_int - params.v_thresh_mv) * (~held).to(v.dtype)
    v_new = _reset(v_int, z, params.v_thresh_mv, params)
    ref_new = torch.where(z > 0, torch.as_tensor(params.refractory_ms, dtype=v.dtype, device=v.device), ref_left)
    return z, LIFState(v_new, ref_new)


def lif_rate_hz(input_current: float, params: LIFParams) -> float:
    """Analytic firing rate of a LIF under constant drive (the f-I curve, continuous time).

    ``T = refractory + tau ln((v_inf - v_reset) / (v_inf - v_thresh))`` for ``v_inf > v_thresh``, else 0.
    """
    v_inf = float(params.v_rest_mv) + input_current
    if v_inf <= float(params.v_thresh_mv):
        return 0.0
    period = float(params.refractory_ms) + float(params.tau_mem_ms) * math.log(
        (v_inf - float(params.v_reset_mv)) / (v_inf - float(params.v_thresh_mv))
    )
    return 1000.0 / period


# -------------------------------------------------------------------------------------------- ALIF
class ALIFParams(NamedTuple):
    """Adaptive-threshold LIF parameters (Bellec et al. 2018)."""

    tau_mem_ms: Scalar = 20.0
    v_thresh_mv: Scalar = -50.0
    v_reset_mv: Scalar = -60.0
    v_rest_mv: Scalar = -60.0
    refractory_ms: Scalar = 0.0
    tau_adapt_ms: Scalar = 200.0
    beta_mv: Scalar = 1.6
    reset: str = "hard"


class ALIFState(NamedTuple):
    v: Tensor
    adaptation: Tensor
    refractory_left_ms: Tensor


def alif_step(
    input_current: Tensor,
    state: ALIFState,
    params: ALIFParams,
    dt_ms: float,
    spike_fn: SpikeFn = heaviside,
    method: str = "exact",
) -> tuple[Tensor, ALIFState]:
    """One ALIF step: LIF with threshold ``v_thresh + beta * a``; ``a`` decays and jumps by 1 per spike."""
    _check_method("alif", method, ("exact", "euler", "rk2", "rk4"))
    v, a, ref = state
    v_int = _lif_membrane(input_current, v, params, dt_ms, method)
    ref_left, held = _refractory(ref, dt_ms)
    v_int = torch.where(held, v, v_int)
    a = a * _exp_decay(dt_ms, params.tau_adapt_ms)
    thresh = params.v_thresh_mv + params.beta_mv * a
    z = spike_fn(v_int - thresh) * (~held).to(v.dtype)
    v_new = _reset(v_int, z, thresh, params)
    ref_new = torch.where(z > 0, torch.as_tensor(params.refractory_ms, dtype=v.dtype, device=v.device), ref_left)
    return z, ALIFState(v_new, a + z, ref_new)


# ------------------------------------------------------------------------------------- Izhikevich
class IzhikevichParams(NamedTuple):
    """Izhikevich (2003) parameters; the default is regular spiking."""

    a: Scalar = 0.02
    b: Scalar = 0.2
    c_mv: Scalar = -65.0
    d: Scalar = 8.0
    v_peak_mv: Scalar = 30.0


class IzhikevichState(NamedTuple):
    v: Tensor
    u: Tensor


IZHIKEVICH_PRESETS: dict[str, IzhikevichParams] = {
    "regular_spiking": IzhikevichParams(0.02, 0.2, -65.0, 8.0),
    "intrinsically_bursting": IzhikevichParams(0.02, 0.2, -55.0, 4.0),
    "chattering": IzhikevichParams(0.02, 0.2, -50.0, 2.0),
    "fast_spiking": IzhikevichParams(0.1, 0.2, -65.0, 2.0),
    "low_threshold_spiking": IzhikevichParams(0.02, 0.25, -65.0, 2.0),
}


def izhikevich_step(
    input_current: Tensor,
    state: IzhikevichState,
    params: IzhikevichParams,
    dt_ms: float,
    spike_fn: SpikeFn = heaviside,
    method: str = "euler",
) -> tuple[Tensor, IzhikevichState]:
    """One Izhikevich step (``input_current`` in the model's dimensionless current units)."""
    _check_method("izhikevich", method, ("euler", "rk2", "rk4"))
    p = params

    def f(y: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        v, u = y
        v = torch.minimum(v, torch.as_tensor(p.v_peak_mv, dtype=v.dtype, device=v.device))
        return 0.04 * v * v + 5.0 * v + 140.0 - u + input_current, p.a * (p.b * v - u)

    v, u = integrate(method, f, tuple(state), dt_ms)
    z = spike_fn(v - p.v_peak_mv)
    v = v - z * (v - p.c_mv)
    return z, IzhikevichState(v, u + z * p.d)


# ------------------------------------------------------------------------------------------- AdEx
class AdExParams(NamedTuple):
    """AdEx parameters (Brette & Gerstner 2005, Fig. 2 defaults)."""

    c_pf: Scalar = 281.0
    g_l_ns: Scalar = 30.0
    e_l_mv: Scalar = -70.6
    v_t_mv: Scalar = -50.4
    delta_t_mv: Scalar = 2.0
    tau_w_ms: Scalar = 144.0
    a_ns: Scalar = 4.0
    b_pa: Scalar = 80.5
    v_reset_mv: Scalar = -70.6
    v_peak_mv: Scalar = 0.0


class AdExState(NamedTuple):
    v: Tensor
    w: Tensor


def adex_step(
    input_current: Tensor,
    state: AdExState,
    params: AdExParams,
    dt_ms: float,
    spike_fn: SpikeFn = heaviside,
    method: str = "euler",
) -> tuple[Tensor, AdExState]:
    """One AdEx step; ``input_current`` in pA."""
    _check_method("adex", method, ("euler", "rk2", "rk4"))
    p = params

    def f(y: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
        v, w = y
        expo = torch.exp(torch.clamp((v - p.v_t_mv) / p.delta_t_mv, max=20.0))
        dv = (-p.g_l_ns * (v - p.e_l_mv) + p.g_l_ns * p.delta_t_mv * expo - w + input_current) / p.c_pf
        return dv, (p.a_ns * (v - p.e_l_mv) - w) / p.tau_w_ms

    v, w = integrate(method, f, tuple(state), dt_ms)
    z = spike_fn(v - p.v_peak_mv)
    v = v - z * (v - p.v_reset_mv)
    return z, AdExState(v, w + z * p.b_pa)


# ------------------------------------------------------------------------------- Hodgkin-Huxley
class HHParams(NamedTuple):
    """Hodgkin-Huxley (1952) squid-axon parameters, resting potential about -65 mV."""

    c_uf_cm2: Scalar = 1.0
    g_na_ms_cm2: Scalar = 120.0
    g_k_ms_cm2: Scalar = 36.0
    g_l_ms_cm2: Scalar = 0.3
    e_na_mv: Scalar = 50.0
    e_k_mv: Scalar = -77.0
    e_l_mv: Scalar = -54.387
    spike_threshold_mv: Scalar = 0.0


class HHState(NamedTuple):
    v: Tensor
    m: Tensor
    h: Tensor
    n: Tensor


def _vtrap(x: Tensor, y: float) -> Tensor:
    """x / (exp(x/y) - 1) with its limit y at x = 0."""
    small = x.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, y * (1.0 - x / y / 2.0), safe / torch.expm1(safe / y))


def hh_rates(v: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """(alpha_m, beta_m, alpha_h, beta_h, alpha_n, beta_n) in 1/ms at voltage ``v`` (mV)."""
    am = 0.1 * _vtrap(-(v + 40.0), 10.0)
    bm = 4.0 * torch.exp(-(v + 65.0) / 18.0)
    ah = 0.07 * torch.exp(-(v + 65.0) / 20.0)
    bh = 1.0 / (1.0 + torch.exp(-(v + 35.0) / 10.0))
    an = 0.01 * _vtrap(-(v + 55.0), 10.0)
    bn = 0.125 * torch.exp(-(v + 65.0) / 80.0)
    return am, bm, ah, bh, an, bn


def hh_step(
    input_current: Tensor,
    state: HHState,
    params: HHParams,
    dt_ms: float,
    spike_fn: SpikeFn = heaviside,
    method: str = "rk4",
) -> tuple[Tensor, HHState]:
    """One Hodgkin-Huxley step; ``input_current`` in uA/cm^2. Spikes mark upward threshold crossings."""
    _check_method("hh", method, ("euler", "rk2", "rk4"))
    p = params

    def f(y: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        v, m, h, n = y
        am, bm, ah, bh, an, bn = hh_rates(v)
        i_ion = (
            p.g_na_ms_cm2 * m**3 * h * (v - p.e_na_mv)
            + p.g_k_ms_cm2 * n**4 * (v - p.e_k_mv)
            + p.g_l_ms_cm2 * (v - p.e_l_mv)
        )
        return (
            (input_current - i_ion) / p.c_uf_cm2,
            am * (1 - m) - bm * m,
            ah * (1 - h) - bh * h,
            an * (1 - n) - bn * n,
        )

    new = HHState(*integrate(method, f, tuple(state), dt_ms))
    z = spike_fn(new.v - p.spike_threshold_mv) * (state.v <= p.spike_threshold_mv).to(new.v.dtype)
    return z, new


def hh_resting_state(shape: tuple[int, ...] | int, v_mv: float = -65.0, dtype: torch.dtype = torch.float64,
                     device: Any = None) -> HHState:
    """Gates at their steady state for voltage ``v_mv``."""
    v = torch.full(shape if isinstance(shape, tuple) else (shape,), v_mv, dtype=dtype, device=device)
    am, bm, ah, bh, an, bn = hh_rates(v)
    return HHState(v, am / (am + bm), ah / (ah + bh), an / (an + bn))


# ---------------------------------------------------------------------------------------- Poisson
class PoissonParams(NamedTuple):
    rate_hz: Scalar = 10.0


def poisson_step(
    rate_hz: Tensor | float,
    shape: tuple[int, ...],
    dt_ms: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: Any = None,
) -> Tensor:
    """Independent Poisson spikes: probability ``rate_hz * dt_ms / 1000`` per neuron and step."""
    u = torch.rand(shape, generator=generator, dtype=dtype, device=device)
    return (u < torch.as_tensor(rate_hz, dtype=dtype, device=device) * (dt_ms * 1e-3)).to(dtype)


def spike_generator_step(step_index: int, steps: Tensor, indices: Tensor, n: int,
                         dtype: torch.dtype = torch.float32) -> Tensor:
    """Spikes of a spike-generator at ``step_index`` given the schedule (``steps[i]``, ``indices[i]``)."""
    z = torch.zeros(n, dtype=dtype, device=steps.device)
    z[indices[steps == step_index]] = 1.0
    return z


# --------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class NeuronModel:
    """A registered neuron model: its params/state types, step function and defaults.

    Attributes:
        name: registry name.
        params: NamedTuple class of parameters (field defaults are the model defaults).
        state: NamedTuple class of the state.
        step: ``step(x, state, params, dt_ms, spike_fn, method) -> (spikes, state)``.
        initial_state: ``(n, params, dtype, device) -> state`` at rest.
        methods: integrators the model accepts; ``default_method`` first.
        input_unit: unit of the drive ``x``.
    """

    name: str
    params: type
    state: type
    step: Callable[..., tuple[Tensor, Any]]
    initial_state: Callable[..., Any]
    methods: tuple[str, ...]
    input_unit: str

    @property
    def default_method(self) -> str:
        return self.methods[0]

    def make_params(self, **kwargs: Any) -> Any:
        """Build the params NamedTuple, refusing unknown names with the valid ones listed."""
        fields = self.params._fields  # type: ignore[attr-defined]
        unknown = sorted(set(kwargs) - set(fields))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for neuron model {self.name!r}; valid: {list(fields)}.")
        return self.params(**kwargs)


NEURON_MODELS: Registry[NeuronModel] = Registry("neuron model")


def _full(n: int, value: Scalar, dtype: torch.dtype, device: Any) -> Tensor:
    return torch.broadcast_to(torch.as_tensor(value, dtype=dtype, device=device), (n,)).clone()


def _register(model: NeuronModel) -> None:
    NEURON_MODELS.add(model.name, model)


_register(NeuronModel(
    "lif", LIFParams, LIFState, lif_step,
    lambda n, p, dtype=torch.float32, device=None: LIFState(_full(n, p.v_rest_mv, dtype, device), torch.zeros(n, dtype=dtype, device=device)),
    ("exact", "euler", "rk2", "rk4"), "mV",
))
_register(NeuronModel(
    "alif", ALIFParams, ALIFState, alif_step,
    lambda n, p, dtype=torch.float32, device=None: ALIFState(
        _full(n, p.v_rest_mv, dtype, device), torch.zeros(n, dtype=dtype, device=device), torch.zeros(n, dtype=dtype, device=device)),
    ("exact", "euler", "rk2", "rk4"), "mV",
))
_register(NeuronModel(
    "izhikevich", IzhikevichParams, IzhikevichState, izhikevich_step,
    lambda n, p, dtype=torch.float32, device=None: IzhikevichState(
        _full(n, -65.0, dtype, device), _full(n, -65.0, dtype, device) * torch.as_tensor(p.b, dtype=dtype, device=device)),
    ("euler", "rk2", "rk4"), "a.u.",
))
_register(NeuronModel(
    "adex", AdExParams, AdExState, adex_step,
    lambda n, p, dtype=torch.float32, device=None: AdExState(_full(n, p.e_l_mv, dtype, device), torch.zeros(n, dtype=dtype, device=device)),
    ("euler", "rk2", "rk4"), "pA",
))
_register(NeuronModel(
    "hh", HHParams, HHState, hh_step,
    lambda n, p, dtype=torch.float32, device=None: hh_resting_state(n, -65.0, dtype, device),
    ("rk4", "rk2", "euler"), "uA/cm^2",
))
