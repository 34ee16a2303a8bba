"""Wave-RNN (Keller & Welling, ICLR 2024, "Traveling Waves Encode the Recent Past and Enhance
Sequence Learning") and its identity-initialised baseline iRNN (Le, Jaitly & Hinton 2015).

The wRNN hidden state is ``c`` channels on a 1-D ring of ``n`` positions; its recurrence is a
circular convolution instead of a dense matrix:

    h_t = relu(u * h_{t-1} + V x_t + b),      (u * h)[o, i] = sum_{c', j} u[o, c', j] h[c', i + j - k//2 mod n]

with the kernel ``u`` initialised to a shift by one position (so activity travels around the
ring, one position per step, a travelling wave) and ``V`` writing the input onto the first
position of the ring only (``input_position``), as in the paper's default. The iRNN is
``h_t = relu(W h_{t-1} + V x_t + b)`` with ``W = I`` at initialisation.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..hooks import HookPoint
from ._common import check_sequence, check_state


class WaveState(NamedTuple):
    """Hidden state ``[batch, channels * n]`` (channel-major: unit ``c * n + i``)."""

    h: Tensor


class WaveRNN(nn.Module):
    """Wave-RNN layer.

    Args:
        in_features: input size.
        n: ring length; channels: number of channels (hidden size ``channels * n``).
        out_features: linear read-out size.
        kernel_size: odd circular-convolution width.
        input_position: ``"first"`` (input enters at ring position 0, as in the paper) or ``"all"``.
    """

    def __init__(self, in_features: int, n: int = 32, channels: int = 2, out_features: int = 1,
                 kernel_size: int = 3, input_position: str = "first",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if kernel_size % 2 != 1 or kernel_size > n:
            raise ValueError(f"kernel_size must be odd and <= n, got {kernel_size} (n={n}).")
        if input_position not in ("first", "all"):
            raise ValueError(f"input_position must be 'first' or 'all', got {input_position!r}.")
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.n, self.channels, self.kernel_size = in_features, n, channels, kernel_size
        self.units = n * channels
        u = torch.zeros(channels, channels, kernel_size, **fk)
        for c in range(channels):  # shift by +1: out[i] = h[i - 1]
            u[c, c, kernel_size // 2 - 1] = 1.0
        self.kernel = nn.Parameter(u)
        width = 1 if input_position == "first" else n
        self.input = nn.Linear(in_features, channels * width, **fk)
        self.input_position = input_position
        self.bias = nn.Parameter(torch.zeros(channels, 1, **fk))
        self.readout = nn.Linear(self.units, out_features, **fk)
        self.out_features = out_features
        self.hook_h = HookPoint()

    def initial_state(self, batch: int) -> WaveState:
        w = self.kernel
        return WaveState(torch.zeros(batch, self.units, device=w.device, dtype=w.dtype))

    def recur(self, h: Tensor) -> Tensor:
        """Circular convolution ``u * h`` on ``[batch, channels, n]``."""
        pad = self.kernel_size // 2
        return F.conv1d(F.pad(h, (pad, pad), mode="circular"), self.kernel)

    def forward(self, x: Tensor, state: WaveState | None = None) -> tuple[Tensor, WaveState]:
        x = check_sequence(x, self.in_features, "WaveRNN")
        b = x.shape[0]
        state = self.initial_state(b) if state is None else WaveState(*state)
        check_state(state.h, b, self.units, "WaveRNN")
        drive = self.input(x)  # [b, t, channels * width]
        h = state.h.reshape(b, self.channels, self.n)
        hs = []
        for t in range(x.shape[1]):
            inp = drive[:, t].reshape(b, self.channels, -1)
            if self.input_position == "first":
                inp = F.pad(inp, (0, self.n - 1))
            h = F.relu(self.recur(h) + inp + self.bias)
            hs.append(h.reshape(b, self.units))
        h_seq = self.hook_h(torch.stack(hs, dim=1))
        return self.readout(h_seq), WaveState(h_seq[:, -1])

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        w = self.kernel
        return torch.randn(batch, steps, self.in_features, device=w.device, dtype=w.dtype)


class IRNN(nn.Module):
    """ReLU RNN with identity-initialised recurrence (Le et al. 2015), the wRNN's baseline."""

    def __init__(self, in_features: int, units: int = 64, out_features: int = 1,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.units = in_features, units
        self.recurrent = nn.Parameter(torch.eye(units, **fk))
        self.input = nn.Linear(in_features, units, **fk)
        self.readout = nn.Linear(units, out_features, **fk)
        self.out_features = out_features
        self.hook_h = HookPoint()

    def initial_state(self, batch: int) -> WaveState:
        w = self.recurrent
        return WaveState(torch.zeros(batch, self.units, device=w.device, dtype=w.dtype))

    def forward(self, x: Tensor, state: WaveState | None = None) -> tuple[Tensor, WaveState]:
        x = check_sequence(x, self.in_features, "IRNN")
        state = self.initial_state(x.shape[0]) if state is None else WaveState(*state)
        check_state(state.h, x.shape[0], self.units, "IRNN")
        drive = self.input(x)
        h = state.h
        hs = []
        for t in range(x.shape[1]):
            h = F.relu(h @ self.recurrent.T + drive[:, t])
            hs.append(h)
        h_seq = self.hook_h(torch.stack(hs, dim=1))
        return self.readout(h_seq), WaveState(h)

    def example_input(self, batch: int = 2, steps: int = 5) -> Tensor:
        w = self.recurrent
        return torch.randn(batch, steps, self.in_features, device=w.device, dtype=w.dtype)


def wave_speed(h_seq: Tensor, channels: int, n: int) -> float:
    """Mean ring displacement per step (positions/step) of the hidden activity ``[batch, time, c*n]``,
    from the peak of the circular cross-correlation between consecutive time steps."""
    h = h_seq.reshape(*h_seq.shape[:2], channels, n)
    f = torch.fft.rfft(h, dim=-1)
    xc = torch.fft.irfft(f[:, 1:] * f[:, :-1].conj(), n=n, dim=-1).sum(dim=2)  # [b, t-1, n]
    shift = xc.argmax(dim=-1).to(h.dtype)
    shift = torch.where(shift > n // 2, shift - n, shift)
    active = h[:, 1:].abs().sum(dim=(-1, -2)) > 0
    return float(shift[active].mean()) if active.any() else 0.0
