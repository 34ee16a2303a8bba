"""Row 12 experiment: oscillator synchrony binds objects in synthetic 2-4-shape images (ARI > 0.8)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from neurocircuits.data.generators import shapes_images
from neurocircuits.layers.oscillators import bind_objects, cluster_oscillators


def _aris(n_images, n_steps):
    imgs, masks = shapes_images(n_images, 24, (2, 4), seed=0)
    out = []
    for i in range(n_images):
        k = int(masks[i].max())
        osc = bind_objects(imgs[i], n_steps=n_steps, repulsion=2.0, seed=i)
        labels = cluster_oscillators(osc, imgs[i], k)
        fg = masks[i].numpy() > 0
        out.append(adjusted_rand_score(masks[i].numpy()[fg], labels[fg]))
    return np.array(out)


def test_shapes_generator_ground_truth():
    imgs, masks = shapes_images(5, 24, (2, 4), seed=3)
    for img, m in zip(imgs, masks):
        assert 2 <= int(m.max()) <= 4
        assert torch.equal(img > 0, m > 0)


def test_oscillators_bind_shapes_into_objects_fast():
    aris = _aris(4, 200)
    assert aris.mean() > 0.8


def test_phase_oscillators_get_stuck_in_vortices_where_vectors_unwind():
    imgs, masks = shapes_images(1, 24, (2, 4), seed=0)
    fg = masks[0].numpy() > 0
    scores = {}
    for dim in (2, 4):
        osc = bind_objects(imgs[0], n_steps=300, seed=0, osc_dim=dim)
        labels = cluster_oscillators(osc, imgs[0], int(masks[0].max()))
        scores[dim] = adjusted_rand_score(masks[0].numpy()[fg], labels[fg])
    assert scores[4] == pytest.approx(1.0) and scores[2] < 0.5


@pytest.mark.slow
def test_oscillators_bind_shapes_into_objects_20_images():
    aris = _aris(20, 300)
    assert aris.mean() > 0.8 and np.median(aris) == pytest.approx(1.0)


def test_bind_objects_rejects_empty_or_batched_images():
    with pytest.raises(ValueError, match="no foreground"):
        bind_objects(torch.zeros(8, 8))
    with pytest.raises(ValueError, match=r"one \(H, W\) image"):
        bind_objects(torch.zeros(2, 8, 8))
