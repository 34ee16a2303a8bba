"""Wave-RNN (catalog row 61): travelling waves on the hidden ring; (slow) lower copy-task error than
an iRNN of equal hidden size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neurocircuits import models
from neurocircuits.layers import cache_activations
from neurocircuits.layers.cells import IRNN, InputShapeError, WaveRNN, wave_speed


def test_pulse_travels_one_position_per_step_at_init():
    m = WaveRNN(1, n=16, channels=1, out_features=1, dtype=torch.float64)
    with torch.no_grad():
        m.input.weight.fill_(1.0)
        m.input.bias.zero_()
    x = torch.zeros(1, 10, 1, dtype=torch.float64)
    x[0, 0, 0] = 1.0  # one pulse at ring position 0, then silence
    with cache_activations(m) as cache:
        m(x)
    h = cache["hook_h"][0]  # [time, 16]
    assert [int(h[t].argmax()) for t in range(10)] == list(range(10))
    torch.testing.assert_close(h.sum(dim=1), torch.ones(10, dtype=torch.float64))  # the pulse is conserved
    assert wave_speed(cache["hook_h"], 1, 16) == pytest.approx(1.0)


def test_shapes_dtypes_errors():
    for dtype in (torch.float32, torch.float64):
        for m in (WaveRNN(3, n=8, channels=2, out_features=4, dtype=dtype), IRNN(3, 16, 4, dtype=dtype)):
            y, st = m(m.example_input(2, 6))
            assert y.shape == (2, 6, 4) and y.dtype == dtype
            m(m.example_input(2, 3), st)[0].sum().backward()
    with pytest.raises(InputShapeError):
        WaveRNN(3)(torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match="odd"):
        WaveRNN(3, kernel_size=4)
    assert isinstance(models.create_model("wave_rnn"), WaveRNN)


K, L, D = 8, 10, 10


def _copy_batch(b: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    seq = torch.randint(1, K, (b, L), generator=gen)
    x = torch.zeros(b, L + D + L, K + 1)
    x[:, :L].scatter_(2, seq.unsqueeze(-1), 1.0)
    x[:, L + D - 1, K] = 1.0  # "go" cue
    return x, seq


def _train_copy(model: nn.Module, steps: int = 300) -> float:
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    losses = []
    for _ in range(steps):
        x, seq = _copy_batch(64, gen)
        logits = model(x)[0][:, L + D:]
        loss = nn.functional.cross_entropy(logits.reshape(-1, K), seq.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    return sum(losses[-20:]) / 20


@pytest.mark.slow
def test_wave_rnn_beats_irnn_on_copy_and_keeps_travelling_waves():
    torch.manual_seed(0)
    wave = WaveRNN(K + 1, n=32, channels=2, out_features=K)
    torch.manual_seed(0)
    irnn = IRNN(K + 1, units=64, out_features=K)  # equal hidden size: 2 channels x 32 positions
    loss_wave, loss_irnn = _train_copy(wave), _train_copy(irnn)
    assert loss_wave < loss_irnn < 1.95, (loss_wave, loss_irnn)  # 1.95 = ln 7, chance
    x, _ = _copy_batch(8, torch.Generator().manual_seed(5))
    with torch.no_grad(), cache_activations(wave) as cache:
        wave(x)
    assert wave_speed(cache["hook_h"], 2, 32) == pytest.approx(1.0, abs=0.25)
