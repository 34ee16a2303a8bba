"""Row 98: memory network (I/G/O/R) solves a bAbI-like single-supporting-fact task (> 95%)."""

import pytest
import torch
from torch import nn

from neurocircuits.data.generators import babi_like_stories
from neurocircuits.layers.memories import MemoryNetwork, encode_babi


def test_memory_network_solves_single_supporting_fact_task():
    tr, te = babi_like_stories(2000, 1, 8, seed=0), babi_like_stories(500, 1, 8, seed=1)
    st, qu, an, vocab = encode_babi(*tr[:3])
    st2, qu2, an2, _ = encode_babi(*te[:3], vocab=vocab, max_sentences=st.shape[1], max_words=st.shape[2])
    sup = torch.tensor([s[0] for s in tr[3]])
    sup2 = torch.tensor([s[0] for s in te[3]])
    torch.manual_seed(0)
    net = MemoryNetwork(len(vocab) + 1, st.shape[1])
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(5):
        net.train()
        perm = torch.randperm(len(an))
        for i in range(0, len(an), 32):
            idx = perm[i:i + 32]
            logits, slots = net(st[idx], qu[idx])
            loss = nn.functional.cross_entropy(logits, an[idx]) + nn.functional.cross_entropy(slots, sup[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        logits, slots = net(st2, qu2)
    assert float((logits.argmax(-1) == an2).float().mean()) > 0.95
    assert float((slots.argmax(-1) == sup2).float().mean()) > 0.95  # retrieves the supporting fact


def test_babi_generator_supporting_facts_are_consistent():
    stories, questions, answers, support = babi_like_stories(50, 2, 8, seed=3)
    for s, q, a, sup in zip(stories, questions, answers, support):
        assert len(sup) == 2 and a in s[sup[1]]  # the second supporting fact names the answer place
        assert q[-1] in s[sup[0]]  # the first one mentions the object asked about
    with pytest.raises(ValueError, match="task"):
        babi_like_stories(1, 3)
