"""Neural Turing Machine of the zoo (Graves, Wayne & Danihelka 2014, arXiv:1410.5401) and the copy
task it is trained on.

The machine itself lives in :mod:`neurocircuits.layers.memories` (``NeuralTuringMachine``; content
addressing ``softmax(beta cos(k, M_i))``, interpolation, circular shift, sharpening; erase/add
writes). Copy task: ``L`` random ``n_bits``-bit vectors, then a delimiter on an extra channel, then
``L`` blank steps during which the target is the input sequence.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..layers.memories import NeuralTuringMachine, NTMConfig
from ._registry import register_model

__all__ = ["copy_task_batch", "copy_bit_errors"]


def copy_task_batch(batch: int, length: int, n_bits: int = 6, generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """``(inputs (B, 2L + 1, n_bits + 1), targets (B, L, n_bits))`` for the copy task."""
    if length < 1 or n_bits < 1:
        raise ValueError(f"length and n_bits must be >= 1, got {length} and {n_bits}.")
    seq = (torch.rand(batch, length, n_bits, generator=generator) < 0.5).to(dtype)
    x = torch.zeros(batch, 2 * length + 1, n_bits + 1, dtype=dtype)
    x[:, :length, :n_bits] = seq
    x[:, length, n_bits] = 1.0
    return x, seq


def copy_bit_errors(logits: Tensor, targets: Tensor) -> Tensor:
    """Wrong bits per sequence, reading the last ``L`` output steps: ``(B,)``."""
    L = targets.shape[1]
    return ((logits[:, -L:] > 0).to(targets.dtype) != targets).to(torch.float32).sum((1, 2))


@register_model("ntm", family="memories", paper="Graves, Wayne & Danihelka 2014, Neural Turing Machines (arXiv:1410.5401)")
def ntm(n_bits: int = 6, controller_size: int = 100, memory_slots: int = 32, memory_width: int = 20,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> NeuralTuringMachine:
    """NTM sized for the ``n_bits`` copy task (one read head, one write head)."""
    cfg = NTMConfig(n_inputs=n_bits + 1, n_outputs=n_bits, controller_size=controller_size,
                    memory_slots=memory_slots, memory_width=memory_width)
    return NeuralTuringMachine(cfg, device=device, dtype=dtype)
