"""Row 142: an untrained random LIF liquid + linear readout classifies event streams by timing."""

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from neurocircuits.layers.reservoir import LiquidStateMachine, LSMConfig, event_stream_dataset


def test_liquid_readout_far_above_chance_where_spike_counts_are_at_chance():
    X, y = event_stream_dataset(60, 4, seed=0)
    Xt, yt = event_stream_dataset(40, 4, seed=1)
    lsm = LiquidStateMachine(LSMConfig())
    F, Ft = lsm.features(X).numpy(), lsm.features(Xt).numpy()
    acc = LogisticRegression(max_iter=2000, C=0.1).fit(F, y.numpy()).score(Ft, yt.numpy())
    counts = LogisticRegression(max_iter=2000).fit(X.sum(1).numpy(), y.numpy()).score(Xt.sum(1).numpy(), yt.numpy())
    assert acc > 0.9  # chance = 0.25; the liquid is never trained
    assert counts < 0.45  # per-channel counts carry no class information by construction


def test_lsm_checks_input_shape():
    lsm = LiquidStateMachine(LSMConfig(n_inputs=5, n_neurons=20))
    with pytest.raises(ValueError, match=r"\(batch, time, 5\)"):
        lsm.run(torch.zeros(2, 10, 4))
