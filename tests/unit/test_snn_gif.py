"""GIF multi-bit coding and saliency-based timestep allocation (SpikeLLM, catalog row 60)."""

from __future__ import annotations

import functools

import torch

from neurocircuits.layers.spiking import GIF, allocate_timesteps, gif_quantize


@functools.lru_cache(maxsize=1)
def _trained_mlp():
    from neurocircuits.data.datasets import digits

    d = digits()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(net(d.x_train), d.y_train)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return net, net[1](net[0](d.x_train)), net[1](net[0](d.x_test))


def test_gif_codes_activations_with_log2_levels_bits():
    _, a_train, a_test = _trained_mlp()
    x_max = a_train.max(0).values.clamp(min=1e-3)
    a = torch.minimum(a_test, x_max)
    errs = {}
    for T in (1, 3, 7, 15, 31):
        xh, n = gif_quantize(a, T, x_max, bits=1)
        step = x_max / T
        assert torch.all((a - xh).abs() <= step + 1e-5)  # uniform quantiser with T + 1 levels
        assert n.max() <= T
        errs[T] = float(((a - xh).abs() / x_max).mean())
    # each doubling of T (one more bit, log2(T+1)) halves the error
    for T in (3, 7, 15):
        assert 0.35 < errs[2 * T + 1] / errs[T] < 0.65
    # a 2-bit GIF (3 levels per step) in 5 steps equals a 1-bit IF in 15 steps: same 16 levels
    # (up to float rounding exactly at a level boundary)
    g2, i1 = gif_quantize(a, 5, x_max, bits=2)[0], gif_quantize(a, 15, x_max, bits=1)[0]
    same = (g2 - i1).abs() <= 1e-4
    assert same.float().mean() > 0.99 and torch.all((g2 - i1).abs() <= x_max / 15 + 1e-5)


def test_gif_module_matches_quantizer():
    x = torch.rand(4, 6) * 3
    s, _ = GIF(6, bits=2, threshold=0.2)(x.expand(5, 4, 6))
    xh, n = gif_quantize(x, 5, 0.2 * 3, bits=2)  # GIF(theta) on x for T steps == quantiser with x_max = theta L
    assert torch.allclose(s.sum(0), n)


def test_saliency_allocation_lowers_error_at_equal_budget():
    net, a_train, a_test = _trained_mlp()
    x_max = a_train.max(0).values.clamp(min=1e-3)
    a = torch.minimum(a_test, x_max)
    W = net[2].weight.detach()
    saliency = x_max * W.norm(dim=0)
    for T_mean in (2, 4, 8):
        budget = T_mean * 64
        uniform = torch.full((64,), T_mean)
        alloc = allocate_timesteps(saliency, budget)
        assert int(alloc.sum()) == budget and int(alloc.min()) >= 1
        err = lambda steps: float(((a - gif_quantize(a, steps, x_max)[0]) @ W.T).pow(2).mean())  # noqa: E731
        assert err(alloc) < 0.8 * err(uniform), (T_mean, err(alloc), err(uniform))
