"""Spiking linear attention by conversion with integer-to-spike coding (SpikingBrain, catalog row 90)."""

from __future__ import annotations

import torch

from neurocircuits.layers.spiking import LinearAttention, SpikingLinearAttention, int_to_spikes, spikes_to_int


def _trained_ann():
    """A linear-attention layer trained to reproduce a running mean of its input (a task it can solve)."""
    torch.manual_seed(0)
    ann = LinearAttention(16, feature_map="relu", eps=1e-3)
    opt = torch.optim.Adam(ann.parameters(), lr=1e-2)
    for _ in range(30):
        x = torch.randn(12, 16, 16)
        target = x.cumsum(0) / torch.arange(1, 13).view(12, 1, 1)
        loss = (ann(x)[0] - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ann


def test_integer_spike_code_roundtrip():
    a = torch.randn(5, 3, 8)
    s, th = int_to_spikes(a, 7)
    assert set(s.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.all((spikes_to_int(s, th) - a).abs() <= th / 2 + 1e-6)


def test_converted_spiking_attention_matches_ann_sparse_and_constant_memory():
    ann = _trained_ann().eval()
    x = torch.randn(64, 4, 16)
    with torch.no_grad():
        ref, _ = ann(x)
        errs = {}
        for levels in (3, 7, 15, 31):
            snn = SpikingLinearAttention.from_ann(ann, levels)
            out, st = snn(x)
            errs[levels] = float((out - ref).norm() / ref.norm())
        assert errs[15] < 0.05 and errs[31] < errs[7] < errs[3]
        snn = SpikingLinearAttention.from_ann(ann, 15)
        out, st = snn(x)
        assert snn.last_sparsity > 0.6  # most spike slots stay empty
        # constant memory: the recurrent state does not grow with the sequence, and streaming equals one pass
        _, st_short = snn(x[:8])
        assert st.S.shape == st_short.S.shape == (4, 16, 16)
        o1, s1 = snn(x[:40])
        o2, _ = snn(x[40:], s1)
        assert torch.allclose(torch.cat([o1, o2]), out, atol=1e-5)
