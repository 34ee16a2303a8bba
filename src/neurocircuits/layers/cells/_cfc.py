"""CfC layer: closed-form continuous-time recurrent cell (Hasani et al., Nat. Mach. Intell. 2022).

    z = act(W_bb [x, h] + b_bb)                                   (backbone, ``backbone_layers`` deep)
    h' = tanh(W_1 z) (1 - s) + s tanh(W_2 z),   s = sigmoid(t_a(z) * dt + t_b(z))   (mode "default")

Modes ``no_gate`` (``h' = tanh(W_1 z) + s tanh(W_2 z)``) and ``pure``
(``h' = -A exp(-dt (|w_tau| + |W_1 z|)) W_1 z + A``) come from
:data:`~neurocircuits.functional.cells.CFC_MODES`. A :class:`Wiring` (e.g. NCP) masks the rows of
the heads: unit ``j`` reads unit ``i`` (in ``h``) only if the wiring has a synapse ``i -> j`` and
reads input ``k`` only if it has a sensory synapse ``k -> j`` (only with ``backbone_layers=0``,
where the heads read ``[x, h]`` directly). The output is ``h`` (or its first ``output_size``
units for a wiring), optionally projected by a linear ``proj_size`` head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from ...functional.cells import ACTIVATIONS, CFC_MODES, CfCParams, CfCState, cfc_step
from ..hooks import HookPoint
from ._common import check_sequence, check_state, timespan_column
from ._wiring import Wiring


class CfC(nn.Module):
    """Closed-form continuous-time recurrent layer.

    Args:
        in_features: input size.
        units: hidden size (int) or a :class:`Wiring` (then ``backbone_layers`` must be 0).
        mode: ``default``, ``no_gate`` or ``pure``.
        backbone_units / backbone_layers / activation: the shared backbone MLP.
        proj_size: optional linear readout size.
        device, dtype: factory arguments.

    ``forward(x [batch, time, in], state=None, timespans=None) -> (y [batch, time, out], CfCState)``.
    """

    def __init__(
        self,
        in_features: int,
        units: int | Wiring,
        mode: str = "default",
        backbone_units: int = 128,
        backbone_layers: int = 1,
        activation: str = "lecun_tanh",
        proj_size: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        CFC_MODES.get(mode)
        ACTIVATIONS.get(activation)
        wiring = units if isinstance(units, Wiring) else None
        n = wiring.units if wiring is not None else int(units)
        if wiring is not None and backbone_layers != 0:
            raise ValueError("a wired CfC masks the heads' [x, h] inputs: build it with backbone_layers=0.")
        if wiring is not None and wiring.in_features != in_features:
            raise ValueError(f"the wiring has {wiring.in_features} inputs but in_features={in_features}.")
        if n < 1 or in_features < 1:
            raise ValueError(f"in_features and units must be >= 1, got {in_features} and {n}.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.units, self.mode, self.activation = in_features, n, mode, activation
        self.wiring = wiring
        self.backbone = nn.ModuleList()
        width = in_features + n
        for _ in range(backbone_layers):
            self.backbone.append(nn.Linear(width, backbone_units, **fk))
            width = backbone_units
        pure = mode == "pure"
        self.ff1 = nn.Linear(width, n, **fk)
        self.ff2 = None if pure else nn.Linear(width, n, **fk)
        self.time_a = None if pure else nn.Linear(width, n, **fk)
        self.time_b = None if pure else nn.Linear(width, n, **fk)
        self.w_tau = nn.Parameter(torch.zeros(n, **fk)) if pure else None
        self.a = nn.Parameter(torch.ones(n, **fk)) if pure else None
        for lin in [*self.backbone, self.ff1, self.ff2, self.time_a, self.time_b]:
            if lin is not None:
                nn.init.xavier_uniform_(lin.weight)
        if wiring is not None:
            mask = np.concatenate([np.abs(wiring.sensory_adjacency), np.abs(wiring.adjacency)], axis=0).T
            self.register_buffer("mask", torch.as_tensor(mask.astype(np.float64), **fk).to(self.ff1.weight.dtype))
        else:
            self.mask = None
        out = wiring.output_size if wiring is not None else n
        self.proj = nn.Linear(out, proj_size, **fk) if proj_size else None
        self.out_features = proj_size or out
        self.hook_h = HookPoint()
        self.hook_out = HookPoint()

    def params(self) -> CfCParams:
        m = self.mask
        mw = (lambda w: w * m) if m is not None else (lambda w: w)
        return CfCParams(
            backbone_w=tuple(lin.weight for lin in self.backbone),
            backbone_b=tuple(lin.bias for lin in self.backbone),
            ff1_w=mw(self.ff1.weight), ff1_b=self.ff1.bias,
            ff2_w=mw(self.ff2.weight) if self.ff2 is not None else None,
            ff2_b=self.ff2.bias if self.ff2 is not None else None,
            time_a_w=self.time_a.weight if self.time_a is not None else None,
            time_a_b=self.time_a.bias if self.time_a is not None else None,
            time_b_w=self.time_b.weight if self.time_b is not None else None,
            time_b_b=self.time_b.bias if self.time_b is not None else None,
            w_tau=self.w_tau, a=self.a,
        )

    def initial_state(self, batch: int) -> CfCState:
        return CfCState(torch.zeros(batch, self.units, device=self.ff1.weight.device, dtype=self.ff1.weight.dtype))

    def forward(self, x: Tensor, state: CfCState | None = None, timespans: Tensor | None = None) -> tuple[Tensor, CfCState]:
        x = check_sequence(x, self.in_features, "CfC")
        batch, steps, _ = x.shape
        state = self.initial_state(batch) if state is None else CfCState(*state)
        check_state(state.h, batch, self.units, "CfC")
        p = self.params()
        hs = []
        for t in range(steps):
            _, state = cfc_step(x[:, t], state, p, timespan_column(timespans, t, x), self.mode, self.activation)
            hs.append(state.h)
        h_seq = self.hook_h(torch.stack(hs, dim=1))
        y = h_seq[..., : self.wiring.output_size] if self.wiring is not None else h_seq
        if self.proj is not None:
            y = self.proj(y)
        return self.hook_out(y), state

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        w = self.ff1.weight
        return torch.randn(batch, steps, self.in_features, device=w.device, dtype=w.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, units={self.units}, mode={self.mode!r}"
