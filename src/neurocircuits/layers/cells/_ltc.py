"""LTC layer: a liquid time-constant population over a :class:`Wiring` (Hasani et al., AAAI 2021).

Equations (see :mod:`neurocircuits.functional.cells`):

    C_j dv_j/dt = g_leak,j (E_leak,j - v_j) + sum_i w_ij s(sigma_ij (v_i - mu_ij)) (E_ij - v_j)
                  + sum_k w^s_kj s(sigma^s_kj (x~_k - mu^s_kj)) (E^s_kj - v_j),
    x~ = x * input_w + input_b,          y = v[:, :motor] * output_w + output_b,

integrated by the fused semi-implicit solver (default) or an explicit solver from
:data:`~neurocircuits.functional.cells.LTC_SOLVERS`, with ``unfolds`` sub-steps per time step.
Positive parameters (``C``, ``g_leak``, ``w``) are kept positive by ``softplus`` (default) or by
clipping (``constraint="clip"``, with :meth:`LTC.apply_constraints` after each optimiser step).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...functional.cells import LTC_SOLVERS, LTCParams, LTCState, ltc_state_bounds, ltc_unroll
from ...registry import Registry
from ..hooks import HookPoint
from ._common import check_sequence, check_state
from ._wiring import Wiring, fully_connected

POSITIVITY: Registry[Callable[[Tensor], Tensor]] = Registry("positivity constraint")
POSITIVITY.add("softplus", F.softplus)
POSITIVITY.add("clip", F.relu)

_INIT_RANGES = {
    "gleak": (0.001, 1.0), "vleak": (-0.2, 0.2), "cm": (0.4, 0.6), "w": (0.001, 1.0),
    "sigma": (3.0, 8.0), "mu": (0.3, 0.8), "sensory_w": (0.001, 1.0), "sensory_sigma": (3.0, 8.0),
    "sensory_mu": (0.3, 0.8),
}
_MAPPINGS = ("affine", "linear", "none")


class LTC(nn.Module):
    """Liquid time-constant recurrent layer.

    Args:
        in_features: input size.
        units: a :class:`Wiring` or an int (fully connected wiring with that many units, all output).
        solver: name in ``LTC_SOLVERS``: ``semi_implicit`` (fused, bounded), ``euler``, ``midpoint``, ``rk4``.
        unfolds: solver sub-steps per time step.
        input_mapping / output_mapping: ``affine``, ``linear`` or ``none``.
        constraint: ``softplus`` or ``clip`` (positivity of C, g_leak, w).
        eps: semi-implicit denominator epsilon.
        device, dtype: factory arguments.

    ``forward(x [batch, time, in], state=None, timespans=None) -> (y [batch, time, motor], LTCState)``.
    """

    def __init__(
        self,
        in_features: int,
        units: Wiring | int,
        solver: str = "semi_implicit",
        unfolds: int = 6,
        input_mapping: str = "affine",
        output_mapping: str = "affine",
        constraint: str = "softplus",
        eps: float = 1e-8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        wiring = units if isinstance(units, Wiring) else fully_connected(in_features, int(units))
        if wiring.in_features != in_features:
            raise ValueError(
                f"the wiring has {wiring.in_features} sensory inputs but in_features={in_features}; "
                f"build the wiring with in_features={in_features}."
            )
        LTC_SOLVERS.get(solver)  # unknown names raise with the valid list
        self._positive = POSITIVITY.get(constraint)
        for m in (input_mapping, output_mapping):
            if m not in _MAPPINGS:
                raise ValueError(f"unknown mapping {m!r}; use one of {', '.join(_MAPPINGS)}.")
        if unfolds < 1:
            raise ValueError(f"unfolds must be >= 1, got {unfolds}.")
        self.wiring = wiring
        self.in_features = in_features
        self.units = wiring.units
        self.out_features = wiring.output_size
        self.solver = solver
        self.unfolds = int(unfolds)
        self.input_mapping = input_mapping
        self.output_mapping = output_mapping
        self.constraint = constraint
        self.eps = float(eps)
        fk = {"device": device, "dtype": dtype or torch.get_default_dtype()}
        n, k = self.units, in_features

        def init(shape: tuple[int, ...], key: str) -> nn.Parameter:
            lo, hi = _INIT_RANGES[key]
            return nn.Parameter(torch.rand(*shape, **fk) * (hi - lo) + lo)

        self.gleak = init((n,), "gleak")
        self.vleak = init((n,), "vleak")
        self.cm = init((n,), "cm")
        self.w = init((n, n), "w")
        self.sigma = init((n, n), "sigma")
        self.mu = init((n, n), "mu")
        self.erev = nn.Parameter(torch.as_tensor(wiring.adjacency.astype(np.float64), **fk).clone())
        self.sensory_w = init((k, n), "sensory_w")
        self.sensory_sigma = init((k, n), "sensory_sigma")
        self.sensory_mu = init((k, n), "sensory_mu")
        self.sensory_erev = nn.Parameter(torch.as_tensor(wiring.sensory_adjacency.astype(np.float64), **fk).clone())
        self.register_buffer("mask", torch.as_tensor(np.abs(wiring.adjacency).astype(np.float64), **fk).clone())
        self.register_buffer(
            "sensory_mask", torch.as_tensor(np.abs(wiring.sensory_adjacency).astype(np.float64), **fk).clone()
        )
        self.input_w = nn.Parameter(torch.ones(k, **fk)) if input_mapping != "none" else None
        self.input_b = nn.Parameter(torch.zeros(k, **fk)) if input_mapping == "affine" else None
        self.output_w = nn.Parameter(torch.ones(self.out_features, **fk)) if output_mapping != "none" else None
        self.output_b = nn.Parameter(torch.zeros(self.out_features, **fk)) if output_mapping == "affine" else None
        self.hook_input = HookPoint()
        self.hook_v = HookPoint()
        self.hook_out = HookPoint()

    # -- parameters ---------------------------------------------------------------------------
    def params(self) -> LTCParams:
        """The constrained parameters as an :class:`LTCParams` for :func:`ltc_step`."""
        pos = self._positive
        return LTCParams(
            gleak=pos(self.gleak), vleak=self.vleak, cm=pos(self.cm), w=pos(self.w), sigma=self.sigma,
            mu=self.mu, erev=self.erev, mask=self.mask, sensory_w=pos(self.sensory_w),
            sensory_sigma=self.sensory_sigma, sensory_mu=self.sensory_mu, sensory_erev=self.sensory_erev,
            sensory_mask=self.sensory_mask,
        )

    @torch.no_grad()
    def apply_constraints(self) -> None:
        """Clip C, g_leak and w to >= 0 (call after optimiser steps when ``constraint="clip"``)."""
        for p in (self.gleak, self.cm, self.w, self.sensory_w):
            p.clamp_(min=0.0)

    def initial_state(self, batch: int) -> LTCState:
        return LTCState(torch.zeros(batch, self.units, device=self.gleak.device, dtype=self.gleak.dtype))

    def state_bounds(self, v0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-unit interval the semi-implicit state cannot leave (Theorem 2 of the LTC paper)."""
        return ltc_state_bounds(self.params(), v0)

    def map_inputs(self, x: Tensor) -> Tensor:
        if self.input_w is not None:
            x = x * self.input_w
        if self.input_b is not None:
            x = x + self.input_b
        return x

    def map_outputs(self, v: Tensor) -> Tensor:
        y = v[..., : self.out_features]
        if self.output_w is not None:
            y = y * self.output_w
        if self.output_b is not None:
            y = y + self.output_b
        return y

    # -- run ----------------------------------------------------------------------------------
    def forward(self, x: Tensor, state: LTCState | None = None, timespans: Tensor | None = None,
                return_states: bool = False) -> tuple[Tensor, LTCState] | tuple[Tensor, LTCState, Tensor]:
        """Run a sequence.

        Args:
            x: ``[batch, time, in_features]``.
            state: initial :class:`LTCState` (zeros if None).
            timespans: optional ``[batch, time]`` elapsed times (default 1.0 per step).
            return_states: also return the full state trajectory ``[batch, time, units]``.
        """
        x = check_sequence(x, self.in_features, "LTC")
        batch, steps, _ = x.shape
        state = self.initial_state(batch) if state is None else LTCState(*state)
        check_state(state.v, batch, self.units, "LTC")
        p = self.params()
        xm = self.hook_input(self.map_inputs(x))
        if timespans is not None:
            timespans = timespans.reshape(batch, steps).to(dtype=xm.dtype, device=xm.device)
        v_seq, _ = ltc_unroll(xm, state, p, timespans, self.solver, self.unfolds, self.eps)
        v_seq = self.hook_v(v_seq)
        y = self.hook_out(self.map_outputs(v_seq))
        state = LTCState(v_seq[:, -1])
        return (y, state, v_seq) if return_states else (y, state)

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        """A valid random input ``[batch, steps, in_features]`` (registry smoke test hook)."""
        return torch.randn(batch, steps, self.in_features, device=self.gleak.device, dtype=self.gleak.dtype)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, units={self.units}, out={self.out_features}, "
                f"synapses={self.wiring.synapse_count}, solver={self.solver!r}, unfolds={self.unfolds}")
