"""E/I sign constraints as a reusable weight parametrisation (Dale's law).

A sign-constrained weight is stored as an unconstrained tensor ``raw`` and used as

    W = sign * f(raw),      f = softplus (default), abs, or relu,

where ``sign`` is fixed: per presynaptic unit (Dale's law: every outgoing synapse of a neuron has
the neuron's sign) or per entry. ``sign == 0`` entries are held at zero, so the same object also
carries a fixed connectivity mask. Use it through ``torch.nn.utils.parametrize``:

    >>> lin = nn.Linear(4, 3)
    >>> constrain_signs(lin, "weight", dale_signs([1, 1, -1, 1], out_features=3))
    >>> bool((lin.weight[:, 2] <= 0).all())
    True

or functionally with :func:`signed_weight`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

_MAGNITUDES = {"softplus": F.softplus, "abs": torch.abs, "relu": F.relu}


def dale_signs(presynaptic_signs: Sequence[int] | torch.Tensor, out_features: int, layout: str = "out_in") -> torch.Tensor:
    """Per-entry sign matrix from one sign per presynaptic unit.

    Args:
        presynaptic_signs: +1 / -1 (or 0 for no output) per input unit.
        out_features: number of postsynaptic units.
        layout: ``"out_in"`` (``nn.Linear.weight``, shape ``[out, in]``) or ``"in_out"``
            (``W[pre, post]``, the CircuitGraph adjacency convention).
    """
    s = torch.as_tensor(presynaptic_signs, dtype=torch.float32).flatten()
    if not torch.isin(s, torch.tensor([-1.0, 0.0, 1.0])).all():
        raise ValueError("presynaptic signs must be +1, -1 or 0.")
    if layout == "out_in":
        return s.unsqueeze(0).expand(out_features, -1).clone()
    if layout == "in_out":
        return s.unsqueeze(1).expand(-1, out_features).clone()
    raise ValueError(f"layout must be 'out_in' or 'in_out', not {layout!r}.")


def signed_weight(raw: torch.Tensor, sign: torch.Tensor, magnitude: str = "softplus") -> torch.Tensor:
    """``sign * f(raw)``: a weight whose entries never leave their sign (0 stays 0)."""
    if raw.shape != sign.shape:
        raise ValueError(f"raw weight shape {tuple(raw.shape)} differs from sign shape {tuple(sign.shape)}.")
    try:
        f = _MAGNITUDES[magnitude]
    except KeyError:
        raise ValueError(f"magnitude must be one of {sorted(_MAGNITUDES)}, not {magnitude!r}.") from None
    return sign.to(raw) * f(raw)


def inverse_magnitude(weight_abs: torch.Tensor, magnitude: str = "softplus") -> torch.Tensor:
    """A ``raw`` value with ``f(raw) == weight_abs`` (for initialising from known magnitudes)."""
    w = weight_abs.clamp_min(1e-6)
    if magnitude == "softplus":
        return torch.where(w > 20, w, torch.log(torch.expm1(w)))
    if magnitude in ("abs", "relu"):
        return w
    raise ValueError(f"magnitude must be one of {sorted(_MAGNITUDES)}, not {magnitude!r}.")


class SignConstraint(nn.Module):
    """Parametrisation ``raw -> sign * f(raw)`` for ``torch.nn.utils.parametrize``.

    The sign tensor is a buffer (saved with the module, moved with ``.to``), never trained.
    """

    def __init__(self, sign: torch.Tensor, magnitude: str = "softplus") -> None:
        super().__init__()
        if magnitude not in _MAGNITUDES:
            raise ValueError(f"magnitude must be one of {sorted(_MAGNITUDES)}, not {magnitude!r}.")
        self.magnitude = magnitude
        self.register_buffer("sign", torch.as_tensor(sign, dtype=torch.float32).clone())

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return signed_weight(raw, self.sign, self.magnitude)

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        """Map an initial weight to ``raw``: magnitudes are kept and signs imposed (an entry whose
        sign disagrees is flipped, so it keeps a useful gradient)."""
        return inverse_magnitude(weight.abs(), self.magnitude)

    def extra_repr(self) -> str:
        n_e = int((self.sign > 0).sum())
        n_i = int((self.sign < 0).sum())
        return f"magnitude={self.magnitude!r}, excitatory={n_e}, inhibitory={n_i}"


def constrain_signs(module: nn.Module, name: str, sign: torch.Tensor, magnitude: str = "softplus") -> nn.Module:
    """Register a :class:`SignConstraint` on ``module.<name>`` (in place); returns the module."""
    weight = getattr(module, name)
    if tuple(weight.shape) != tuple(sign.shape):
        raise ValueError(
            f"{type(module).__name__}.{name} has shape {tuple(weight.shape)} but the sign tensor has "
            f"shape {tuple(sign.shape)}; build it with dale_signs(signs, out_features, layout='out_in')."
        )
    parametrize.register_parametrization(module, name, SignConstraint(sign.to(weight.device), magnitude))
    return module


def remove_sign_constraint(module: nn.Module, name: str) -> nn.Module:
    """Undo :func:`constrain_signs`, keeping the current (signed) weight as a plain parameter."""
    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return module
