"""Shared checks for binary (+-1) memories."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["NonBinaryPatternError", "check_binary", "check_patterns"]


class NonBinaryPatternError(ValueError):
    """A binary memory was given patterns with entries other than -1 and +1."""


def check_binary(x: Tensor, what: str = "patterns") -> Tensor:
    """Return ``x`` as float if every entry is -1 or +1, else raise :class:`NonBinaryPatternError`.

    The message says how many entries are wrong and how to fix them (``torch.sign`` or
    ``2 * x - 1`` for 0/1 data).
    """
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    bad = ~((x == 1) | (x == -1))
    if bool(bad.any()):
        n_bad = int(bad.sum())
        example = x[bad].flatten()[0].item()
        hint = (
            " They look like 0/1 bits: pass 2 * x - 1."
            if bool(((x == 0) | (x == 1)).all())
            else " Binarise them first, e.g. torch.sign(x) (and map zeros to +1)."
        )
        raise NonBinaryPatternError(
            f"{what} must contain only -1 and +1 for a binary memory, but {n_bad} of {x.numel()} "
            f"entries are not (e.g. {example!r}).{hint}"
        )
    return x.to(torch.get_default_dtype()) if not x.is_floating_point() else x


def check_patterns(patterns: Tensor, n_units: int | None = None, what: str = "patterns") -> Tensor:
    """Check shape ``(n_patterns, n_units)`` and binary entries."""
    if patterns.dim() != 2:
        raise ValueError(f"{what} must have shape (n_patterns, n_units), got {tuple(patterns.shape)}.")
    if n_units is not None and patterns.shape[1] != n_units:
        raise ValueError(f"{what} have {patterns.shape[1]} units but the memory has {n_units}.")
    return check_binary(patterns, what)
