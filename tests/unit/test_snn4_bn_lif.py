"""Fused training-mode BatchNorm + LIF + 2x2 max pool (one compiled op): values, running
statistics and gradients equal F.batch_norm -> unrolled LIF -> F.max_pool2d (snn area, round 4)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurocircuits.functional._lif_pool import bn_lif_pool_multistep
from neurocircuits.functional.lif_multistep import lif_multistep_unrolled
from neurocircuits.layers.hooks import hooks
from neurocircuits.layers.spiking import SpikingConv2d

D = torch.float64
CL = torch.channels_last


@pytest.mark.parametrize("static,layout", [(False, "cl"), (True, "cl"), (True, "nchw")])
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("reset,detach", [("soft", True), ("hard", False)])
def test_bn_lif_pool_equals_batch_norm_then_unrolled_lif(static, layout, keep, reset, detach):
    """Pooled spikes and sequences equal; running statistics equal; gradients of the conv output,
    BN weight and bias and the initial membrane equal autograd through the unrolled reference to 1e-6."""
    g = torch.Generator().manual_seed(7)
    T, B, C, H, W = 5, 3, 4, 4, 6
    N = B if static else T * B
    fmt = CL if layout == "cl" else torch.contiguous_format
    z = (torch.randn(N, C, H, W, generator=g, dtype=D) * 0.8 + 0.3).contiguous(memory_format=fmt).requires_grad_()
    w = (torch.rand(C, dtype=D, generator=g) + 0.5).requires_grad_()
    b = (torch.randn(C, dtype=D, generator=g) * 0.3 - 0.3).requires_grad_()
    v0 = (torch.rand(B, C, H, W, generator=g, dtype=D) * 0.3).requires_grad_()
    rm1, rv1 = torch.randn(C, dtype=D, generator=g), torch.rand(C, dtype=D, generator=g) + 0.5
    rm2, rv2 = rm1.clone(), rv1.clone()
    a, gain, th = (torch.tensor(v, dtype=D) for v in (0.7, 1.0, 0.9))
    out = bn_lif_pool_multistep(z, T, static, w, b, rm1, rv1, 0.1, 1e-5, v0, a, gain, th, reset=reset,
                                detach_reset=detach, v_reset=-0.1, keep_sequences=keep)
    assert type(out[0].grad_fn).__name__ == "FusedBNLIFPoolCLBackward"
    y = F.batch_norm(z, rm2, rv2, w, b, True, 0.1, 1e-5)
    x = y.unsqueeze(0).expand(T, *y.shape) if static else y.view(T, B, C, H, W)
    ref = lif_multistep_unrolled(x, v0, a, gain, th, reset=reset, detach_reset=detach, v_reset=-0.1)
    ref_p = F.max_pool2d(ref.spikes.reshape(T * B, C, H, W), 2).reshape(T, B, C, H // 2, W // 2)
    assert torch.equal(out[0], ref_p) and 0.2 < float(ref_p.detach().mean()) < 0.9 and float(ref.spikes.detach().mean()) < 0.5
    assert torch.allclose(out[1], ref.v_final, atol=1e-12, rtol=0)
    assert torch.allclose(rm1, rm2, atol=1e-14, rtol=0) and torch.allclose(rv1, rv2, atol=1e-14, rtol=0)
    wp, wv = torch.randn(ref_p.shape, generator=g, dtype=D), torch.randn(v0.shape, generator=g, dtype=D)
    l1, l2 = (out[0] * wp).sum() + (out[1] * wv).sum(), (ref_p * wp).sum() + (ref.v_final * wv).sum()
    if keep:
        assert torch.equal(out[2], ref.spikes) and torch.allclose(out[3], ref.membrane, atol=1e-12, rtol=0)
        ws, wh = (torch.randn(ref.spikes.shape, generator=g, dtype=D) for _ in range(2))
        l1 = l1 + (out[2] * ws).sum() + (out[3] * wh).sum()
        l2 = l2 + (ref.spikes * ws).sum() + (ref.membrane * wh).sum()
    g1, g2 = torch.autograd.grad(l1, [z, w, b, v0]), torch.autograd.grad(l2, [z, w, b, v0])
    for p, q in zip(g1, g2):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), (p - q).abs().max()
        assert p.abs().sum() > 0
    assert g1[0].is_contiguous(memory_format=fmt)  # the gradient keeps the conv output's layout


def _block_pair(**bn_kw):
    torch.manual_seed(4)
    blocks = [SpikingConv2d(3, 6, channels_last=cl, tau_mem_ms=8.0).double() for cl in (True, False)]
    blocks[1].load_state_dict(blocks[0].state_dict())
    for blk in blocks:
        blk.bn.momentum = bn_kw.get("momentum", 0.1)
    return blocks


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("static", [False, True])
def test_spiking_conv_block_fused_bn_equals_unfused(momentum, static):
    """A SpikingConv2d block's fused path equals its unfused NCHW path over three training steps:
    pooled output, weight gradients, running statistics and batch counts (cumulative momentum too)."""
    fused, plain = _block_pair(momentum=momentum)
    g = torch.Generator().manual_seed(2)
    for _ in range(3):
        base = torch.rand(4, 3, 8, 8, generator=g, dtype=D) * 2
        x = base.unsqueeze(0).expand(5, *base.shape) if static else torch.rand(5, 4, 3, 8, 8, generator=g, dtype=D) * 2
        outs = []
        for blk in (fused, plain):
            blk.zero_grad()
            p, st = blk.forward_pool(x)
            (p * torch.linspace(-1, 1, p.shape[-1], dtype=D)).sum().backward()
            outs.append((p, st.v))
        assert torch.equal(outs[0][0], outs[1][0]) and outs[0][0].sum() > 0
        assert torch.allclose(outs[0][1], outs[1][1], atol=1e-12)
        for p, q in zip(fused.parameters(), plain.parameters()):
            assert torch.allclose(p.grad, q.grad, atol=1e-9, rtol=1e-9)
    for p, q in zip(fused.buffers(), plain.buffers()):
        assert torch.allclose(p, q, atol=1e-12, rtol=0)
    assert int(fused.bn.num_batches_tracked) == 3


def test_fused_bn_path_is_skipped_when_it_would_change_behaviour():
    """Hooks on the neuron, a learned threshold or evaluation mode take the unfused path."""
    blk = SpikingConv2d(3, 6).double()
    x = torch.rand(4, 2, 3, 8, 8, dtype=D)

    def graph_has(out, name):
        seen, stack = set(), [out.grad_fn]
        while stack:
            fn = stack.pop()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            if type(fn).__name__ == name:
                return True
            stack.extend(f for f, _ in fn.next_functions)
        return False

    assert graph_has(blk.forward_pool(x)[0], "FusedBNLIFPoolCLBackward")
    seen = []
    with hooks(blk, {"neuron.hook_membrane": lambda t, hook: seen.append(t)}):
        assert not graph_has(blk.forward_pool(x)[0], "FusedBNLIFPoolCLBackward")
    assert len(seen) == 1 and seen[0].shape == (4, 2, 6, 8, 8)
    blk.eval()
    assert not graph_has(blk.forward_pool(x)[0], "FusedBNLIFPoolCLBackward")
    learned = SpikingConv2d(3, 6, learn_threshold=True).double()
    out = learned.forward_pool(x)[0]
    assert not graph_has(out, "FusedBNLIFPoolCLBackward") and isinstance(learned.bn, nn.BatchNorm2d)
