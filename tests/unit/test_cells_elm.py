"""ELM neuron (catalog row 29): leaky memory with learnable timescales; (slow) a < 10k-parameter ELM
learns the adding task over 50 steps where a parameter-matched LSTM stays at chance level."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from neurocircuits import models
from neurocircuits.layers.cells import ELM, InputShapeError


def test_memory_decays_with_its_timescale_without_input_drive():
    m = ELM(1, 1, d_memory=3, tau_min=2.0, tau_max=50.0, dtype=torch.float64)
    layer = m.layers[0]
    with torch.no_grad():  # switch the MLP off: Delta m = 0, so m_t = kappa^t m_0
        for p in layer.mlp.parameters():
            p.zero_()
    m0 = torch.ones(1, 3, dtype=torch.float64)
    _, st = m(torch.zeros(1, 10, 1, dtype=torch.float64), (( m0,),))
    expected = torch.exp(-10 / layer.tau())
    torch.testing.assert_close(st.m[0][0], expected)
    torch.testing.assert_close(layer.tau(), torch.tensor([2.0, 10.0, 50.0], dtype=torch.float64))


def test_elm_stacks_shapes_dtype_errors():
    for dtype in (torch.float32, torch.float64):
        m = models.create_model("elm", in_features=3, out_features=2, layers=2, dtype=dtype)
        y, st = m(m.example_input(2, 6))
        assert y.shape == (2, 6, 2) and y.dtype == dtype and len(st.m) == 2
        m(m.example_input(2, 3), st)[0].sum().backward()
        assert m.layers[0].log_tau.grad is not None
    with pytest.raises(InputShapeError):
        ELM(3)(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="tau_min"):
        ELM(3, tau_min=5.0, tau_max=1.0)


def _adding(b: int, steps: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    u = torch.rand(b, steps, generator=gen)
    mark = torch.zeros(b, steps)
    rows = torch.arange(b)
    mark[rows, torch.randint(0, steps // 2, (b,), generator=gen)] = 1
    mark[rows, torch.randint(steps // 2, steps, (b,), generator=gen)] = 1
    return torch.stack([u, mark], -1), (u * mark).sum(1, keepdim=True)


class _LSTM(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.out(self.lstm(x)[0]), None


def _train(model: nn.Module, steps: int, iters: int = 400) -> float:
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(iters):
        x, y = _adding(64, steps, gen)
        loss = ((model(x)[0][:, -1] - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    x, y = _adding(1000, steps, torch.Generator().manual_seed(9))
    with torch.no_grad():
        return float(((model(x)[0][:, -1] - y) ** 2).mean())


@pytest.mark.slow
def test_elm_solves_adding_task_where_param_matched_lstm_fails():
    torch.manual_seed(0)
    elm = ELM(2, 1, d_memory=16, d_mlp=32, tau_max=50.0)
    torch.manual_seed(0)
    lstm = _LSTM(20)
    n_elm, n_lstm = (sum(p.numel() for p in m.parameters()) for m in (elm, lstm))
    assert n_elm < 10_000 and n_elm <= n_lstm
    chance = 1 / 6  # variance of the sum of two U(0, 1) numbers
    mse_elm, mse_lstm = _train(elm, 50), _train(lstm, 50)
    assert mse_elm < 0.15 * chance, mse_elm
    assert mse_lstm > 0.8 * chance, mse_lstm
    assert math.isfinite(mse_elm)


def _synthetic_neuron(b: int, steps: int, gen: torch.Generator, n_syn: int = 32,
                      branches: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed synthetic dendritic neuron: Poisson inputs (rates 0.02-0.1 per step, a quarter of the
    synapses inhibitory) -> AMPA (tau 5) and NMDA (tau 50) traces -> four branches with a linear
    AMPA part and a sigmoidal NMDA plateau ``2 sigmoid(2 (drive - 2))`` -> leaky soma (tau 20).
    Returns (spikes ``[b, steps, n_syn]``, somatic voltage ``[b, steps, 1]``)."""
    g = torch.Generator().manual_seed(123)
    w = torch.rand(n_syn, generator=g) * 2.0
    w[: n_syn // 4] *= -1.0
    branch_of = torch.arange(n_syn) % branches
    rate = 0.02 + 0.08 * torch.rand(b, 1, n_syn, generator=gen)
    spikes = (torch.rand(b, steps, n_syn, generator=gen) < rate).float()
    ampa, nmda, v = torch.zeros(b, n_syn), torch.zeros(b, n_syn), torch.zeros(b)
    decay_soma = math.exp(-1 / 20)
    out = []
    for t in range(steps):
        ampa = ampa * math.exp(-1 / 5) + spikes[:, t]
        nmda = nmda * math.exp(-1 / 50) + spikes[:, t]
        drive_a = torch.zeros(b, branches).index_add_(1, branch_of, ampa * w)
        drive_n = torch.zeros(b, branches).index_add_(1, branch_of, nmda * w)
        dend = 0.3 * drive_a + 2.0 * torch.sigmoid(2.0 * (drive_n - 2.0))
        v = v * decay_soma + (1 - decay_soma) * dend.sum(1)
        out.append(v)
    return spikes, torch.stack(out, 1)[..., None]


class _LSTM32(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(32, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.out(self.lstm(x)[0]), None


@pytest.mark.slow
def test_elm_fits_a_synthetic_dendritic_neuron_better_than_a_param_matched_lstm():
    """Row 29, first half: 300 Adam steps (lr 5e-3, batch 32) on 256 sequences of 200 steps; test MSE
    of the standardised somatic voltage (variance 1) after a 50-step warm-up."""
    gen = torch.Generator().manual_seed(0)
    x_tr, y_tr = _synthetic_neuron(256, 200, gen)
    x_te, y_te = _synthetic_neuron(128, 200, gen)
    mu, sd = y_tr.mean(), y_tr.std()
    y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
    results = {}
    for name, make in (("elm", lambda: ELM(32, 1, d_memory=16, d_mlp=32, tau_max=100.0)), ("lstm", lambda: _LSTM32(13))):
        torch.manual_seed(0)
        model = make()
        opt = torch.optim.Adam(model.parameters(), 5e-3)
        gen_b = torch.Generator().manual_seed(1)
        for _ in range(300):
            i = torch.randint(0, 256, (32,), generator=gen_b)
            loss = ((model(x_tr[i])[0][:, 50:] - y_tr[i][:, 50:]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        with torch.no_grad():
            results[name] = (float(((model(x_te)[0][:, 50:] - y_te[:, 50:]) ** 2).mean()),
                             sum(p.numel() for p in model.parameters()))
    (mse_elm, n_elm), (mse_lstm, n_lstm) = results["elm"], results["lstm"]
    assert n_elm < 10_000 and n_elm <= n_lstm, results
    assert mse_elm < 0.03 and mse_elm < 0.6 * mse_lstm, results
