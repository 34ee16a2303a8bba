"""Shared helpers for cell and unit modules: input-shape checks and sequence handling."""

from __future__ import annotations

import torch
from torch import Tensor


class InputShapeError(ValueError):
    """An input tensor has the wrong shape; the message names the expected shape and the fix."""


def check_sequence(x: Tensor, in_features: int, name: str) -> Tensor:
    """Validate a ``[batch, time, in_features]`` sequence (a ``[time, in_features]`` one is batched)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}.")
    if x.dim() == 2 and x.shape[-1] == in_features:
        x = x.unsqueeze(0)
    if x.dim() != 3 or x.shape[-1] != in_features:
        raise InputShapeError(
            f"{name} expects input of shape [batch, time, {in_features}] (or [time, {in_features}]), "
            f"got {tuple(x.shape)}; reshape the input or build the model with in_features={x.shape[-1]}."
        )
    return x


def check_features(x: Tensor, in_features: int, name: str) -> None:
    """Validate a ``[..., in_features]`` tensor."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}.")
    if x.dim() < 1 or x.shape[-1] != in_features:
        raise InputShapeError(
            f"{name} expects input of shape [..., {in_features}], got {tuple(x.shape)}; "
            f"reshape the input or build the layer with in_features={x.shape[-1] if x.dim() else 1}."
        )


def check_state(h: Tensor, batch: int, units: int, name: str) -> None:
    if h.shape != (batch, units):
        raise InputShapeError(
            f"{name} state must have shape [batch={batch}, units={units}], got {tuple(h.shape)}; "
            f"pass state=None to start from the initial state."
        )


def timespan_column(timespans: Tensor | None, t: int, like: Tensor) -> Tensor | float:
    """Per-sample elapsed time of step ``t`` (``[batch]``), or 1.0 when none was given."""
    if timespans is None:
        return 1.0
    ts = timespans[:, t]
    if ts.dim() == 2:
        ts = ts.squeeze(-1)
    return ts.to(dtype=like.dtype, device=like.device)


def factory(device: torch.device | str | None, dtype: torch.dtype | None) -> dict:
    return {"device": device, "dtype": dtype}
