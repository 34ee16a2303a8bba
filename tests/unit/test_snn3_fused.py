"""Fused LIF backends (torch loop and numba kernels), static inputs, the fused surrogate product and
the two-pass max pool: each equals its reference (snn area, round 3)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.functional.lif_multistep import _kernels, lif_multistep, lif_multistep_unrolled
from neurocircuits.functional.surrogate import SURROGATES, surrogate_derivative, surrogate_grad_inplace
from neurocircuits.layers.spiking import LIF, SpikeMaxPool2d, max_pool2x2, seq_apply

D = torch.float64
BACKENDS = ["torch", "numba"]


def _data(seed: int, T: int = 9, B: int = 3, N: int = 5, dtype=D):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g, dtype=dtype) * 0.8 + 0.5).requires_grad_()
    v0 = (torch.randn(B, N, generator=g, dtype=dtype) * 0.3).requires_grad_()
    w = [torch.randn(T, B, N, generator=g, dtype=dtype), torch.randn(T, B, N, generator=g, dtype=dtype),
         torch.randn(B, N, generator=g, dtype=dtype)]
    return x, v0, w


def test_numba_is_available_here():
    """numba is a core dependency; the compiled path must be the one the tests below exercise."""
    assert _kernels() is not None


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset,detach,sur", list(itertools.product(["soft", "hard"], [True, False], SURROGATES.names())))
@pytest.mark.parametrize("params", ["scalar", "per_neuron"])
def test_backend_grads_equal_unrolled_autograd(backend, reset, detach, sur, params):
    """Input and initial-state gradients (the compiled backward's job) equal autograd to 1e-6."""
    x, v0, (ws, wh, wv) = _data(3)
    if params == "scalar":
        a, th, gain = 0.87, 0.9, 1.0
    else:
        a = torch.linspace(0.5, 0.95, 5, dtype=D)
        th = torch.linspace(0.6, 1.3, 5, dtype=D)
        gain = torch.tensor(0.7, dtype=D)
    outs, grads = [], []
    for fn, kw in ((lif_multistep, {"backend": backend}), (lif_multistep_unrolled, {})):
        o = fn(x, v0, a, gain, th, reset=reset, v_reset=-0.1, detach_reset=detach, surrogate=sur, **kw)
        loss = (o.spikes * ws).sum() + (o.membrane * wh).sum() + (o.v_final * wv).sum()
        grads.append(torch.autograd.grad(loss, [x, v0]))
        outs.append(o)
    assert torch.equal(outs[0].spikes, outs[1].spikes)
    for p, q in zip(outs[0], outs[1]):
        assert torch.allclose(p, q, atol=1e-12)
    for p, q in zip(*grads):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), (p - q).abs().max()
    assert grads[0][0].abs().sum() > 0
    # spikes-only loss: the membrane and final-state outputs receive no gradient
    g1 = torch.autograd.grad((lif_multistep(x, v0, a, gain, th, reset=reset, detach_reset=detach, surrogate=sur,
                                            backend=backend).spikes * ws).sum(), x)[0]
    g2 = torch.autograd.grad((lif_multistep_unrolled(x, v0, a, gain, th, reset=reset, detach_reset=detach,
                                                     surrogate=sur).spikes * ws).sum(), x)[0]
    assert torch.allclose(g1, g2, atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_with_learned_parameters_equal_unrolled(backend):
    """Decay, gain and threshold gradients (PLIF, learned threshold) on both forward implementations."""
    x, v0, (ws, _, _) = _data(4)
    a = torch.tensor([0.6, 0.7, 0.8, 0.9, 0.95], dtype=D, requires_grad=True)
    th = torch.tensor(0.9, dtype=D, requires_grad=True)
    gain = torch.tensor(0.8, dtype=D, requires_grad=True)
    gr = []
    for fn, kw in ((lif_multistep, {"backend": backend}), (lif_multistep_unrolled, {})):
        o = fn(x, v0, a, gain, th, surrogate="atan", **kw)
        gr.append(torch.autograd.grad((o.spikes * ws).sum(), [x, v0, a, gain, th]))
    for p, q in zip(*gr):
        assert torch.allclose(p, q, atol=1e-6, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_static_input_equals_repeated_input(backend, reset):
    """A stride-0 time-constant input (direct encoding) gives the outputs and the summed gradient of
    the same input materialised at every step."""
    g = torch.Generator().manual_seed(5)
    T = 12
    b1 = (torch.rand(4, 6, generator=g, dtype=D) * 0.7).requires_grad_()
    b2 = b1.detach().clone().requires_grad_()
    w = torch.randn(T, 4, 6, generator=g, dtype=D)
    o1 = lif_multistep(b1.unsqueeze(0).expand(T, 4, 6), decay=0.8, reset=reset, backend=backend)
    o2 = lif_multistep(b2.unsqueeze(0).repeat(T, 1, 1), decay=0.8, reset=reset, backend=backend)
    assert torch.equal(o1.spikes, o2.spikes) and o1.spikes.sum() > 0
    (o1.spikes * w).sum().backward()
    (o2.spikes * w).sum().backward()
    assert torch.allclose(b1.grad, b2.grad, atol=1e-12)


def test_backends_agree_in_float32_training_step():
    """The LIF layer trains identically (to float32 rounding) on either backend."""
    torch.manual_seed(0)
    x = torch.rand(25, 16, 32)
    w = torch.randn(25, 16, 32)
    res = []
    for backend in BACKENDS:
        o = lif_multistep(x.requires_grad_(), decay=0.905, surrogate="atan", backend=backend)
        res.append((o.spikes, torch.autograd.grad((o.spikes * w).sum(), x)[0]))
    assert torch.equal(res[0][0], res[1][0])
    assert torch.allclose(res[0][1], res[1][1], atol=1e-5, rtol=1e-5)


def test_lif_layer_on_time_folded_linear_output():
    """SpikingLinear's static path: the layer's gradient w.r.t. the weights matches a materialised input."""
    torch.manual_seed(1)
    lin = torch.nn.Linear(8, 6)
    neuron = LIF(6, tau_mem_ms=10.0)
    xs = torch.rand(5, 8)
    outs = []
    for static in (True, False):
        lin.zero_grad()
        x = xs.unsqueeze(0).expand(10, 5, 8) if static else xs.unsqueeze(0).repeat(10, 1, 1)
        cur = seq_apply(lin, x)
        assert (cur.stride(0) == 0) == static
        s, _ = neuron(cur)
        s.sum().backward()
        outs.append((s, lin.weight.grad.clone()))
    assert torch.equal(outs[0][0], outs[1][0])
    assert torch.allclose(outs[0][1], outs[1][1], atol=1e-5)


@pytest.mark.parametrize("sur", SURROGATES.names())
@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_fused_surrogate_product_equals_derivative_times_grad(sur, alpha):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(7, 9, generator=g, dtype=D) * 2
    grad = torch.randn(7, 9, generator=g, dtype=D)
    ref = grad * surrogate_derivative(x, sur, alpha)
    assert torch.allclose(surrogate_grad_inplace(x.clone(), grad, sur, alpha), ref, atol=1e-12, rtol=1e-12)


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        lif_multistep(torch.zeros(3, 2, 2), backend="cuda-kernels")


@pytest.mark.parametrize("kind", ["spikes", "randn", "levels"])
@pytest.mark.parametrize("shape", [(6, 3, 8, 8), (4, 2, 6, 4), (2, 1, 2, 2)])
def test_max_pool2x2_equals_torch_values_and_gradients(kind, shape):
    """Ties included: binary spikes route the gradient to the same element as F.max_pool2d."""
    g = torch.Generator().manual_seed(7)
    x = {"spikes": (torch.rand(shape, generator=g) < 0.4).float(), "randn": torch.randn(shape, generator=g),
         "levels": torch.randint(0, 3, shape, generator=g).float()}[kind]
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y1, y2 = F.max_pool2d(x1, 2), max_pool2x2(x2)
    assert torch.equal(y1, y2)
    w = torch.randn(y1.shape, generator=g)
    (y1 * w).sum().backward()
    (y2 * w).sum().backward()
    assert torch.equal(x1.grad, x2.grad)


def test_spike_max_pool_falls_back_on_odd_maps():
    x = torch.randn(2, 3, 5, 7)
    assert torch.equal(SpikeMaxPool2d()(x), F.max_pool2d(x, 2))


@pytest.mark.parametrize("sur", SURROGATES.names())
def test_fused_alif_equals_unrolled_loop(sur):
    """The fused adaptive LIF: same spikes, membranes and final state; gradients of input, initial
    membrane and initial adaptation trace equal autograd through the loop."""
    from neurocircuits.functional import alif_multistep

    g = torch.Generator().manual_seed(11)
    x = (torch.randn(20, 3, 5, generator=g, dtype=D) * 0.8 + 0.6).requires_grad_()
    v0 = (torch.randn(3, 5, generator=g, dtype=D) * 0.3).requires_grad_()
    b0 = (torch.rand(3, 5, generator=g, dtype=D) * 0.3).requires_grad_()
    ws = [torch.randn(20, 3, 5, generator=g, dtype=D), torch.randn(20, 3, 5, generator=g, dtype=D),
          torch.randn(3, 5, generator=g, dtype=D), torch.randn(3, 5, generator=g, dtype=D)]
    res = []
    for backend in ("numba", "unrolled"):
        o = alif_multistep(x, v0, b0, decay=0.9, threshold=1.0, beta=0.5, rho=0.9, surrogate=sur, backend=backend)
        loss = sum((oi * w).sum() for oi, w in zip(o, ws))
        res.append((o, torch.autograd.grad(loss, [x, v0, b0])))
    (o1, g1), (o2, g2) = res
    assert type(o1.spikes.grad_fn).__name__ == "_FusedALIFBackward"
    assert 0.1 < float(o1.spikes.mean()) < 0.9
    for p, q in zip(o1, o2):
        assert torch.allclose(p, q, atol=1e-12)
    for p, q in zip(g1, g2):
        assert torch.allclose(p, q, atol=1e-9, rtol=0)
    assert g1[2].abs().sum() > 0  # the adaptation trace carries gradient


def test_alif_layer_is_fused_and_state_carries_over():
    from neurocircuits.layers.spiking import ALIF

    torch.manual_seed(2)
    n = ALIF(6, tau_adapt_ms=20.0, beta=0.8)
    x = torch.rand(30, 4, 6) * 1.5
    assert type(n(x.clone().requires_grad_())[0].grad_fn).__name__ == "_FusedALIFBackward"
    s_all, st_all = n(x)
    s1, st1 = n(x[:12])
    s2, st2 = n(x[12:], st1)
    assert torch.equal(torch.cat([s1, s2]), s_all)
    assert torch.allclose(st2.v, st_all.v) and torch.allclose(st2.b, st_all.b)
    slow = ALIF(6, tau_adapt_ms=20.0, beta=0.8, learn_slope=True)  # learnable slope: the unrolled loop
    assert torch.equal(slow(x)[0], s_all)


@pytest.mark.parametrize("decay", [1.0, 0.8])
def test_fused_gif_equals_unrolled_loop(decay):
    """Multi-bit GIF: identical integer spike levels and membranes; gradients equal the loop's."""
    from neurocircuits.functional.lif_multistep import gif_multistep

    g = torch.Generator().manual_seed(13)
    x = (torch.rand(15, 3, 6, generator=g, dtype=D) * 3.0 - 0.5).requires_grad_()
    v0 = (torch.rand(3, 6, generator=g, dtype=D) * 0.5).requires_grad_()
    ws = [torch.randn(15, 3, 6, generator=g, dtype=D), torch.randn(15, 3, 6, generator=g, dtype=D),
          torch.randn(3, 6, generator=g, dtype=D)]
    res = []
    for backend in ("numba", "unrolled"):
        o = gif_multistep(x, v0, decay=decay, threshold=0.7, levels=3, backend=backend)
        res.append((o, torch.autograd.grad(sum((oi * w).sum() for oi, w in zip(o, ws)), [x, v0])))
    (o1, g1), (o2, g2) = res
    assert type(o1.spikes.grad_fn).__name__ == "_FusedGIFBackward"
    assert torch.equal(o1.spikes, o2.spikes) and int(o1.spikes.max()) == 3
    for p, q in zip(o1, o2):
        assert torch.allclose(p, q, atol=1e-12)
    for p, q in zip(g1, g2):
        assert torch.allclose(p, q, atol=1e-9, rtol=0)


@pytest.mark.parametrize("reset,detach", [("soft", True), ("soft", False), ("hard", True)])
@pytest.mark.parametrize("static", [False, True])
def test_fused_lif_pool_equals_lif_then_max_pool(reset, detach, static):
    """LIF + 2x2 max pool as one op: pooled spikes, spikes, membrane, final state and the input and
    initial-state gradients equal lif_multistep followed by F.max_pool2d (gradient routed in the recursion)."""
    from neurocircuits.functional.lif_multistep import lif_pool_multistep

    g = torch.Generator().manual_seed(17)
    T, B, C, H, W = 6, 3, 2, 4, 6
    b = (torch.rand(B, C, H, W, generator=g, dtype=D) * 0.9).requires_grad_()
    xs = (torch.rand(T, B, C, H, W, generator=g, dtype=D) * 1.4 - 0.2).requires_grad_()
    x = b.unsqueeze(0).expand(T, B, C, H, W) if static else xs
    v0 = (torch.rand(B, C, H, W, generator=g, dtype=D) * 0.3).requires_grad_()
    wp = torch.randn(T, B, C, H // 2, W // 2, generator=g, dtype=D)
    ws = torch.randn(T, B, C, H, W, generator=g, dtype=D)
    leaf = b if static else xs
    kw = dict(decay=0.85, threshold=0.9, reset=reset, detach_reset=detach, surrogate="atan")
    out = lif_pool_multistep(x, v0, **kw)
    assert type(out.pooled.grad_fn).__name__ == "_FusedLIFPoolBackward"
    ref = lif_multistep(x, v0, **kw)
    ref_p = F.max_pool2d(ref.spikes.reshape(T * B, C, H, W), 2).reshape(T, B, C, H // 2, W // 2)
    assert torch.equal(out.pooled, ref_p) and out.pooled.sum() > 0
    for p, q in zip(out[1:], ref):
        assert torch.equal(p, q)
    for with_spike_loss in (False, True):  # pooled-only loss, and a loss on the unpooled spikes too
        l1 = (out.pooled * wp).sum() + ((out.spikes * ws).sum() if with_spike_loss else 0)
        l2 = (ref_p * wp).sum() + ((ref.spikes * ws).sum() if with_spike_loss else 0)
        g1 = torch.autograd.grad(l1, [leaf, v0], retain_graph=True)
        g2 = torch.autograd.grad(l2, [leaf, v0], retain_graph=True)
        for p, q in zip(g1, g2):
            assert torch.allclose(p, q, atol=1e-9, rtol=0)
        assert g1[0].abs().sum() > 0


def test_conv_net_blocks_pool_exactly_like_max_pool2d():
    """spiking_conv's fused conv->BN->LIF->pool blocks give the outputs and weight gradients of the
    same blocks followed by nn.MaxPool2d."""
    from neurocircuits.models import create_model

    torch.manual_seed(3)
    net = create_model("spiking_conv", channels=(4, 8), time_steps=5, dtype=D)
    x = torch.rand(6, 1, 8, 8, dtype=D) * 2
    out, _ = net(x)
    out.sum().backward()
    g_fused = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    s = net.hook_input(net._encode(x, 3))
    for block in net.blocks:
        s, _ = block(s)
        T, B = s.shape[:2]
        s = torch.nn.MaxPool2d(2)(s.reshape(T * B, *s.shape[2:])).reshape(T, B, s.shape[2], s.shape[3] // 2, s.shape[4] // 2)
    ref, _ = net.out(s.flatten(2))
    assert torch.equal(out, ref) and out.sum() > 0
    ref.sum().backward()
    for p, q in zip(g_fused, [p.grad for p in net.parameters()]):
        assert torch.allclose(p, q, atol=1e-9)
