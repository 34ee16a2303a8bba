"""Channels-last fused LIF + 2x2 max pool (NHWC kernels, workspace buffers) and the channels-last
conv SNN path: each equals its reference in values and gradients (snn area, round 4)."""

from __future__ import annotations

import gc

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.functional._lif_pool import WORKSPACE, is_channels_last_steps
from neurocircuits.functional.lif_multistep import lif_multistep, lif_multistep_unrolled, lif_pool_multistep
from neurocircuits.layers.hooks import hooks

D = torch.float64
CL = torch.channels_last


def _cl_seq(t: torch.Tensor) -> torch.Tensor:
    """(T, B, C, H, W) with channels-last steps."""
    T, B = t.shape[:2]
    return t.reshape(T * B, *t.shape[2:]).contiguous(memory_format=CL).view(t.shape)


def _inputs(seed: int, static: bool, T=5, B=3, C=4, H=4, W=6, dtype=D):
    g = torch.Generator().manual_seed(seed)
    # a wide range: quiet windows (all-zero ties), single winners and several spikes per window
    b = (torch.rand(B, C, H, W, generator=g, dtype=dtype) * 1.2 - 0.3).contiguous(memory_format=CL).requires_grad_()
    xs = _cl_seq(torch.rand(T, B, C, H, W, generator=g, dtype=dtype) * 1.6 - 0.4).requires_grad_()
    x = b.unsqueeze(0).expand(T, B, C, H, W) if static else xs
    v0 = (torch.rand(B, C, H, W, generator=g, dtype=dtype) * 0.3).requires_grad_()
    return x, (b if static else xs), v0, g


def _pool_ref(s: torch.Tensor) -> torch.Tensor:
    T, B, C, H, W = s.shape
    return F.max_pool2d(s.reshape(T * B, C, H, W), 2).reshape(T, B, C, H // 2, W // 2)


@pytest.mark.parametrize("reset,detach", [("soft", True), ("soft", False), ("hard", True), ("hard", False)])
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("keep", [True, False])
@pytest.mark.parametrize("params", ["scalar", "per_channel"])
def test_cl_lif_pool_equals_unrolled_reference(reset, detach, static, keep, params):
    """Values equal the unrolled LIF then F.max_pool2d; input and initial-state gradients equal autograd
    through the unrolled loop to 1e-6 (float64), for losses on every output."""
    x, leaf, v0, g = _inputs(11, static)
    assert is_channels_last_steps(leaf)
    if params == "scalar":
        kw = dict(decay=0.85, threshold=0.9)
    else:
        kw = dict(decay=torch.tensor([0.6, 0.8, 0.9, 0.95], dtype=D).view(4, 1, 1),
                  threshold=torch.linspace(0.7, 1.1, 4, dtype=D).view(4, 1, 1), gain=torch.tensor(1.1, dtype=D))
    kw.update(reset=reset, detach_reset=detach, surrogate="atan", v_reset=-0.1)
    out = lif_pool_multistep(x, v0, keep_sequences=keep, **kw)
    assert type(out.pooled.grad_fn).__name__ == "FusedLIFPoolCLBackward"
    assert out.pooled.is_contiguous() is False and is_channels_last_steps(out.pooled)
    ref = lif_multistep_unrolled(x, v0, **kw)
    ref_p = _pool_ref(ref.spikes)
    assert torch.equal(out.pooled, ref_p)
    assert 0.2 < float(ref_p.detach().mean()) < 0.9 and float(ref.spikes.detach().mean()) < 0.6  # all window kinds occur
    assert torch.allclose(out.v_final, ref.v_final, atol=1e-12, rtol=0)
    wp, wv = torch.randn(ref_p.shape, generator=g, dtype=D), torch.randn(v0.shape, generator=g, dtype=D)
    l1, l2 = (out.pooled * wp).sum() + (out.v_final * wv).sum(), (ref_p * wp).sum() + (ref.v_final * wv).sum()
    if keep:
        assert torch.equal(out.spikes, ref.spikes)
        assert torch.allclose(out.membrane, ref.membrane, atol=1e-12, rtol=0)
        ws, wh = (torch.randn(ref.spikes.shape, generator=g, dtype=D) for _ in range(2))
        l1 = l1 + (out.spikes * ws).sum() + (out.membrane * wh).sum()
        l2 = l2 + (ref.spikes * ws).sum() + (ref.membrane * wh).sum()
    else:
        assert out.spikes is None and out.membrane is None
    g1, g2 = torch.autograd.grad(l1, [leaf, v0]), torch.autograd.grad(l2, [leaf, v0])
    for p, q in zip(g1, g2):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), (p - q).abs().max()
        assert p.abs().sum() > 0


def test_cl_path_equals_contiguous_path_float32():
    """The NHWC kernels and the NCHW kernels give identical pooled spikes and gradients (float32)."""
    g = torch.Generator().manual_seed(5)
    T, B, C, H, W = 8, 16, 16, 8, 8
    base = torch.randn(T * B, C, H, W, generator=g) * 0.8 + 0.3
    outs = []
    for fmt in (torch.contiguous_format, CL):
        leaf = base.contiguous(memory_format=fmt).requires_grad_()
        out = lif_pool_multistep(leaf.view(T, B, C, H, W), None, 0.905, 1.0, 1.0, keep_sequences=False)
        gy = torch.randn(out.pooled.shape, generator=torch.Generator().manual_seed(1))
        (gx,) = torch.autograd.grad((out.pooled * gy).sum(), leaf)
        outs.append((type(out.pooled.grad_fn).__name__, out.pooled.contiguous(), gx.contiguous()))
    assert outs[0][0] == "_FusedLIFPoolBackward" and outs[1][0] == "FusedLIFPoolCLBackward"
    assert torch.equal(outs[0][1], outs[1][1])
    assert torch.allclose(outs[0][2], outs[1][2], atol=1e-6, rtol=0) and outs[0][2].abs().sum() > 0


def test_recomputing_backward_is_safe():
    """Without kept sequences nothing of size (T, M) is stored and the backward recomputes the charge
    from the saved input: a second forward while the first graph is alive, a backward with
    retain_graph run twice and a static BatchNorm current leased from the workspace (returned only
    when its graph is freed) all give the reference; an in-place change of the input is caught."""
    from neurocircuits.functional._lif_pool import bn_lif_pool_multistep

    x, leaf, v0, _ = _inputs(3, False, T=6, B=4, C=8, H=8, W=8, dtype=torch.float32)
    kw = dict(decay=0.9, threshold=0.8)
    ref_p = _pool_ref(lif_multistep(x, v0, **kw).spikes)
    (g_ref,) = torch.autograd.grad(ref_p.sum(), leaf)
    out1 = lif_pool_multistep(x, v0, keep_sequences=False, **kw)
    out2 = lif_pool_multistep(x * 0.5, v0, keep_sequences=False, **kw)
    (g1,) = torch.autograd.grad(out1.pooled.sum(), leaf, retain_graph=True)
    (g1b,) = torch.autograd.grad(out1.pooled.sum(), leaf)
    assert torch.equal(out1.pooled, ref_p) and torch.equal(g1, g_ref) and torch.equal(g1b, g_ref)
    assert torch.autograd.grad(out2.pooled.sum(), leaf)[0].abs().sum() > 0
    inp = _cl_seq(x.detach()).requires_grad_() * 1.0  # a non-leaf with channels-last steps
    o = lif_pool_multistep(inp, v0, keep_sequences=False, **kw)
    assert type(o.pooled.grad_fn).__name__ == "FusedLIFPoolCLBackward"
    inp.add_(1.0)  # modify the op's saved input before the backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        o.pooled.sum().backward()
    # static BatchNorm current: a workspace lease, returned when the graph is freed
    g = torch.Generator().manual_seed(9)
    T, B, C, H, W = 4, 16, 16, 8, 8  # 64 KiB current: kept by the workspace
    zs = [(torch.randn(B, C, H, W, generator=g) + 0.3).requires_grad_() for _ in range(2)]
    w, b = torch.ones(C), torch.zeros(C)
    p = [torch.tensor(v) for v in (0.9, 1.0, 0.8)]
    outs = [bn_lif_pool_multistep(z, T, True, w, b, None, None, 0.1, 1e-5, None, *p) for z in zs]
    refs = []
    for z in zs:
        yb = F.batch_norm(z, None, None, w, b, True, 0.1, 1e-5)
        refs.append(_pool_ref(lif_multistep(yb.unsqueeze(0).expand(T, *yb.shape), None, *p).spikes))
    for o, r, z in zip(outs, refs, zs):
        assert torch.equal(o[0], r)
        ga, gb_ = torch.autograd.grad(o[0].sum(), z)[0], torch.autograd.grad(r.sum(), z)[0]
        assert torch.allclose(ga, gb_, atol=1e-5, rtol=1e-4) and ga.abs().sum() > 0
    held = {o[0].grad_fn.static_current.data_ptr() for o in outs}  # the op's context holds the static current
    assert len(held) == 2
    fresh = {WORKSPACE.empty(B * C * H * W, torch.float32).data_ptr() for _ in range(2)}
    assert not (fresh & held)  # in use: never handed out
    del outs, o  # (o: the last loop item)
    gc.collect()
    again = [WORKSPACE.empty(B * C * H * W, torch.float32) for _ in range(8)]
    assert held <= {t.data_ptr() for t in again}  # freed with their graph: reused


def _graph_names(t: torch.Tensor) -> set[str]:
    seen, stack, names = set(), [t.grad_fn], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        stack.extend(f for f, _ in fn.next_functions)
    return names


def test_spiking_conv_channels_last_equals_contiguous_model():
    """spiking_conv with channels-last maps (the CPU default) gives the outputs and parameter
    gradients of the same network run in NCHW memory (float64), through the NHWC fused op."""
    from neurocircuits.models import create_model

    torch.manual_seed(0)
    nets = [create_model("spiking_conv", channels=(8, 16), time_steps=6, dtype=D, channels_last=cl) for cl in (False, True)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.rand(10, 1, 8, 8, dtype=D) * 2
    outs, grads = [], []
    for net in nets:
        out, _ = net(x)
        (out.sum(0) * torch.arange(10, dtype=D)).sum().backward()
        outs.append(out)
        grads.append([p.grad for p in net.parameters()])
    names = [_graph_names(o) for o in outs]
    assert "FusedBNLIFPoolCLBackward" in names[1] and "NativeBatchNormBackward0" not in names[1]
    assert "FusedBNLIFPoolCLBackward" not in names[0] and "NativeBatchNormBackward0" in names[0]
    assert torch.equal(outs[0], outs[1]) and outs[0].sum() > 0
    for p, q in zip(*grads):
        assert torch.allclose(p, q, atol=1e-9, rtol=1e-9)
    for b0, b1 in zip(*(net.buffers() for net in nets)):  # BatchNorm running statistics and batch counts
        assert torch.allclose(b0, b1, atol=1e-12, rtol=0)
    # evaluation mode (running statistics): the unfused NHWC path, same outputs
    evals = [net.eval()(x)[0] for net in nets]
    assert "FusedLIFPoolCLBackward" in _graph_names(evals[1]) and torch.equal(evals[0], evals[1])


def test_forward_pool_keeps_sequences_only_for_hooks():
    """Without hooks the unpooled sequences are not materialised; a membrane hook sees the same
    membrane as the unfused block, and the pooled output is unchanged."""
    from neurocircuits.models import create_model

    torch.manual_seed(1)
    net = create_model("spiking_conv", channels=(4, 8), time_steps=4, dtype=D)
    x = torch.rand(5, 1, 8, 8, dtype=D) * 2
    plain, _ = net(x)
    seen = []
    with hooks(net, {"blocks.0.neuron.hook_membrane": lambda t, hook: seen.append(t)}):
        hooked, _ = net(x)
    assert torch.equal(plain, hooked) and len(seen) == 1
    cur = net.blocks[0].current(net._encode(x, 3))
    assert torch.allclose(seen[0], lif_multistep(cur, None, net.blocks[0].neuron.decay(), 1.0, 1.0).membrane, atol=1e-12)


def test_energy_estimate_sees_every_layer_of_the_channels_last_conv_net():
    """The read-out of channels-last maps (permuted weights, no NCHW copy) still runs through its
    module when hooked: energy_estimate counts conv, conv and linear layers exactly as in NCHW."""
    from neurocircuits.models import create_model
    from neurocircuits.models.spiking import energy_estimate

    torch.manual_seed(2)
    nets = [create_model("spiking_conv", channels=(4, 8), time_steps=4, dtype=D, channels_last=cl) for cl in (False, True)]
    nets[1].load_state_dict(nets[0].state_dict())
    x = torch.rand(6, 1, 8, 8, dtype=D) * 2
    reps = [energy_estimate(net, x) for net in nets]
    assert [layer.name for layer in reps[1].layers] == ["blocks.0.conv", "blocks.1.conv", "out.fc"]
    assert reps[0] == reps[1] and reps[1].snn_energy_pj > 0
