"""Induction: complete a repeated segment of random tokens ([A][B] ... [A] -> [B]).

Olsson et al. 2022, "In-context Learning and Induction Heads". A sequence of random tokens contains a
segment ``S`` (random length, random offset) that is later repeated; the prompt stops inside the
repeat after ``k`` tokens, so the answer is ``S[k]``, the token that followed the earlier occurrence
of the last token. Known mechanism in a 2-layer attention-only transformer: a previous-token head in
layer 0 writes "my previous token is X" at every position; an induction head in layer 1 reads it
through its keys (K-composition), attends from the last token to the position after its earlier
occurrence and copies that token (OV circuit) to the logits.

The corrupted prompt replaces the first occurrence of ``S`` by fresh random tokens, so the last token
has no earlier occurrence and no induction is possible. ``wrong`` is a random token absent from the
clean prompt.
"""

from __future__ import annotations

import numpy as np

from ._base import Task, TrainingBatch, _as_batch, _empty_batch, _pairs_from_samples, register_task
from ._pairs import PromptPairs

BOS = 0


@register_task("induction", mechanism="previous-token head (L0) -> induction head (L1)")
class InductionTask(Task):
    """Repeated random segments with random lengths and offsets.

    Args:
        d_vocab: vocabulary size including the BOS token 0.
        seq_len: prompt length (BOS included).
        min_segment, max_segment: range of the repeated segment's length (inclusive).
    """

    name = "induction"
    mechanism = (
        "A layer-0 previous-token head copies each token's predecessor into its residual stream; a layer-1 "
        "induction head uses it in its keys (K-composition), attends from the last token to the token after "
        "its earlier occurrence, and copies that token to the logits."
    )

    def __init__(self, d_vocab: int = 32, seq_len: int = 20, min_segment: int = 2, max_segment: int = 6) -> None:
        if d_vocab < 2 * max_segment + 4:
            raise ValueError(f"d_vocab={d_vocab} is too small for segments of up to {max_segment} distinct tokens plus filler.")
        if not 2 <= min_segment <= max_segment:
            raise ValueError(f"need 2 <= min_segment <= max_segment, got {min_segment}, {max_segment}.")
        if seq_len < 2 * max_segment + 1:
            raise ValueError(f"seq_len={seq_len} must be at least 2 * max_segment + 1 = {2 * max_segment + 1}.")
        self.d_vocab, self.seq_len = d_vocab, seq_len
        self.min_segment, self.max_segment = min_segment, max_segment
        self.token_names = ["<bos>"] + [f"t{i}" for i in range(1, d_vocab)]
        self.model_config = {"n_layers": 2, "n_heads": 2, "d_model": 64, "d_head": 32, "d_mlp": 0, "normalization": "ln"}

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
        """One clean and corrupt sequence with (offset, segment length, prefix length k, answer)."""
        seg_len = int(rng.integers(self.min_segment, self.max_segment + 1))
        k = int(rng.integers(1, seg_len))  # tokens of the repeat shown; answer = segment[k]
        n_fill = self.seq_len - 1 - seg_len - k
        offset = int(rng.integers(0, n_fill + 1))
        tokens = rng.permutation(np.arange(1, self.d_vocab))
        segment, pool = tokens[:seg_len], tokens[seg_len:]
        filler = rng.choice(pool, size=n_fill, replace=True)
        seq = np.concatenate([[BOS], filler[:offset], segment, filler[offset:], segment[:k]])
        corrupt = seq.copy()
        corrupt[1 + offset: 1 + offset + seg_len] = rng.choice(pool, size=seg_len, replace=True)
        return seq, corrupt, offset, seg_len, k, int(segment[k])

    def make_pairs(self, n: int, seed: int = 0) -> PromptPairs:
        def pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int]:
            seq, cor, _, _, _, ans = self._sample(rng)
            absent = np.setdiff1d(np.arange(1, self.d_vocab), np.concatenate([seq, cor]))
            return seq, cor, ans, int(rng.choice(absent))  # the wrong answer: a token in neither prompt

        return _pairs_from_samples(pair, n, seed)

    def training_batch(self, n: int, seed: int = 0) -> TrainingBatch:
        """Clean sequences; targets at every position of the repeat (each predicts the next segment token)."""
        tokens, targets = _empty_batch(n, self.seq_len)
        rng = np.random.default_rng(seed)
        for i in range(n):
            seq, _, offset, seg_len, k, ans = self._sample(rng)
            tokens[i] = seq
            start = self.seq_len - k  # first position of the repeat
            segment = seq[1 + offset: 1 + offset + seg_len]
            targets[i, start:] = segment[1: k + 1]
        return _as_batch(tokens, targets)
