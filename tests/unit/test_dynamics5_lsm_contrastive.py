"""Row 142, trainable part: contrastive projection heads on a fixed random liquid."""

import math

import pytest
import torch

from neurocircuits.layers.reservoir import (ContrastiveHeadConfig, LiquidStateMachine, LSMConfig, ProjectionHead,
                                            augment_spikes, event_stream_dataset, nt_xent, train_contrastive_head)
from neurocircuits.layers.reservoir._contrastive_head import liquid_inputs


def knn_accuracy(e_train: torch.Tensor, y_train: torch.Tensor, e_test: torch.Tensor, y_test: torch.Tensor,
                 k: int = 5) -> float:
    nearest = (e_test @ e_train.T).topk(k, dim=1).indices
    return float((torch.mode(y_train[nearest], dim=1).values == y_test).float().mean())


def test_nt_xent_matches_hand_computation() -> None:
    z = torch.eye(2)
    # each row's logits over the other three views: [0, 1, 0] with the positive at 1 (T = 1)
    assert math.isclose(float(nt_xent(z, z.clone(), 1.0)), math.log((2 + math.e) / math.e), rel_tol=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(z, torch.eye(3), 1.0)


def test_augmented_spikes_stay_near_an_original_spike() -> None:
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 50, 6, generator=g) < 0.1).float()
    assert torch.equal(augment_spikes(x, 0.0, 0, g), x)
    y = augment_spikes(x, 0.3, 2, g)
    b, t, c = torch.nonzero(y, as_tuple=True)
    for bi, ti, ci in zip(b.tolist(), t.tolist(), c.tolist()):
        assert x[bi, max(0, ti - 2):ti + 3, ci].sum() > 0  # moved by at most 2 steps
    assert y.sum() < 0.8 * x.sum()  # about 30 % deleted (and a few merged)


def test_contrastive_head_learns_class_structure_without_labels() -> None:
    """Trained on augmented views only, the 32-d embedding separates the classes for a kNN probe
    (labels used only to score); the same head at its initialisation does not."""
    X, y = event_stream_dataset(60, 4, seed=0)
    Xt, yt = event_stream_dataset(40, 4, seed=1)
    lsm = LiquidStateMachine(LSMConfig())
    cfg = ContrastiveHeadConfig(seed=1)
    head, losses = train_contrastive_head(lsm, X, cfg)
    torch.manual_seed(cfg.seed)
    init = ProjectionHead(lsm.cfg.n_neurons * lsm.cfg.n_bins, cfg.hidden, cfg.out_features)  # the trained head's start
    with torch.no_grad():
        f, ft = liquid_inputs(lsm, X), liquid_inputs(lsm, Xt)
        trained = knn_accuracy(head(f), y, head(ft), yt)
        untrained = knn_accuracy(init(f), y, init(ft), yt)
    assert losses[-1] < 0.5 * losses[0]
    assert trained > 0.8  # chance 0.25
    assert trained > untrained + 0.25


def test_head_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="p_drop"):
        ContrastiveHeadConfig(p_drop=1.0)
