"""Greater-than on years: "The war lasted from the year 17YY to the year 17" -> a year > YY.

Hanna et al. 2023, "How does GPT-2 compute greater-than?". Two-digit year tokens ``00``..``99``.
The model is trained to put its probability on the years greater than ``YY``; the clean/corrupt pair
replaces ``YY`` by ``01`` (the paper's "01-years" corruption), after which almost every year is
greater. ``answer`` is ``YY + d`` and ``wrong`` is ``YY - d`` for a random ``d`` in 1..5, so the
logit difference is large and positive on clean prompts and near zero on corrupt ones. The
probability difference (mass on years > YY minus mass on years <= YY) is available as
:meth:`GreaterThanTask.prob_diff`.

In GPT-2 small, attention heads move YY to the final position and MLPs compute "greater than".
The shipped 2-layer model (``load_pretrained("greater_than")``, measured): both layer-0 heads attend
from the final position to the YY token (attention about 1.0); because a year is a single token,
their OV-unembedding map can hold the whole comparison table, and indeed zero-ablating one head or
either MLP changes the logit difference little (the two heads are redundant).
"""

from __future__ import annotations

import numpy as np
import torch

from ._base import IGNORE, Task, TrainingBatch, _as_batch, _as_pairs, _check_n, register_task
from ._pairs import PromptPairs

_WORDS = ["The", "war", "lasted", "from", "the", "year", "17", "to"]


@register_task("greater_than", mechanism="layer-0 heads move YY to the end; OV-unembedding compares")
class GreaterThanTask(Task):
    """Years task. ``min_year``/``max_year`` bound the two-digit start year YY."""

    name = "greater_than"
    mechanism = (
        "Reference (GPT-2 small): heads move YY to the last position, MLPs compute '> YY'. Shipped 2-layer model "
        "(measured): both layer-0 heads attend from the last position to YY and their OV-unembedding maps carry "
        "the comparison redundantly; MLPs contribute little."
    )

    def __init__(self, min_year: int = 6, max_year: int = 94) -> None:
        if not 6 <= min_year <= max_year <= 94:
            raise ValueError(f"need 6 <= min_year <= max_year <= 94 (answers are YY +- 1..5), got {min_year}, {max_year}.")
        self.min_year, self.max_year = min_year, max_year
        self.token_names = list(_WORDS) + [f"{y:02d}" for y in range(100)]
        self._id = {w: i for i, w in enumerate(self.token_names)}
        self.year0 = len(_WORDS)  # token id of year "00"
        self.d_vocab = len(self.token_names)
        self.seq_len = 12
        self.model_config = {"n_layers": 2, "n_heads": 2, "d_model": 64, "d_head": 32, "d_mlp": 128,
                             "normalization": "ln", "act": "gelu"}

    # The war lasted from the year 17 YY to the year 17
    #  0   1    2     3    4   5    6  7  8   9   10  11
    YY_POS = 7

    def _prompt(self, yy: int) -> np.ndarray:
        w = self._id
        return np.array([w["The"], w["war"], w["lasted"], w["from"], w["the"], w["year"], w["17"], self.year0 + yy,
                         w["to"], w["the"], w["year"], w["17"]])

    def year_of(self, token: int | torch.Tensor) -> int:
        """The two-digit year of a year token id."""
        return int(token) - self.year0

    def make_pairs(self, n: int, seed: int = 0) -> PromptPairs:
        _check_n(n)
        rng = np.random.default_rng(seed)
        yy = rng.integers(self.min_year, self.max_year + 1, size=n)
        d = rng.integers(1, 6, size=n)
        clean = np.stack([self._prompt(int(y)) for y in yy])
        corrupt = clean.copy()
        corrupt[:, self.YY_POS] = self.year0 + 1
        return _as_pairs(clean, corrupt, self.year0 + yy + d, self.year0 + yy - d)

    def training_batch(self, n: int, seed: int = 0) -> TrainingBatch:
        """Prompts with YY in 1..98; the target is a year drawn uniformly from the years > YY."""
        _check_n(n)
        rng = np.random.default_rng(seed)
        yy = rng.integers(1, 99, size=n)
        target = np.array([rng.integers(y + 1, 100) for y in yy])
        tokens = np.stack([self._prompt(int(y)) for y in yy])
        targets = np.full((n, self.seq_len), IGNORE, dtype=np.int64)
        targets[:, -1] = self.year0 + target
        return _as_batch(tokens, targets)

    def correct(self, logits: torch.Tensor, pairs: PromptPairs) -> torch.Tensor:
        """Per prompt, whether the top token at the last position is a year greater than YY."""
        top = logits[:, -1].argmax(-1)
        yy = pairs.clean[:, self.YY_POS].to(top.device)
        return (top > yy) & (top < self.year0 + 100)

    def prob_diff(self, logits: torch.Tensor, pairs: PromptPairs) -> torch.Tensor:
        """Per prompt: P(year > YY) - P(year <= YY) at the last position (Hanna et al.'s metric)."""
        probs = torch.softmax(logits[:, -1, self.year0:self.year0 + 100].float(), dim=-1)
        yy = (pairs.clean[:, self.YY_POS] - self.year0).to(probs.device)
        greater = torch.arange(100, device=probs.device)[None, :] > yy[:, None]
        return (probs * greater).sum(-1) - (probs * ~greater).sum(-1)
