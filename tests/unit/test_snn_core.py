"""Surrogates, fused multi-step LIF, neurons, encodings, time-axis checks (snn area)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from neurocircuits.functional.encoding import decode, encode, phase_weights
from neurocircuits.functional.lif_multistep import lif_multistep, lif_multistep_unrolled
from neurocircuits.functional.neurons import LIFParams, LIFState, lif_step
from neurocircuits.functional.surrogate import SURROGATES, LearnableSurrogate, spike
from neurocircuits.layers.spiking import GIF, IF, LIF, TimeAxisError, make_neuron
from neurocircuits.registry import UnknownNameError

D = torch.float64


def _inputs(seed=0, T=10, B=3, N=4):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, B, N, generator=g, dtype=D) * 0.8 + 0.5).requires_grad_()
    v0 = (torch.randn(B, N, generator=g, dtype=D) * 0.3).requires_grad_()
    a = (torch.rand(N, generator=g, dtype=D) * 0.5 + 0.4).requires_grad_()
    gain = torch.tensor(0.7, dtype=D, requires_grad=True)
    th = (torch.rand(N, generator=g, dtype=D) + 0.5).requires_grad_()
    w = [torch.randn(T, B, N, generator=g, dtype=D), torch.randn(T, B, N, generator=g, dtype=D), torch.randn(B, N, generator=g, dtype=D)]
    return x, v0, a, gain, th, w


@pytest.mark.parametrize("reset,detach,sur", list(itertools.product(["soft", "hard"], [True, False], SURROGATES.names())))
@pytest.mark.parametrize("scalar_params", [False, True])
def test_fused_lif_backward_equals_unrolled_autograd(reset, detach, sur, scalar_params):
    x, v0, a, gain, th, (ws, wh, wv) = _inputs()
    if scalar_params:  # exercises the matmul form of the backward recursion (soft reset, detached)
        a = torch.tensor(0.85, dtype=D, requires_grad=True)
        th = torch.tensor(0.9, dtype=D, requires_grad=True)
    grads, outs = [], []
    for fn in (lif_multistep, lif_multistep_unrolled):
        o = fn(x, v0, a, gain, th, reset=reset, v_reset=-0.1, detach_reset=detach, surrogate=sur)
        loss = (o.spikes * ws).sum() + (o.membrane * wh).sum() + (o.v_final * wv).sum()
        grads.append(torch.autograd.grad(loss, [x, v0, a, gain, th]))
        outs.append(o)
    assert torch.equal(outs[0].spikes, outs[1].spikes)
    for p, q in zip(outs[0], outs[1]):
        assert torch.allclose(p, q, atol=1e-12)
    for p, q in zip(*grads):
        assert torch.allclose(p, q, atol=1e-6, rtol=0), (p - q).abs().max()
    # only-spikes loss (unused outputs get no gradient tensor)
    g_only = [torch.autograd.grad((fn(x, v0, a, gain, th, reset=reset, detach_reset=detach, surrogate=sur).spikes * ws).sum(), [x, a])
              for fn in (lif_multistep, lif_multistep_unrolled)]
    for p, q in zip(*g_only):
        assert torch.allclose(p, q, atol=1e-6, rtol=0)
    assert grads[0][0].abs().sum() > 0


@pytest.mark.parametrize("reset", ["soft", "hard"])
def test_fused_lif_matches_shared_lif_step(reset):
    """The fused op implements functional.neurons.lif_step (exact, v_rest = 0): values and gradients."""
    T, B, N, dt = 15, 2, 5, 1.0
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(T, B, N, generator=g, dtype=D) * 3.0).requires_grad_()
    tau = torch.tensor(8.0, dtype=D, requires_grad=True)
    params = LIFParams(tau_mem_ms=tau, v_thresh_mv=1.0, v_reset_mv=0.0, v_rest_mv=0.0, refractory_ms=0.0, reset=reset)
    state = LIFState(torch.zeros(B, N, dtype=D), torch.zeros(B, N, dtype=D))
    ref = []
    for t in range(T):
        z, state = lif_step(x[t], state, params, dt, spike_fn=lambda u: spike(u, "atan"))
        ref.append(z)
    ref = torch.stack(ref)
    a = torch.exp(-dt / tau)
    out = lif_multistep(x, None, a, 1 - a, 1.0, reset=reset, detach_reset=False, surrogate="atan")
    assert torch.equal(out.spikes, ref)
    assert torch.allclose(out.v_final, state.v, atol=1e-12)
    w = torch.randn(T, B, N, generator=g, dtype=D)
    g1 = torch.autograd.grad((ref * w).sum(), [x, tau])
    g2 = torch.autograd.grad((out.spikes * w).sum(), [x, tau])
    for p, q in zip(g1, g2):
        assert torch.allclose(p, q, atol=1e-6, rtol=0)


def test_lif_rate_matches_analytic_if_rate():
    """IF with constant drive I < theta fires at rate I / theta (soft reset keeps the remainder)."""
    x = torch.full((200, 1, 3), 0.0, dtype=D) + torch.tensor([0.1, 0.25, 0.5], dtype=D)
    s, _ = IF(3)(x)
    assert torch.allclose(s.mean(0)[0], torch.tensor([0.1, 0.25, 0.5], dtype=D), atol=0.01)


def test_surrogate_derivatives_and_learnable_slope():
    x = torch.linspace(-1, 1, 11, dtype=D, requires_grad=True)
    for name in SURROGATES.names():
        y = spike(x, name)
        assert torch.equal(y, (x >= 0).to(D))
        (gx,) = torch.autograd.grad(y.sum(), x)
        assert torch.allclose(gx, SURROGATES.get(name).dx(x.detach(), SURROGATES.get(name).default_alpha))
    # atan primitive F = atan(pi a x / 2)/pi: dF/dx at 0 is a/2
    z = torch.zeros(1, dtype=D, requires_grad=True)
    (gz,) = torch.autograd.grad(spike(z, "atan", 3.0).sum(), z)
    assert gz.item() == pytest.approx(1.5)
    # learnable slope: alpha gradient equals finite difference of the primitive's sum
    ls = LearnableSurrogate("sigmoid", 2.0).double()
    xs = torch.randn(20, dtype=D)
    ls(xs).sum().backward()
    F = lambda a: torch.sigmoid(a * xs).sum()  # noqa: E731
    fd = (F(2.0 + 1e-6) - F(2.0 - 1e-6)) / 2e-6
    assert ls.alpha.grad.item() == pytest.approx(fd.item(), rel=1e-5)


def test_unknown_names_list_valid_ones():
    with pytest.raises(UnknownNameError, match="atan"):
        spike(torch.zeros(2), "atann")
    with pytest.raises(UnknownNameError, match="lif"):
        make_neuron("lfi", 4)
    with pytest.raises(UnknownNameError, match="fast_sigmoid"):
        LIF(4, surrogate="fastsigmoid")


def test_time_axis_errors():
    lif = LIF(10)
    with pytest.raises(TimeAxisError, match="no time axis"):
        lif(torch.zeros(32, 10))
    from neurocircuits.models import create_model

    net = create_model("spiking_mlp", in_features=64, hidden=[16], out_features=10, time_steps=25)
    with pytest.raises(TimeAxisError, match="batch-first"):
        net(torch.zeros(8, 25, 64))
    out, state = net(torch.zeros(25, 8, 64))
    assert out.shape == (25, 8, 10) and len(state.layers) == 2


def test_plif_learns_tau_and_threshold_gets_grad():
    lif = LIF(6, learn_tau=True, learn_threshold=True, per_neuron=True)
    x = torch.rand(20, 4, 6) * 2
    s, _ = lif(x)
    s.sum().backward()
    assert lif.decay_logit.grad is not None and lif.decay_logit.grad.abs().sum() > 0
    assert lif.threshold.grad is not None and lif.threshold.grad.shape == (6,)
    lif2 = LIF(6, learn_slope=True)
    lif2(x)[0].sum().backward()
    assert lif2.alpha.grad is not None


def test_gif_multibit_codes_value_with_log2_levels():
    """A GIF neuron with b bits over T steps reproduces a constant drive x up to theta / T."""
    x = torch.tensor([0.3, 1.7, 2.9]).view(1, 1, 3)
    T = 16
    s, _ = GIF(3, bits=2)(x.expand(T, 1, 3))
    assert s.max() <= 3 and s.min() >= 0
    assert torch.allclose(s.mean(0).flatten(), x.flatten(), atol=1.0 / T + 1e-6)


def test_encodings():
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([[0.0, 0.25, 0.5, 1.0]])
    r = encode(x, "rate", 4000, g)
    assert torch.allclose(r.mean(0), x, atol=0.03)
    lat = encode(x, "latency", 11)
    assert lat.sum(0).tolist() == [[0.0, 1.0, 1.0, 1.0]]
    assert lat[:, 0, 3].argmax() == 0 and lat[:, 0, 2].argmax() == 5
    ph = encode(x, "phase", 8, bits=8)
    rec = (ph * phase_weights(8, 8).view(8, 1, 1)).sum(0)
    assert torch.allclose(rec, x, atol=1 / 255)
    d = encode(x, "direct", 3)
    assert d.shape == (3, 1, 4)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encode(x * 2, "rate", 3)
    seq = torch.zeros(5, 1, 3)
    seq[1, 0, 2] = 1
    seq[3, 0, 0] = 1
    seq[4, 0, 2] = 1
    assert decode(seq, "count").tolist() == [[1.0, 0.0, 2.0]]
    assert decode(seq, "first_spike").argmax().item() == 2


def test_conv_neuron_accepts_any_map_size_but_checks_channels():
    from neurocircuits.layers.spiking import SpikingConv2d

    conv = SpikingConv2d(1, 4)
    for hw in (8, 5):
        s, st = conv(torch.rand(3, 2, 1, hw, hw))
        assert s.shape == (3, 2, 4, hw, hw) and st.v.shape == (2, 4, hw, hw)
    with pytest.raises(TimeAxisError):
        conv(torch.rand(2, 1, 8, 8))  # no time axis
    with pytest.raises(TimeAxisError):
        conv.neuron(torch.rand(3, 2, 5, 8, 8))  # wrong channel count reaches the neuron
