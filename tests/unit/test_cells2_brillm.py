"""Row 133: BriLLM signal-flow graph LM (tokens as nodes, edge transforms, next token by max energy)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.cells import BriLLM
from neurocircuits.models import create_model

D = torch.float64


def test_signal_flow_by_hand() -> None:
    torch.manual_seed(0)
    m = BriLLM(vocab=5, d=4, temperature=0.5, dtype=D)
    x = torch.tensor([[3, 1, 4]])
    logits = m(x)
    e = F.layer_norm(m.e0, (4,))
    for t in range(3):
        h = F.gelu(torch.einsum("vij,j->vi", m.W[x[0, t]], e) + m.b[x[0, t]])     # edges x_t -> every node
        assert torch.allclose(logits[0, t], h.norm(dim=-1) / 0.5, atol=1e-12)
        if t < 2:
            e = F.layer_norm(h[x[0, t + 1]] + m.gamma * e, (4,))
    assert m.W.shape == (5, 5, 4, 4)                                            # one transform per edge


def test_errors() -> None:
    m = create_model("brillm", vocab=5, d=4)
    with pytest.raises(ValueError, match="larger vocab"):
        m(torch.tensor([[1, 7]]))
    with pytest.raises(ValueError, match=r"\[batch, time\]"):
        m(torch.zeros(2, 3, 1, dtype=torch.long))


def _sample(n: int, table: torch.Tensor, gen: torch.Generator, length: int = 16) -> torch.Tensor:
    """Second-order grammar: x_t = table[x_{t-2}, x_{t-1}] with probability 0.9, else uniform."""
    v = table.shape[0]
    x = torch.zeros(n, length, dtype=torch.long)
    x[:, :2] = torch.randint(0, v, (n, 2), generator=gen)
    for t in range(2, length):
        det = table[x[:, t - 2], x[:, t - 1]]
        x[:, t] = torch.where(torch.rand(n, generator=gen) < 0.9, det, torch.randint(0, v, (n,), generator=gen))
    return x


def test_brillm_beats_the_bigram_baseline_on_a_second_order_grammar() -> None:
    v = 8
    table = torch.randint(0, v, (v, v), generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    train, test = _sample(2000, table, gen), _sample(1000, table, torch.Generator().manual_seed(2))
    counts = torch.zeros(v, v)
    counts.index_put_((train[:, :-1].reshape(-1), train[:, 1:].reshape(-1)), torch.ones(train[:, 1:].numel()),
                      accumulate=True)
    bigram = (counts.argmax(1)[test[:, 1:-1]] == test[:, 2:]).float().mean().item()
    torch.manual_seed(0)
    m = create_model("brillm", vocab=v, d=8)
    opt = torch.optim.Adam(m.parameters(), 1e-2)
    for _ in range(300):
        x = train[torch.randint(0, len(train), (64,), generator=gen)]
        loss = F.cross_entropy(m(x)[:, :-1].reshape(-1, v), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (m(test)[:, 1:-1].argmax(-1) == test[:, 2:]).float().mean().item()
    # the optimum is 0.9 + 0.1/8 ~ 0.91; the best bigram predictor cannot see x_{t-2}
    assert bigram < 0.5, bigram
    assert acc > 0.8 and acc > bigram + 0.3, (acc, bigram)
