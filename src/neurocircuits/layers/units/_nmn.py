"""Neural module networks with learned module internals and learned module selection.

Papers: Andreas, Rohrbach, Darrell & Klein 2016, "Neural Module Networks"; structure learning of
the modules' internals as soft combinations of elementary operations in the spirit of Pahuja,
Fu & Fosler-Lussier 2019 ("Structure learning for neural module networks") and the arithmetic
module library of NMNs for reasoning over text (Gupta et al. 2020).

A program is a sequence of operation tokens ``o_1 .. o_S`` and numbers ``n_0 .. n_S``; it is
evaluated left to right, ``a_0 = n_0``, ``a_s = f_{o_s}(a_{s-1}, n_s)``. With hand-designed
modules ``f_o`` is the true operation. Here both parts are learned:

    module internals:   m_k(x, y) = sum_j softmax(alpha_k)_j  p_j(x, y)     p_j in PRIMITIVES
    module selection:   pi_s = softmax(E[o_s])  over the K modules
    a_s = sum_k pi_sk m_k(a_{s-1}, n_s)

:meth:`NMNArithmetic.discretise` returns the argmax primitive of every module and the argmax
module of every token, i.e. the hand-readable program semantics the model has found.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ...registry import Registry

PRIMITIVES: Registry[Callable[[Tensor, Tensor], Tensor]] = Registry("arithmetic primitive")
PRIMITIVES.add("add", lambda x, y: x + y)
PRIMITIVES.add("sub", lambda x, y: x - y)
PRIMITIVES.add("mul", lambda x, y: x * y)
PRIMITIVES.add("max", torch.maximum)
PRIMITIVES.add("min", torch.minimum)
PRIMITIVES.add("first", lambda x, y: x)
PRIMITIVES.add("second", lambda x, y: y)


class NMNArithmetic(nn.Module):
    """Evaluate arithmetic programs with learned modules and learned token-to-module assignment.

    Args:
        n_op_tokens: distinct operation tokens in the programs; n_modules: modules in the library;
        primitives: names in :data:`PRIMITIVES` that module internals mix.

    ``forward(ops [batch, steps] int, numbers [batch, steps + 1] float) -> [batch]``.
    """

    def __init__(self, n_op_tokens: int = 4, n_modules: int = 4,
                 primitives: tuple[str, ...] = ("add", "sub", "mul", "max", "min", "first", "second"),
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(n_op_tokens, n_modules, len(primitives)) < 1:
            raise ValueError("n_op_tokens, n_modules and the primitive list must be non-empty.")
        fk = {"device": device, "dtype": dtype}
        self.primitive_names = tuple(primitives)
        self._prims = [PRIMITIVES.get(p) for p in primitives]
        self.n_op_tokens = n_op_tokens
        self.alpha = nn.Parameter(torch.randn(n_modules, len(primitives), **fk) * 0.1)   # module internals
        self.select = nn.Parameter(torch.randn(n_op_tokens, n_modules, **fk) * 0.1)      # token -> module

    def _check(self, ops: Tensor, numbers: Tensor) -> None:
        if ops.dim() != 2 or ops.is_floating_point():
            raise ValueError(f"ops must be integer operation tokens [batch, steps], got {tuple(ops.shape)} ({ops.dtype}).")
        if numbers.dim() != 2 or numbers.shape != (ops.shape[0], ops.shape[1] + 1):
            raise ValueError(f"numbers must have shape [batch, steps + 1] = {[ops.shape[0], ops.shape[1] + 1]}, got "
                             f"{list(numbers.shape)}; a program with S operations reads S + 1 numbers.")
        if ops.numel() and (ops.min() < 0 or ops.max() >= self.n_op_tokens):
            raise ValueError(f"operation tokens must be in [0, {self.n_op_tokens}); build with more n_op_tokens.")

    def forward(self, ops: Tensor, numbers: Tensor, hard: bool = False) -> Tensor:
        self._check(ops, numbers)
        mix = self.alpha.softmax(-1)                                       # [K, P]
        sel = self.select.softmax(-1)                                      # [O, K]
        if hard:
            mix = torch.nn.functional.one_hot(mix.argmax(-1), mix.shape[-1]).to(mix.dtype)
            sel = torch.nn.functional.one_hot(sel.argmax(-1), sel.shape[-1]).to(sel.dtype)
        acc = numbers[:, 0]
        for s in range(ops.shape[1]):
            prims = torch.stack([p(acc, numbers[:, s + 1]) for p in self._prims], -1)   # [B, P]
            modules = prims @ mix.T                                                      # [B, K]
            acc = (modules * sel[ops[:, s]]).sum(-1)
        return acc

    def discretise(self) -> dict[str, list]:
        """``{"modules": primitive name per module, "tokens": module index per operation token}``."""
        return {"modules": [self.primitive_names[i] for i in self.alpha.argmax(-1).tolist()],
                "tokens": self.select.argmax(-1).tolist()}

    def example_input(self, batch: int = 2) -> tuple[Tensor, Tensor]:
        ops = torch.randint(0, self.n_op_tokens, (batch, 2), device=self.alpha.device)
        return ops, torch.rand(batch, 3, device=self.alpha.device, dtype=self.alpha.dtype)

    def bad_example_input(self, batch: int = 2) -> tuple[Tensor, Tensor]:
        ops, numbers = self.example_input(batch)
        return ops, numbers[:, :2]
