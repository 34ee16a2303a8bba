"""Memory Networks with explicit slots and supervised supporting facts (Weston, Chopra & Bordes 2015, ICLR).

Four components (one hop, as needed by single-supporting-fact questions):

* **I** (input map): a sentence becomes a bag-of-words vector ``phi(x)`` (plus a one-hot slot-age
  feature so that the most recent fact can win, the paper's "time" features).
* **G** (generalisation): each sentence is written to the next free slot ``m_i`` (no compression).
* **O** (output): the supporting memory is ``o = argmax_i s_O(q, m_i)``, ``s_O(x, y) = phi(x)^T U_O^T U_O phi(y)``.
* **R** (response): the answer word is ``argmax_w s_R([q, m_o], w)``, ``s_R(x, y) = phi(x)^T U_R^T U_R phi(y)``.

Training is strongly supervised: a cross-entropy over slots on the labelled supporting fact (the
softmax version of the paper's margin ranking loss) plus a cross-entropy over answer words.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MemoryNetwork"]


class MemoryNetwork(nn.Module):
    """I/G/O/R memory network over padded index tensors from :func:`encode_babi`."""

    def __init__(self, vocab_size: int, max_sentences: int, d: int = 32, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.V, self.S = vocab_size, max_sentences
        n_feat = vocab_size + max_sentences  # words + slot-age features
        self.U_O = nn.Linear(n_feat, d, bias=False, **kw)
        self.U_Oq = nn.Linear(n_feat, d, bias=False, **kw)
        self.U_R = nn.Linear(2 * n_feat, d, bias=False, **kw)
        self.U_Rw = nn.Linear(vocab_size, d, bias=False, **kw)

    def input_map(self, story: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
        """I and G: bag-of-words memories with slot-age features, and the question's features."""
        if story.dim() != 3 or query.dim() != 2 or story.shape[1] != self.S:
            raise ValueError(f"story must be (batch, {self.S}, words) and query (batch, words), got "
                             f"{tuple(story.shape)} and {tuple(query.shape)}.")
        dt = self.U_O.weight.dtype
        bow = torch.zeros(*story.shape[:2], self.V, dtype=dt, device=story.device)
        bow.scatter_add_(2, story, torch.ones_like(story, dtype=dt))
        bow[..., 0] = 0  # padding
        n_filled = (story.sum(-1) > 0).sum(1, keepdim=True)  # slots written so far
        age = (n_filled - 1 - torch.arange(self.S, device=story.device)).clamp(0, self.S - 1)
        mem = torch.cat([bow, nn.functional.one_hot(age, self.S).to(dt)], -1)
        q = torch.zeros(query.shape[0], self.V, dtype=dt, device=query.device)
        q.scatter_add_(1, query, torch.ones_like(query, dtype=dt))
        q[:, 0] = 0
        q = torch.cat([q, torch.zeros(query.shape[0], self.S, dtype=dt, device=query.device)], -1)
        return mem, q

    def forward(self, story: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
        """Returns ``(answer_logits (batch, V), slot_scores (batch, S))``."""
        mem, q = self.input_map(story, query)
        filled = story.sum(-1) > 0
        s_o = (self.U_O(mem) @ self.U_Oq(q).unsqueeze(-1)).squeeze(-1).masked_fill(~filled, float("-inf"))
        o = torch.softmax(s_o, -1).unsqueeze(-1).mul(mem).sum(1)  # soft read for training; argmax at test
        if not self.training:
            o = mem[torch.arange(mem.shape[0]), s_o.argmax(-1)]
        r = self.U_R(torch.cat([q, o], -1))
        return r @ self.U_Rw.weight, s_o
