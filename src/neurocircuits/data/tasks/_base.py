"""The task registry: synthetic tasks with clean/corrupt prompt pairs and a known mechanism.

A :class:`Task` generates two kinds of data from a seed:

- ``make_pairs(n, seed)``: :class:`PromptPairs` for patching/discovery (clean prompt, corrupted
  prompt that removes the information the mechanism needs, answer token, wrong token), read at the
  last position;
- ``training_batch(n, seed)``: token sequences and next-token targets (``IGNORE`` where no loss is
  taken) for training a small model on the task.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch

from ...registry import Registry
from ._pairs import PromptPairs

IGNORE = -100  # target id where no loss is taken (torch.nn.functional.cross_entropy's ignore_index)


class TrainingBatch(NamedTuple):
    """Token sequences (n, seq_len) and next-token targets (n, seq_len), ``IGNORE`` where unused."""

    tokens: torch.Tensor
    targets: torch.Tensor


class Task:
    """Base class of a synthetic task. Subclasses set the class attributes and implement the two generators.

    Attributes:
        name: registry name.
        d_vocab: vocabulary size (token ids are in ``[0, d_vocab)``).
        seq_len: length of every prompt.
        token_names: display string of each token id.
        mechanism: how a small transformer is known to solve the task (the circuit to find).
        model_config: suggested :class:`~neurocircuits.models.transformer.TransformerConfig` fields
            for the shipped model trained on the task (d_vocab and n_ctx are filled in).
    """

    name: str = ""
    d_vocab: int = 0
    seq_len: int = 0
    token_names: list[str]
    mechanism: str = ""
    model_config: dict[str, Any] = {}
    answer_pos: int = -1

    def make_pairs(self, n: int, seed: int = 0) -> PromptPairs:
        raise NotImplementedError

    def training_batch(self, n: int, seed: int = 0) -> TrainingBatch:
        raise NotImplementedError

    def correct(self, logits: torch.Tensor, pairs: PromptPairs) -> torch.Tensor:
        """Per prompt, whether the model solves it: the top token at ``answer_pos`` is the answer.

        ``logits`` are the model's (batch, pos, vocab) outputs on ``pairs.clean``.
        """
        return logits[:, pairs.answer_pos].argmax(-1) == pairs.answer.to(logits.device)

    # -- helpers ----------------------------------------------------------------------------
    def decode(self, tokens: Sequence[int] | torch.Tensor) -> str:
        """Human-readable text of a token sequence (token names joined by spaces)."""
        ids = tokens.tolist() if isinstance(tokens, torch.Tensor) else list(tokens)
        return " ".join(self.token_names[int(t)] for t in ids)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "d_vocab": self.d_vocab, "seq_len": self.seq_len, "mechanism": self.mechanism}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, d_vocab={self.d_vocab}, seq_len={self.seq_len})"


def _check_n(n: int) -> None:
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of examples, got {n!r}.")


def _as_pairs(clean: np.ndarray, corrupt: np.ndarray, answer: np.ndarray, wrong: np.ndarray) -> PromptPairs:
    t = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.long)  # noqa: E731
    return PromptPairs(t(clean), t(corrupt), t(answer), t(wrong))


def _pairs_from_samples(sample: Callable[[np.random.Generator], tuple[Any, Any, Any, Any]], n: int,
                        seed: int) -> PromptPairs:
    """Stack ``n`` draws of ``sample(rng) -> (clean, corrupt, answer, wrong)`` into :class:`PromptPairs`."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    clean, corrupt, answer, wrong = zip(*(sample(rng) for _ in range(n)))
    return _as_pairs(np.stack(clean), np.stack(corrupt), np.array(answer), np.array(wrong))


def _empty_batch(n: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero tokens and all-``IGNORE`` targets of shape (n, seq_len), to be filled by a task's generator."""
    _check_n(n)
    return np.zeros((n, seq_len), dtype=np.int64), np.full((n, seq_len), IGNORE, dtype=np.int64)


def _as_batch(tokens: np.ndarray, targets: np.ndarray) -> TrainingBatch:
    return TrainingBatch(torch.as_tensor(tokens, dtype=torch.long), torch.as_tensor(targets, dtype=torch.long))


TASKS: Registry[Callable[..., Task]] = Registry("task")


def register_task(name: str, **meta: Any) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Register a task factory (usually a :class:`Task` subclass) under ``name``."""
    return TASKS.register(name, **meta)


def get_task(name: str, **kwargs: Any) -> Task:
    """Build the registered task ``name``; unknown names raise with the list of valid tasks."""
    return TASKS.get(name)(**kwargs)


def list_tasks() -> list[str]:
    """Names of all registered tasks."""
    return TASKS.names()
