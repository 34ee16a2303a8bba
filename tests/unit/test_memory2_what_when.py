"""Row 35: heterogeneous Izhikevich reservoir + error-modulated, attention-gated three-factor readout.

Claim: the readout fires at the cued delay with an amplitude proportional to the stimulus
probability (0.25 vs 0.75) and re-adapts after a timing/probability switch without a reset. FORCE
(RLS without forgetting) is the baseline: it also learns, but after the switch it re-adapts more
slowly because its inverse correlation matrix remembers all earlier trials.
"""

import numpy as np
import pytest
import torch

from neurocircuits.learning import force_trial, rls_init, three_factor_trial, three_factor_update
from neurocircuits.models import create_model
from neurocircuits.models.what_when import IzhikevichReservoirConfig, cue_input, what_when_targets

T = 500
N_BANK, N_TRAIN = 40, 30  # trials simulated; the first 30 train, the last 10 test
GATE = np.ones(T)
GATE[:20] = 0.0  # attention opens after the cue


@pytest.fixture(scope="module")
def traces():
    res = create_model("izhikevich_what_when")
    X, _ = res.run(cue_input(N_BANK, T), generator=torch.Generator().manual_seed(1))
    X = X.double().numpy()
    flat = X.reshape(-1, X.shape[2])
    X = (X - flat.mean(0)) / flat.std(0).clip(1e-3)  # standardised traces + a bias feature
    return np.concatenate([X, np.ones(X.shape[:2] + (1,))], 2)


def _amp(X, w, delay):
    m = (X[N_TRAIN:] @ w).mean(0)  # mean readout on held-out trials
    return float(m[delay - 10 : delay + 11].mean()), int(m[50:].argmax() + 50)


def _train(X, w, p, delay, n, rng, lr=0.01):
    Y = what_when_targets(T, delay, rng.random(n) < p)
    for k in range(n):
        w, _ = three_factor_trial(w, X[rng.integers(0, N_TRAIN)], Y[k], GATE, lr)
    return w


@pytest.fixture(scope="module")
def trained(traces):
    rng = np.random.default_rng(0)
    F = traces.shape[2]
    return {p: _train(traces, np.zeros(F), p, 300, 300, rng) for p in (0.25, 0.75)}


def test_readout_fires_at_the_delay_with_amplitude_proportional_to_probability(traces, trained):
    a25, t25 = _amp(traces, trained[0.25], 300)
    a75, t75 = _amp(traces, trained[0.75], 300)
    assert abs(t25 - 300) <= 10 and abs(t75 - 300) <= 10
    assert a25 > 0.05
    assert 2.2 < a75 / a25 < 4.5  # 0.75 / 0.25 = 3


def test_switch_readapts_without_reset_and_faster_than_force(traces, trained):
    rng = np.random.default_rng(1)
    a75_ref, _ = _amp(traces, trained[0.75], 300)
    w = _train(traces, trained[0.25].copy(), 0.75, 200, 100, rng)  # new delay and probability, same weights
    a200, t = _amp(traces, w, 200)
    a300, _ = _amp(traces, w, 300)
    assert abs(t - 200) <= 10
    assert a200 > 0.8 * a75_ref and a200 > 2 * a300
    # FORCE baseline, same schedule (updates every 5 ms)
    st = rls_init(traces.shape[2], alpha=1.0)
    Y = what_when_targets(T, 300, rng.random(100) < 0.25)
    for k in range(100):
        st = force_trial(st, traces[rng.integers(0, N_TRAIN)], Y[k], GATE, every=5)
    f_before, tf = _amp(traces, st.w, 300)
    assert abs(tf - 300) <= 10 and f_before > 0.05  # FORCE learns the first task too
    Y = what_when_targets(T, 200, rng.random(50) < 0.75)
    for k in range(50):
        st = force_trial(st, traces[rng.integers(0, N_TRAIN)], Y[k], GATE, every=5)
    w50 = _train(traces, trained[0.25].copy(), 0.75, 200, 50, np.random.default_rng(2))
    assert _amp(traces, st.w, 200)[0] < _amp(traces, w50, 200)[0]


def test_closed_gate_learns_nothing_and_shapes_are_checked():
    w = np.zeros(4)
    w, err = three_factor_update(w, np.ones(4), target=1.0, gate=0.0, lr=0.5)
    assert err == 1.0 and not w.any()
    w, _ = three_factor_update(w, np.ones(4), target=1.0, gate=1.0, lr=0.5)
    assert np.allclose(w @ np.ones(4), 0.5)  # normalised: eta is the fraction of the error removed
    with pytest.raises(ValueError, match="traces"):
        three_factor_trial(np.zeros(3), np.zeros((5, 3)), np.zeros(4), np.zeros(5), 0.1)
    with pytest.raises(ValueError, match="dt_ms"):
        IzhikevichReservoirConfig(dt_ms=2.0)
    res = create_model("izhikevich_what_when")
    with pytest.raises(ValueError, match=r"cue must be \(batch, time, 1\)"):
        res(torch.zeros(2, 5))


def test_attention_gate_keeps_unattended_cue_outcomes_out_of_the_readout():
    # two cues drive different halves of the reservoir; only cue A is attended (gate open)
    res = create_model("izhikevich_what_when", n_inputs=2)
    cues = torch.cat([cue_input(20, T, channel=0, n_inputs=2), cue_input(20, T, channel=1, n_inputs=2)])
    X, _ = res.run(cues, generator=torch.Generator().manual_seed(3))
    X = X.double().numpy()
    flat = X.reshape(-1, X.shape[2])
    X = (X - flat.mean(0)) / flat.std(0).clip(1e-3)
    X = np.concatenate([X, np.ones(X.shape[:2] + (1,))], 2)
    A_tr, A_te, B_tr, B_te = X[:15], X[15:20], X[20:35], X[35:40]
    closed = np.zeros(T)
    rng = np.random.default_rng(4)
    learned = {}
    for gate_b in ("closed", "open"):
        w = np.zeros(X.shape[2])
        for k in range(300):
            if k % 2 == 0:  # attended: outcome at 300 ms with p = 0.75
                y = what_when_targets(T, 300, np.array([rng.random() < 0.75]))[0]
                w, _ = three_factor_trial(w, A_tr[rng.integers(0, 15)], y, GATE, 0.01)
            else:  # unattended: outcome at 150 ms on every trial
                y = what_when_targets(T, 150, np.array([True]))[0]
                w, _ = three_factor_trial(w, B_tr[rng.integers(0, 15)], y, GATE if gate_b == "open" else closed, 0.01)
        learned[gate_b] = w
    resp_B = {k: float((B_te @ w).mean(0)[140:161].mean()) for k, w in learned.items()}
    resp_A = {k: float((A_te @ w).mean(0)[290:311].mean()) for k, w in learned.items()}
    assert resp_B["open"] > 0.3 and resp_B["closed"] < 0.3 * resp_B["open"]
    assert resp_A["closed"] > 0.15  # the attended association is still learned
