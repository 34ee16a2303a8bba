"""IOI-style indirect-object identification on a synthetic name vocabulary.

Wang et al. 2023, "Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small". Template (ABBA or BABA order of the first two names)::

    When A and B went to the PLACE , B gave a OBJECT to   ->  A

The answer is the indirect object (the name not repeated); ``wrong`` is the subject (the repeated
name). The corrupted prompt is the "ABC" control: the second subject occurrence is replaced by a
third name C, so nothing says which of A/B is the indirect object.

In GPT-2 small the circuit is duplicate-token / induction heads -> S-inhibition heads -> name
movers. The 2-layer attention-only model shipped with the package (``load_pretrained("ioi")``) learned
a smaller version, measured rather than designed: at the final position both layer-0 heads attend to
the two first-clause names (about 0.5 each), and layer-1 head 1 attends mostly to the repeated
subject S2 (about 0.6) and to the indirect object; zero-ablating that head removes the logit
difference (about 10 -> 0.2), zero-ablating either layer-0 head roughly halves it.
"""

from __future__ import annotations

import numpy as np

from ._base import Task, TrainingBatch, _as_batch, _empty_batch, _pairs_from_samples, register_task
from ._pairs import PromptPairs

_WORDS = ["When", "and", "went", "to", "the", ",", "gave", "a"]
_PLACES = ["store", "park", "school", "garden", "station", "office"]
_OBJECTS = ["drink", "book", "ring", "kiss", "bone", "letter"]


@register_task("ioi", mechanism="name copying (L0) -> subject-sensitive head (L1)")
class IOITask(Task):
    """Indirect-object identification with ``n_names`` synthetic single-token names.

    Args:
        n_names: size of the synthetic name vocabulary (>= 3).
    """

    name = "ioi"
    mechanism = (
        "Reference (GPT-2 small): duplicate-token heads -> S-inhibition heads -> name movers. Shipped 2-layer model "
        "(measured): layer-0 heads at the final position attend to both first-clause names; layer-1 head 1 attends "
        "to the repeated subject S2 and to the indirect object and carries most of the logit difference."
    )

    def __init__(self, n_names: int = 20) -> None:
        if n_names < 3:
            raise ValueError(f"IOI needs at least 3 names (A, B and the corrupting C), got n_names={n_names}.")
        self.n_names = n_names
        self.token_names = list(_WORDS) + list(_PLACES) + list(_OBJECTS) + [f"Name{i}" for i in range(n_names)]
        self._id = {w: i for i, w in enumerate(self.token_names)}
        self.name_ids = np.arange(len(self.token_names) - n_names, len(self.token_names))
        self.d_vocab = len(self.token_names)
        self.seq_len = 14
        self.model_config = {"n_layers": 2, "n_heads": 2, "d_model": 64, "d_head": 32, "d_mlp": 0, "normalization": "ln"}

    # When A and B went to the PLACE , S gave a OBJECT to
    #  0   1  2  3   4    5  6   7   8 9  10  11  12    13
    S2_POS = 9

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int]:
        a, b, c = rng.choice(self.name_ids, size=3, replace=False)
        place = self._id[_PLACES[int(rng.integers(len(_PLACES)))]]
        obj = self._id[_OBJECTS[int(rng.integers(len(_OBJECTS)))]]
        io, s = int(a), int(b)
        first, second = (io, s) if rng.random() < 0.5 else (s, io)  # ABBA or BABA
        w = self._id
        seq = np.array([w["When"], first, w["and"], second, w["went"], w["to"], w["the"], place, w[","], s,
                        w["gave"], w["a"], obj, w["to"]])
        corrupt = seq.copy()
        corrupt[self.S2_POS] = int(c)
        return seq, corrupt, io, s

    def make_pairs(self, n: int, seed: int = 0) -> PromptPairs:
        return _pairs_from_samples(self._sample, n, seed)

    def training_batch(self, n: int, seed: int = 0) -> TrainingBatch:
        """Clean prompts; the only target is the indirect object at the last position."""
        tokens, targets = _empty_batch(n, self.seq_len)
        rng = np.random.default_rng(seed)
        for i in range(n):
            seq, _, io, _ = self._sample(rng)
            tokens[i], targets[i, -1] = seq, io
        return _as_batch(tokens, targets)
