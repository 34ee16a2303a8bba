"""End-to-end memory networks (Sukhbaatar, Szlam, Weston & Fergus 2015, NeurIPS).

Sentences ``x_i`` are embedded with position encoding into memories ``m_i = sum_j l_j * A x_ij + T_A(i)``
and outputs ``c_i = sum_j l_j * C x_ij + T_C(i)``; the question ``u = sum_j l_j * B q_j``. One hop::

    p = softmax(u^T m_i),   o = sum_i p_i c_i,   u <- u + o

repeated for ``n_hops`` with adjacent weight tying (``A^{k+1} = C^k``, ``B = A^1``); the answer is
``softmax(W u)`` with ``W^T = C^K``. Position encoding ``l_kj = (1 - j/J) - (k/d)(1 - 2j/J)``.
Also provides :func:`encode_babi` to turn :func:`neurocircuits.data.generators.babi_like_stories`
into padded index tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MemN2N", "encode_babi"]


def encode_babi(stories, questions, answers, vocab: dict[str, int] | None = None,
                max_sentences: int | None = None, max_words: int | None = None):
    """Padded ``(story (n, S, J), query (n, J), answer (n,))`` int64 tensors and the vocabulary (0 = pad)."""
    if vocab is None:
        words = sorted({w for s in stories for sent in s for w in sent} | {w for q in questions for w in q} | set(answers))
        vocab = {w: i + 1 for i, w in enumerate(words)}
    S = max_sentences or max(len(s) for s in stories)
    J = max_words or max(max(len(x) for s in stories for x in s), max(len(q) for q in questions))
    st = torch.zeros(len(stories), S, J, dtype=torch.long)
    qu = torch.zeros(len(stories), J, dtype=torch.long)
    for n, (s, q) in enumerate(zip(stories, questions)):
        for i, sent in enumerate(s[-S:]):
            st[n, i, : len(sent)] = torch.tensor([vocab[w] for w in sent])
        qu[n, : len(q)] = torch.tensor([vocab[w] for w in q])
    an = torch.tensor([vocab[a] for a in answers])
    return st, qu, an, vocab


class MemN2N(nn.Module):
    """Multi-hop memory network with adjacent weight tying and temporal encoding."""

    def __init__(self, vocab_size: int, d: int = 32, n_hops: int = 3, max_sentences: int = 10, max_words: int = 6,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if n_hops < 1 or vocab_size < 2:
            raise ValueError(f"need n_hops >= 1 and vocab_size >= 2, got {n_hops} and {vocab_size}.")
        kw = {"device": device, "dtype": dtype}
        self.n_hops, self.d, self.S, self.J = n_hops, d, max_sentences, max_words
        self.emb = nn.ParameterList(nn.Parameter(0.1 * torch.randn(vocab_size, d, **kw)) for _ in range(n_hops + 1))
        self.temporal = nn.ParameterList(nn.Parameter(0.1 * torch.randn(max_sentences, d, **kw)) for _ in range(n_hops + 1))
        J, k = max_words, torch.arange(1, d + 1, dtype=torch.float64).unsqueeze(0)
        j = torch.arange(1, J + 1, dtype=torch.float64).unsqueeze(1)
        self.register_buffer("pos", ((1 - j / J) - (k / d) * (1 - 2 * j / J)).to(**{k_: v for k_, v in kw.items() if v is not None}))

    def _embed(self, x: Tensor, table: Tensor) -> Tensor:
        e = table[x] * (x > 0).unsqueeze(-1)  # padding embeds to zero
        return (e * self.pos.to(e.dtype)).sum(-2)

    def example_input(self, batch: int) -> tuple[Tensor, Tensor]:
        V = self.emb[0].shape[0]
        g = torch.Generator().manual_seed(0)
        return (torch.randint(1, V, (batch, self.S, self.J), generator=g).to(self.emb[0].device),
                torch.randint(1, V, (batch, self.J), generator=g).to(self.emb[0].device))

    def forward(self, story: Tensor, query: Tensor, linear: bool = False) -> tuple[Tensor, Tensor]:
        """``story (batch, S, J)``, ``query (batch, J)`` word indices -> ``(answer logits, attention per hop)``.

        ``linear=True`` drops the softmax (the paper's "linear start" used early in training).
        """
        if story.dim() != 3 or story.shape[1:] != (self.S, self.J) or query.shape[-1] != self.J:
            raise ValueError(
                f"MemN2N expects story (batch, {self.S}, {self.J}) and query (batch, {self.J}) word indices, "
                f"got {tuple(story.shape)} and {tuple(query.shape)}."
            )
        u = self._embed(query, self.emb[0])
        filled = story.sum(-1) > 0
        attn = []
        for k in range(self.n_hops):
            m = self._embed(story, self.emb[k]) + self.temporal[k]
            c = self._embed(story, self.emb[k + 1]) + self.temporal[k + 1]
            scores = (m @ u.unsqueeze(-1)).squeeze(-1)
            if linear:
                p = scores.masked_fill(~filled, 0.0)
            else:
                p = torch.softmax(scores.masked_fill(~filled, float("-inf")), -1)
            attn.append(p)
            u = u + (p.unsqueeze(-1) * c).sum(1)
        return u @ self.emb[-1].T, torch.stack(attn, 1)
