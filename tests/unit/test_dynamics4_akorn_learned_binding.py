"""Row 12 with a learned coupling: a trainable AKOrN (conv encoder -> stimulus c, unit-vector
oscillators, learned local coupling K, unrolled Kuramoto updates, count readout) trained only to
count the objects (no masks) binds the pixels of each shape by synchrony.

Fast tests check the pieces against closed forms; the slow test trains the network and its control
(same network, same objective, coupling frozen at initialisation) and scores phase clustering
against the true masks on held-out images.
"""

import math

import numpy as np
import pytest
import torch

from neurocircuits.data.generators import shapes_images
from neurocircuits.layers.oscillators import (
    AKOrNState,
    BindingAKOrN,
    BindingAKOrNConfig,
    binding_ari,
    soft_cluster_count,
    train_binding_akorn,
)
from neurocircuits.models import create_model

D64 = torch.float64


def _model(**kw):
    torch.manual_seed(0)
    return BindingAKOrN(BindingAKOrNConfig(**kw), dtype=D64)


def _phase_step_reference(theta, m, K, c, gamma):
    """theta_i + arctan(gamma (sum_d K_d m_i m_{i+d} sin(theta_{i+d} - theta_i) + |c_i| sin(psi_i - theta_i)))."""
    H, W = theta.shape
    r = K.shape[0] // 2
    out = np.empty_like(theta)
    for i in range(H):
        for j in range(W):
            s = 0.0
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    a, b = i + di, j + dj
                    if 0 <= a < H and 0 <= b < W:
                        s += K[di + r, dj + r] * m[i, j] * m[a, b] * math.sin(theta[a, b] - theta[i, j])
            s += c[0, i, j] * -math.sin(theta[i, j]) + c[1, i, j] * math.cos(theta[i, j])
            out[i, j] = theta[i, j] + math.atan(gamma * s)
    return out


def test_one_update_is_the_analytic_kuramoto_phase_step():
    model = _model(osc_dim=2, n_steps=1, gamma=0.3, kernel_size=3)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.coupling_raw.copy_(torch.randn(3, 3, generator=g, dtype=D64))
    K = model.coupling_kernel.detach().numpy()
    assert np.allclose(K, K[::-1, ::-1])  # symmetric coupling: K_d = K_{-d}
    theta = torch.rand(7, 6, generator=g, dtype=D64) * 2 * math.pi
    m = torch.rand(7, 6, generator=g, dtype=D64)  # graded intensities, not only 0/1
    c = 0.5 * torch.randn(2, 7, 6, generator=g, dtype=D64)
    x0 = torch.stack([theta.cos(), theta.sin()])[None]
    x1, energies = model.run(x0, c[None], m[None])
    expected = _phase_step_reference(theta.numpy(), m.numpy(), K, c.numpy(), 0.3)
    got = torch.atan2(x1[0, 1], x1[0, 0]).detach().numpy()
    assert np.allclose(np.angle(np.exp(1j * (got - expected))), 0.0, atol=1e-12)
    # the recorded energy is -sum <x, c + Jx / 2> before the step
    jx = model.coupling(x0, m[None])
    assert energies[0, 0].item() == pytest.approx(-(x0 * (c[None] + 0.5 * jx)).sum().item(), rel=1e-12)


def test_gradient_flows_through_the_unrolled_steps_and_matches_finite_differences():
    model = _model(osc_dim=3, n_steps=6, kernel_size=3, coupling_init_std=0.3)
    img = model.example_input(1)[:, :8, :8]
    state = model.initial_state(img, torch.Generator().manual_seed(0))

    def loss_of(raw):
        x, _ = model.run(state.x, model.stimulus(img), img, kernel=0.5 * (raw + raw.flip(0, 1)))
        return model.count(x, img).log()

    raw = model.coupling_raw.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(loss_of, (raw,), eps=1e-6, atol=1e-6)
    x0 = state.x.clone().requires_grad_(True)
    x, _ = model.run(x0, model.stimulus(img), img)
    model.count(x, img).sum().backward()
    assert model.coupling_raw.grad.abs().sum() > 0 and torch.isfinite(model.coupling_raw.grad).all()
    assert x0.grad[:, :, img[0] > 0].abs().sum() > 0  # the loss reaches back to the initial oscillators
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_dynamics_commute_with_a_common_rotation_and_with_translation():
    model = _model(osc_dim=4, n_steps=15, coupling_init_std=0.3)
    g = torch.Generator().manual_seed(2)
    img = torch.zeros(1, 12, 12, dtype=D64)
    img[0, 2:6, 3:7] = 1.0
    img[0, 8:10, 5:9] = 0.7
    x0 = model.initial_state(img, g).x
    c = model.stimulus(img).detach() + 0.2 * torch.randn(1, 4, 12, 12, generator=g, dtype=D64)
    R, _ = torch.linalg.qr(torch.randn(4, 4, generator=g, dtype=D64))
    rot = lambda x: torch.einsum("ij,bjhw->bihw", R, x)  # noqa: E731
    with torch.no_grad():
        x, _ = model.run(x0, c, img)
        assert torch.allclose(model.run(rot(x0), rot(c), img)[0], rot(x), atol=1e-12)
        shift = lambda t: torch.roll(t, (1, 2), dims=(-2, -1))  # noqa: E731  (objects stay off the border)
        assert torch.allclose(model.run(shift(x0), shift(c), shift(img))[0], shift(x), atol=1e-12)


def test_soft_count_of_separated_clusters_is_their_number_and_ignores_order_and_rotation():
    g = torch.Generator().manual_seed(3)
    for k in (1, 2, 3, 4):
        sizes = torch.randint(3, 40, (k,), generator=g).tolist()
        x = torch.cat([torch.eye(5, dtype=D64)[i].repeat(n, 1) for i, n in enumerate(sizes)]).T[None]
        w = torch.ones(1, x.shape[-1], dtype=D64)
        assert soft_cluster_count(x, w, beta=50.0).item() == pytest.approx(k, abs=1e-15 * x.shape[-1] + 1e-12)
        perm = torch.randperm(x.shape[-1], generator=g)
        R, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=D64))
        assert soft_cluster_count((R @ x[0])[None][..., perm], w, 50.0).item() == pytest.approx(k, abs=1e-9)
    # zero-weight (background) pixels are not counted, whatever their oscillators do
    x = torch.nn.functional.normalize(torch.randn(1, 3, 10, generator=g, dtype=D64), dim=1)
    x[..., :6] = torch.tensor([1.0, 0.0, 0.0], dtype=D64)[:, None]
    w = torch.zeros(1, 10, dtype=D64)
    w[0, :6] = 1.0
    assert soft_cluster_count(x, w, 8.0).item() == pytest.approx(1.0)


def test_forward_contract_and_clear_errors():
    model = create_model("akorn_binding", n_steps=3, dtype=D64)
    img = model.example_input(2)
    x, state, energies = model(img)
    assert x.shape == (2, 4, 12, 12) and isinstance(state, AKOrNState) and energies.shape == (3, 2)
    assert torch.allclose(x.norm(dim=1), torch.ones(2, 12, 12, dtype=D64))
    x2, _, _ = model(img, state=AKOrNState(x))  # resume from a state
    assert torch.isfinite(x2).all()
    with pytest.raises(ValueError, match=r"\(batch, H, W\)"):
        model(img[0])
    with pytest.raises(ValueError, match="state.x has shape"):
        model(img, state=AKOrNState(x[:, :2]))
    with pytest.raises(ValueError, match="odd"):
        BindingAKOrNConfig(kernel_size=4)
    with pytest.raises(ValueError, match="counts >= 1"):
        train_binding_akorn(model, img, torch.zeros(2), n_iters=1, progress=False)


def _train_and_score(freeze: bool, seed: int = 0):
    imgs, masks = shapes_images(4000, 20, (2, 4), seed=1)
    counts = masks.flatten(1).max(1).values
    torch.manual_seed(seed)
    model = BindingAKOrN(BindingAKOrNConfig())
    init = model.coupling_kernel.detach().clone()
    losses = train_binding_akorn(model, imgs, counts, n_iters=300, freeze_coupling=freeze, seed=seed,
                                 progress=False)
    test_imgs, test_masks = shapes_images(40, 20, (2, 4), seed=999)
    return model, init, losses, binding_ari(model, test_imgs, test_masks)


@pytest.mark.slow
def test_learned_coupling_binds_shapes_and_frozen_coupling_does_not():
    model, init, losses, aris = _train_and_score(freeze=False)
    _, _, frozen_losses, frozen_aris = _train_and_score(freeze=True)
    K = model.coupling_kernel.detach()
    neighbours = torch.ones(3, 3, dtype=torch.bool)
    neighbours[1, 1] = False
    assert (K[neighbours] > 0.1).all(), K  # learned: attraction between neighbouring pixels
    assert aris.mean() > 0.8 and np.median(aris) > 0.9, aris
    assert frozen_aris.mean() < 0.3, frozen_aris
    assert np.mean(losses[-50:]) < np.mean(frozen_losses[-50:])
