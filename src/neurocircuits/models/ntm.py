"""Neural Turing Machine of the zoo (Graves, Wayne & Danihelka 2014, arXiv:1410.5401) and the copy
task it is trained on.

The machine itself lives in :mod:`neurocircuits.layers.memories` (``NeuralTuringMachine``; content
addressing ``softmax(beta cos(k, M_i))``, interpolation, circular shift, sharpening; erase/add
writes). Copy task: ``L`` random ``n_bits``-bit vectors, then a delimiter on an extra channel, then
``L`` blank steps during which the target is the input sequence.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..layers.memories import NeuralTuringMachine, NTMConfig
from ._registry import register_model

__all__ = ["copy_task_batch", "copy_bit_errors", "train_copy"]


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


def train_copy(net: NeuralTuringMachine, steps: int, *, batch: int = 64, lengths: tuple[int, int] = (1, 10),
               lr: float = 1e-3, clip: float = 10.0, seed: int = 0, progress: bool = False) -> list[float]:
    """Train ``net`` on the copy task with Adam and a cosine learning-rate decay to zero.

    Each step draws one length uniformly from ``lengths`` (inclusive) and a batch of sequences;
    the loss is the bit-wise cross-entropy over the ``L`` recall steps.

    Returns:
        The training loss of every step.
    """
    lo, hi = lengths
    n_bits = net.cfg.n_outputs
    if not 1 <= lo <= hi or net.cfg.n_inputs != n_bits + 1:
        raise ValueError(f"need 1 <= lengths[0] <= lengths[1] and an NTM with n_inputs = n_outputs + 1, "
                         f"got lengths={lengths}, n_inputs={net.cfg.n_inputs}, n_outputs={n_bits}.")
    p = next(net.parameters())
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps)))
    g = torch.Generator().manual_seed(seed)
    losses = []
    it = range(steps)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="NTM copy")
    for _ in it:
        L = int(torch.randint(lo, hi + 1, (1,), generator=g))
        x, y = copy_task_batch(batch, L, n_bits, generator=g, dtype=p.dtype)
        out, _ = net(x.to(p.device))
        loss = F.binary_cross_entropy_with_logits(out[:, L + 1 :], y.to(p.device))
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"NTM copy loss became {value} at step {len(losses)}; "
                                     f"lower lr (now {lr}).")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        opt.step()
        sched.step()
        losses.append(value)
    return losses


@register_model("ntm", family="memories", paper="Graves, Wayne & Danihelka 2014, Neural Turing Machines (arXiv:1410.5401)")
def ntm(n_bits: int = 6, controller_size: int = 100, memory_slots: int = 32, memory_width: int = 20,
        controller: str = "feedforward", device: torch.device | str | None = None,
        dtype: torch.dtype | None = None) -> NeuralTuringMachine:
    """NTM sized for the ``n_bits`` copy task (one read head, one write head).

    The default feedforward controller is the one whose copy generalises from lengths 1-10 to 20
    (``controller="lstm"`` gives the recurrent controller; see :mod:`neurocircuits.layers.memories`).
    """
    cfg = NTMConfig(n_inputs=n_bits + 1, n_outputs=n_bits, controller_size=controller_size,
                    memory_slots=memory_slots, memory_width=memory_width, controller=controller)
    return NeuralTuringMachine(cfg, device=device, dtype=dtype)
