"""Clean / corrupt prompt pairs: the unit of data for patching and circuit discovery."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class PromptPairError(ValueError):
    """Prompt pairs are malformed; the message names the offending field and index."""


@dataclass(frozen=True)
class PairBatch:
    """Clean and corrupt inputs with an answer and a wrong answer id each; the shared container.

    Subclasses validate their fields in ``__post_init__``; slicing and moving keep the subclass.
    """

    clean: torch.Tensor
    corrupt: torch.Tensor
    answer: torch.Tensor
    wrong: torch.Tensor
    answer_pos: int = -1

    def __len__(self) -> int:
        return int(self.clean.shape[0])

    def __getitem__(self, idx: slice | torch.Tensor | list[int]) -> PairBatch:
        return type(self)(self.clean[idx], self.corrupt[idx], self.answer[idx], self.wrong[idx], self.answer_pos)

    def to(self, device: torch.device | str) -> PairBatch:
        return type(self)(self.clean.to(device), self.corrupt.to(device), self.answer.to(device),
                          self.wrong.to(device), self.answer_pos)


@dataclass(frozen=True)
class PromptPairs(PairBatch):
    """A batch of clean/corrupt prompts with the answer and a wrong answer token for each.

    Shapes: ``clean``/``corrupt`` (batch, pos) token ids; ``answer``/``wrong`` (batch,) token ids.
    The metric is read at ``answer_pos`` (default: the last position).
    """

    def __post_init__(self) -> None:
        validate_pairs(self.clean, self.corrupt, self.answer, self.wrong)


def validate_pairs(clean: torch.Tensor, corrupt: torch.Tensor, answer: torch.Tensor, wrong: torch.Tensor) -> None:
    if clean.ndim != 2 or corrupt.ndim != 2:
        raise PromptPairError(
            f"clean and corrupt must be (batch, pos) token tensors, got shapes {tuple(clean.shape)} and {tuple(corrupt.shape)}."
        )
    if clean.shape[0] != corrupt.shape[0]:
        raise PromptPairError(f"{clean.shape[0]} clean prompts but {corrupt.shape[0]} corrupt prompts.")
    if clean.shape[1] != corrupt.shape[1]:
        raise PromptPairError(
            f"clean prompts have length {clean.shape[1]} but corrupt prompts {corrupt.shape[1]}; patching needs "
            "aligned positions, so pad or regroup the pairs by length."
        )
    for name, t in (("answer", answer), ("wrong", wrong)):
        if t.shape != (clean.shape[0],):
            raise PromptPairError(f"{name} must have shape ({clean.shape[0]},), got {tuple(t.shape)}.")


def pairs_from_lists(
    clean: list[list[int]], corrupt: list[list[int]], answer: list[int], wrong: list[int]
) -> PromptPairs:
    """Build PromptPairs from Python lists, naming the first pair whose lengths differ."""
    for i, (c, k) in enumerate(zip(clean, corrupt)):
        if len(c) != len(k):
            raise PromptPairError(
                f"pair {i}: clean has {len(c)} tokens but corrupt has {len(k)}; every clean/corrupt pair must "
                "have the same length."
            )
    lengths = {len(c) for c in clean}
    if len(lengths) > 1:
        first = next(i for i, c in enumerate(clean) if len(c) != len(clean[0]))
        raise PromptPairError(
            f"pair {first} has {len(clean[first])} tokens but pair 0 has {len(clean[0])}; group pairs of equal "
            "length into separate batches."
        )
    as_long = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return PromptPairs(as_long(clean), as_long(corrupt), as_long(answer), as_long(wrong))
