"""Spiking networks trained with surrogate gradients (Neftci, Mostafa & Zenke 2019).

``spiking_mlp``: encoder -> [Linear -> LIF]* -> Linear -> LIF (or LI read-out), time-first.
``spiking_conv``: encoder -> [Conv -> BN -> LIF]* -> flatten -> Linear -> LIF.

Each layer l computes, per step t, ``I^l_t = W^l s^{l-1}_t + b^l`` and the neuron update
``h_t = a v_{t-1} + I_t``, ``s_t = H(h_t - theta)``, ``v_t = h_t - theta s_t`` (soft reset), with
``s^0_t`` the encoded input. Class scores are decoded from the output sequence (spike count by
default). The energy estimate follows STEP (Shen et al. 2024): synaptic operations
``SOP_l = r_{l-1} T MAC_l`` at ``E_AC = 0.9 pJ`` for spiking inputs, ``T MAC_l`` at
``E_MAC = 4.6 pJ`` for analogue inputs (e.g. the direct-coded first layer), against ``MAC`` for the
equivalent ANN (Horowitz 2014, 45 nm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ..functional.encoding import DECODERS, ENCODINGS, decode, encode
from ..layers.hooks import HookPoint
from ..layers.spiking import SpikeMaxPool2d, SpikingConv2d, SpikingLinear, TimeAxisError, make_neuron, seq_apply
from ._registry import register_model

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


class SpikingNetState(NamedTuple):
    """One neuron state per spiking layer, in order."""

    layers: tuple[Any, ...]


class _SpikingNet(nn.Module):
    """Shared encode -> layers -> decode plumbing."""

    time_steps: int
    encoding: str
    decoder: str

    def _encode(self, x: Tensor, static_dims: int) -> Tensor:
        """Static ``(batch, *in)`` inputs are encoded; ``(time, batch, *in)`` are used as given."""
        if x.dim() == static_dims + 1:
            g = None
            return encode(x, self.encoding, self.time_steps, g)
        if x.dim() == static_dims + 2:
            if x.shape[0] != self.time_steps and x.shape[1] == self.time_steps:
                raise TimeAxisError(
                    f"{type(self).__name__} got shape {tuple(x.shape)}: the second axis equals time_steps="
                    f"{self.time_steps}, so the input looks batch-first. Pass x.transpose(0, 1) (time-first)."
                )
            return x
        raise TimeAxisError(
            f"{type(self).__name__} expects (batch, *features) or time-first (time, batch, *features), got "
            f"shape {tuple(x.shape)}."
        )

    def scores(self, out_seq: Tensor) -> Tensor:
        """Class scores ``(batch, classes)`` from the output sequence with the configured decoder."""
        return decode(out_seq, self.decoder)

    def initial_state(self, batch: int) -> None:
        """Spiking layers start from zero membrane; ``None`` requests that."""
        return None


class SpikingMLP(_SpikingNet):
    """Multi-layer spiking perceptron (see module docstring)."""

    def __init__(self, in_features: int = 64, hidden: Sequence[int] = (128,), out_features: int = 10, neuron: str = "lif",
                 encoding: str = "direct", time_steps: int = 25, decoder: str = "count", readout: str = "spikes",
                 neuron_kw: dict | None = None, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 **kw: Any) -> None:
        super().__init__()
        ENCODINGS.get(encoding), DECODERS.get(decoder)
        if time_steps < 1:
            raise ValueError(f"time_steps must be >= 1, got {time_steps}.")
        if readout not in ("spikes", "membrane"):
            raise ValueError(f"readout must be 'spikes' or 'membrane', got {readout!r}.")
        nkw = {**(neuron_kw or {}), **kw}
        self.in_features, self.time_steps, self.encoding, self.decoder = in_features, time_steps, encoding, decoder
        sizes = [in_features, *hidden]
        self.layers = nn.ModuleList(SpikingLinear(a, b, neuron, **nkw) for a, b in zip(sizes[:-1], sizes[1:]))
        if readout == "spikes":
            self.out = SpikingLinear(sizes[-1], out_features, neuron, **nkw)
        else:
            self.out = nn.ModuleDict({"fc": nn.Linear(sizes[-1], out_features), "li": make_neuron("li", out_features)})
        self.readout = readout
        self.hook_input = HookPoint()
        self.to(device=device, dtype=dtype)

    def example_input(self, batch: int) -> Tensor:
        """A valid static input ``(batch, in_features)`` in [0, 1] (zoo smoke-test protocol)."""
        p = next(self.parameters())
        return torch.rand(batch, self.in_features, dtype=p.dtype, device=p.device)

    def forward(self, x: Tensor, state: SpikingNetState | None = None) -> tuple[Tensor, SpikingNetState]:
        """``x``: ``(batch, in)`` (encoded here) or time-first ``(time, batch, in)``.

        Returns:
            output sequence ``(time, batch, out)`` (spikes, or membrane for ``readout="membrane"``)
            and the per-layer states.
        """
        s = self.hook_input(self._encode(x, 1))
        prev = state.layers if state is not None else (None,) * (len(self.layers) + 1)
        new = []
        for layer, st in zip(self.layers, prev):
            s, ns = layer(s, st)
            new.append(ns)
        if self.readout == "spikes":
            s, ns = self.out(s, prev[-1])
        else:
            s, ns = self.out["li"](seq_apply(self.out["fc"], s), prev[-1])
        new.append(ns)
        return s, SpikingNetState(tuple(new))


class SpikingConvNet(_SpikingNet):
    """Small convolutional SNN: ``channels`` conv blocks (2x2 max pooling after each), then a spiking linear read-out."""

    def __init__(self, in_channels: int = 1, image_size: int = 8, channels: Sequence[int] = (16, 32), out_features: int = 10,
                 neuron: str = "lif", encoding: str = "direct", time_steps: int = 8, decoder: str = "count",
                 neuron_kw: dict | None = None, device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 channels_last: bool = True, **kw: Any) -> None:
        super().__init__()
        ENCODINGS.get(encoding), DECODERS.get(decoder)
        nkw = {**(neuron_kw or {}), **kw}
        self.time_steps, self.encoding, self.decoder = time_steps, encoding, decoder
        self.in_channels, self.image_size = in_channels, image_size
        chans = [in_channels, *channels]
        # channels_last: CPU maps in NHWC memory (see SpikingConv2d); same values up to float rounding
        self.blocks = nn.ModuleList(SpikingConv2d(a, b, neuron=neuron, channels_last=channels_last, **nkw)
                                    for a, b in zip(chans[:-1], chans[1:]))
        self.pool = SpikeMaxPool2d()  # the pooling the blocks apply (block.forward_pool); keeps spikes binary
        side = image_size // (2 ** len(channels))
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for {len(channels)} pooling stages.")
        self.flat_features = chans[-1] * side * side
        self.out = SpikingLinear(self.flat_features, out_features, neuron, **nkw)
        self.hook_input = HookPoint()
        self.to(device=device, dtype=dtype)

    def example_input(self, batch: int) -> Tensor:
        """A valid static image batch ``(batch, C, H, W)`` in [0, 1] (zoo smoke-test protocol)."""
        p = next(self.parameters())
        return torch.rand(batch, self.in_channels, self.image_size, self.image_size, dtype=p.dtype, device=p.device)

    def forward(self, x: Tensor, state: SpikingNetState | None = None) -> tuple[Tensor, SpikingNetState]:
        """``x``: ``(batch, C, H, W)`` (encoded here) or ``(time, batch, C, H, W)``."""
        s = self.hook_input(self._encode(x, 3))
        if tuple(s.shape[2:]) != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(
                f"SpikingConvNet was built for images ({self.in_channels}, {self.image_size}, {self.image_size}), got "
                f"{tuple(s.shape[2:])}; resize the input or pass image_size/in_channels to create_model."
            )
        prev = state.layers if state is not None else (None,) * (len(self.blocks) + 1)
        new = []
        for block, st in zip(self.blocks, prev):
            s, ns = block.forward_pool(s, st)  # conv -> BN -> neuron -> 2x2 max pool (fused for LIF)
            new.append(ns)
        s, ns = self._readout(s, prev[-1])
        new.append(ns)
        return s, SpikingNetState(tuple(new))

    def _readout(self, s: Tensor, state: Any) -> tuple[Tensor, Any]:
        """``self.out`` on the flattened maps. Maps with channels-last steps are flattened in their
        memory order (a view) and the read-out weights' columns permuted to match: the same sums as
        ``self.out(s.flatten(2))`` without copying the maps (and their gradient) to NCHW order."""
        from ..functional._lif_pool import is_channels_last_steps
        from ..layers.spiking._neurons import _hooked

        # hooks on the read-out (energy_estimate counts its inputs) see the module called as usual
        if s.dim() != 5 or not is_channels_last_steps(s) or _hooked(self.out) or _hooked(self.out.fc):
            return self.out(s.flatten(2), state)
        T, B, C, H, W = s.shape
        flat = s.permute(0, 1, 3, 4, 2).reshape(T * B, H * W * C)  # a view of the NHWC memory
        fc = self.out.fc
        w = fc.weight.view(-1, C, H, W).permute(0, 2, 3, 1).reshape(fc.out_features, H * W * C)
        cur = torch.nn.functional.linear(flat, w, fc.bias).view(T, B, fc.out_features)
        return self.out.neuron(cur, state)


@register_model("spiking_mlp", family="spiking", paper="Neftci, Mostafa & Zenke 2019 (surrogate gradients)")
def spiking_mlp(**cfg: Any) -> SpikingMLP:
    return SpikingMLP(**cfg)


@register_model("spiking_conv", family="spiking", paper="Neftci, Mostafa & Zenke 2019 (surrogate gradients)")
def spiking_conv(**cfg: Any) -> SpikingConvNet:
    return SpikingConvNet(**cfg)


# ----------------------------------------------------------------------------------------------
# Energy (STEP's analytic SOP/MAC model)


@dataclass(frozen=True)
class LayerEnergy:
    name: str
    macs_per_step: int
    input_rate: float  # mean spike count per input per step (the firing rate for binary spikes; 1.0 for analogue)
    spiking_input: bool
    ops: float  # SOPs (spiking input) or MACs (analogue input) over all steps, per sample
    energy_pj: float


@dataclass(frozen=True)
class EnergyReport:
    layers: tuple[LayerEnergy, ...]
    snn_energy_pj: float
    ann_energy_pj: float
    time_steps: int

    @property
    def ratio(self) -> float:
        """ANN energy / SNN energy (> 1: the SNN is cheaper)."""
        return self.ann_energy_pj / max(self.snn_energy_pj, 1e-30)


def _macs(module: nn.Module, inp: Tensor, out: Tensor, other: Tensor | None = None) -> int:
    if other is not None:  # batched matmul a (lead, ..., m, k) @ b (lead, ..., k, n), per leading element
        return int(inp[0].numel() * other.shape[-1])
    if isinstance(module, nn.Linear):  # per leading element: all tokens of one (step, sample)
        return int(inp[0].numel() * module.out_features)
    if isinstance(module, nn.Conv2d):
        k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
        return int(k * out[0].numel())
    raise TypeError(type(module))


@torch.no_grad()
def energy_estimate(model: nn.Module, x: Tensor, time_steps: int | None = None) -> EnergyReport:
    """Per-sample inference energy of ``model`` on ``x`` from measured spike rates (STEP's model).

    Every ``nn.Linear``/``nn.Conv2d``/``SpikeMatmul`` inside ``model`` is one synaptic layer. Its
    per-step MAC count is counted from shapes; if its input is spikes (non-negative integers: binary
    spikes, multi-bit GIF levels, residual spike sums), it costs ``mean(input) * T * MAC`` synaptic
    operations (one addition per spike unit) at ``E_AC``, else ``T * MAC`` MACs at ``E_MAC``. The ANN
    reference costs ``MAC`` at ``E_MAC`` once per layer.
    """
    T = time_steps if time_steps is not None else int(getattr(model, "time_steps"))
    records: list[tuple[str, int, float, bool, int]] = []

    def make_hook(name: str):
        def hook(mod: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> None:
            inp = args[0]
            n_samples = inp.shape[0]
            spikes = bool(((inp >= 0) & (inp == torch.round(inp))).all())
            rate = float(inp.float().mean()) if spikes else 1.0
            other = args[1] if len(args) > 1 else None
            records.append((name, _macs(mod, inp, out, other), rate, spikes, n_samples))

        return hook

    from ..layers.spiking import SpikeMatmul

    kinds = (nn.Linear, nn.Conv2d, SpikeMatmul)
    handles = [m.register_forward_hook(make_hook(n)) for n, m in model.named_modules() if isinstance(m, kinds)]
    was_training = model.training
    try:
        model.eval()
        model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    layers = []
    for name, macs, rate, binary, _ in records:
        ops = rate * T * macs if binary else T * macs
        layers.append(LayerEnergy(name, macs, rate, binary, ops, ops * (E_AC_PJ if binary else E_MAC_PJ)))
    return EnergyReport(tuple(layers), sum(l.energy_pj for l in layers), sum(l.macs_per_step for l in layers) * E_MAC_PJ, T)
