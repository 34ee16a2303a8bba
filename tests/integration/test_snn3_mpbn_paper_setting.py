"""Row 120 in the paper's setting: MPBN on top of the usual BatchNorm after each convolution.

``spiking_conv`` 8-16 channels, conv + BatchNorm + (hard-reset LIF | MPBN-LIF) in the hidden blocks,
the same hard-reset LIF read-out in both, 10 epochs on digits, T = 2, seeds 0-5. Measured test
accuracy (folded MPBN, i.e. plain LIF with per-channel thresholds, scores exactly the same):

    LIF   0.851 0.851 0.797 0.829 0.840 0.822   mean 0.832
    MPBN  0.862 0.871 0.851 0.813 0.875 0.811   mean 0.847  (+1.5 points, 4 of 6 seeds)

At T = 4 the same comparison shows no gain (0.881 vs 0.880, seeds 0-2; docs/readme/snn.md). The gain
is small and seed-dependent; evaluating MPBN with per-step batch statistics instead of the running
statistics that the fold uses would give 2-3 points more, so part of MPBN's training-time benefit is
lost by pooling the statistics of all time steps into one threshold.
"""

from __future__ import annotations

import pytest
import torch

from neurocircuits.data.datasets import digits
from neurocircuits.layers.spiking import make_neuron
from neurocircuits.learning.bptt import BPTTConfig, evaluate, train_classifier
from neurocircuits.models import create_model


def _train(neuron: str, seed: int, d) -> float:
    torch.manual_seed(seed)
    kw = {"reset": "hard"} if neuron == "lif" else {}
    net = create_model("spiking_conv", channels=(8, 16), time_steps=2, neuron=neuron, **kw)  # BatchNorm after each conv
    net.out.neuron = make_neuron("lif", 10, reset="hard")
    train_classifier(net, d.x_train, d.y_train, d.x_test, d.y_test, BPTTConfig(epochs=10, progress=False, seed=seed))
    acc = evaluate(net, d.x_test, d.y_test)[0]
    if neuron == "mpbn_lif":
        for block in net.blocks:
            block.neuron = block.neuron.fold()
        assert evaluate(net, d.x_test, d.y_test)[0] == acc  # folded into thresholds: the same classifier
    return acc


@pytest.mark.slow
def test_mpbn_improves_conv_snn_with_conv_batchnorm_at_two_steps():
    d = digits(layout="image")
    plain = [_train("lif", s, d) for s in range(6)]
    mpbn = [_train("mpbn_lif", s, d) for s in range(6)]
    assert sum(mpbn) / 6 > sum(plain) / 6 + 0.01, (plain, mpbn)
    assert sum(m > p for m, p in zip(mpbn, plain)) >= 4, (plain, mpbn)
