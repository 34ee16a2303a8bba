"""Spike-count transformer operators converge to the ANN operators as T grows (catalog row 21, part)."""

from __future__ import annotations

import math

import torch

from neurocircuits.layers.spiking import if_rate_code, spike_matmul, spike_silu, spike_softmax


def test_spike_matmul_error_bounded_by_one_over_t():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(32, 16, generator=g), torch.randn(16, 8, generator=g)
    xm = float(x.abs().max())
    errs = []
    for T in (4, 16, 64, 256):
        n = if_rate_code(x, T, xm)
        assert torch.all((x - n * xm / T).abs() <= xm / T + 1e-5)
        assert (if_rate_code(x, T, xm, simulate=True) == n).float().mean() > 0.99  # closed form = the IF neuron
        errs.append(float((spike_matmul(x, w, T) - x @ w).abs().max()))
    assert errs[-1] < 0.05 * errs[0] and all(b < a for a, b in zip(errs, errs[1:]))


def test_spike_softmax_and_silu_converge_like_inverse_sqrt_t():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, generator=g) * 2
    err_sm = {T: float((spike_softmax(x, T, g) - torch.softmax(x, -1)).pow(2).mean().sqrt()) for T in (16, 256, 4096)}
    err_si = {T: float((spike_silu(x, T, g) - torch.nn.functional.silu(x)).pow(2).mean().sqrt()) for T in (16, 256, 4096)}
    for err in (err_sm, err_si):
        # 16x more steps -> ~4x smaller error (Monte-Carlo rate), within a factor 2
        for a, b in ((16, 256), (256, 4096)):
            assert 2.0 < err[a] / err[b] < 8.0, err
    assert err_sm[4096] < 0.01 and err_si[4096] < 0.02
    assert torch.allclose(spike_softmax(x, 64, g).sum(-1), torch.ones(64))


def test_char_transformer_with_spike_count_ops_approaches_ann_loss():
    """Row 21: the same trained weights run with spike-count matmul/softmax/SiLU; loss -> ANN loss as T grows."""
    from neurocircuits.models import create_model
    from neurocircuits.models.spiking_char_transformer import synthetic_char_corpus

    ids, alphabet = synthetic_char_corpus(6000)
    V, L = len(alphabet), 16
    train, test = ids[:5000], ids[5000:]

    def batch(src, n, g):
        st = torch.randint(0, len(src) - L - 1, (n,), generator=g)
        return torch.stack([src[s:s + L] for s in st]), torch.stack([src[s + 1:s + L + 1] for s in st])

    torch.manual_seed(0)
    m = create_model("spiking_char_transformer", vocab=V)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(200):
        x, y = batch(train, 32, g)
        loss = torch.nn.functional.cross_entropy(m(x)[0].reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = batch(test, 128, torch.Generator().manual_seed(1))
    ce = lambda logits: float(torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1)))  # noqa: E731
    with torch.no_grad():
        ann = ce(m(x)[0])
        snn = {T: ce(m(x, spike_steps=T, generator=torch.Generator().manual_seed(2))[0]) for T in (8, 32, 128, 512)}
    assert ann < 0.5 * math.log(V)  # the task was learned
    assert snn[8] > snn[32] > snn[128] > snn[512]
    assert snn[512] < 1.1 * ann, (ann, snn)  # measured: within 1% at T=512, 8% at T=128
