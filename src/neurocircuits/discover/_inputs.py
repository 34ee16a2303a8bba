"""Clean/corrupt input pairs of any shape, for models that do not read token ids."""

from __future__ import annotations

from dataclasses import dataclass

from ..data.tasks._pairs import PairBatch
from ._index import DiscoveryError


@dataclass(frozen=True)
class InputPairs(PairBatch):
    """Clean and corrupt inputs of any shape (batch, ...) with answer / wrong class ids (batch,).

    :class:`~neurocircuits.data.tasks.PromptPairs` is the token-id version for language models;
    discovery accepts either. The metric is read at ``answer_pos`` when the model output has a
    position axis (batch, pos, classes), otherwise on the (batch, classes) output directly.

    Example:
        >>> pairs = InputPairs(clean=x, corrupt=x_flipped, answer=y, wrong=1 - y)
    """

    def __post_init__(self) -> None:
        if self.clean.ndim < 1 or tuple(self.clean.shape) != tuple(self.corrupt.shape):
            raise DiscoveryError(
                f"clean inputs have shape {tuple(self.clean.shape)} but corrupt inputs {tuple(self.corrupt.shape)}; "
                "every clean input needs a corrupt input of the same shape."
            )
        n = self.clean.shape[0]
        for name in ("answer", "wrong"):
            t = getattr(self, name)
            if tuple(t.shape) != (n,):
                raise DiscoveryError(f"{name} must have shape ({n},) (one class id per input), got {tuple(t.shape)}.")
