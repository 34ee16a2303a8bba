"""Time-axis checks shared by the spiking layers (time-first ``(time, batch, ...)`` everywhere)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


class TimeAxisError(ValueError):
    """A spiking layer got a tensor whose time axis is missing or not first."""


def check_time_first(x: Tensor, feature_shape: Sequence[int | None], layer: str, time_steps: int | None = None) -> None:
    """Raise :class:`TimeAxisError` unless ``x`` is ``(time, batch, *feature_shape)``.

    Args:
        x: the input sequence.
        feature_shape: the per-sample feature shape the layer was built for; ``None`` entries match
            any size (e.g. the spatial axes of a convolutional population).
        layer: the layer's name, used in the message.
        time_steps: the number of steps the caller expects, when known; a tensor whose second axis
            equals it while the first does not is reported as batch-first.
    """
    feat = tuple(feature_shape)
    nf = len(feat)

    def matches(shape: tuple[int, ...]) -> bool:
        return len(shape) == nf and all(f is None or f == s for f, s in zip(feat, shape))

    shown = ", ".join("*" if f is None else str(f) for f in feat)
    if x.dim() == nf + 1 and matches(tuple(x.shape[1:])):
        raise TimeAxisError(
            f"{layer} got shape {tuple(x.shape)}, which has no time axis: spiking layers take "
            f"time-first input (time, batch, {shown}). Encode the input over time "
            f"first (neurocircuits.functional.encoding) or add an axis with x.unsqueeze(0)."
        )
    if x.dim() != nf + 2 or not matches(tuple(x.shape[2:])):
        raise TimeAxisError(
            f"{layer} expects time-first input (time, batch, {shown}), got shape "
            f"{tuple(x.shape)}."
        )
    if time_steps is not None and x.shape[0] != time_steps:
        if x.shape[1] == time_steps:
            raise TimeAxisError(
                f"{layer} got shape {tuple(x.shape)}: its second axis equals time_steps={time_steps}, so "
                f"the input looks batch-first (batch, time, ...). neurocircuits is time-first: pass "
                f"x.transpose(0, 1)."
            )
        raise TimeAxisError(
            f"{layer} was configured for time_steps={time_steps} but got {x.shape[0]} steps (shape "
            f"{tuple(x.shape)}); pass time-first input with {time_steps} steps or change time_steps."
        )
