"""NCAP swimmer (row 27): swimmer physics sanity and the sign-constrained circuit."""

from __future__ import annotations

import math

import pytest
import torch

from neurocircuits.models import create_model
from neurocircuits.models.ncap import (
    SwimmerConfig,
    centre_of_mass,
    evolve,
    mlp_n_params,
    ncap_action,
    ncap_n_params,
    swim_distance,
    swimmer_initial_state,
    swimmer_step,
)


def _wave_distance(direction: int, n_steps: int = 150) -> float:
    cfg = SwimmerConfig()
    s = swimmer_initial_state(cfg, 1)
    start = centre_of_mass(cfg, s)
    k = torch.arange(cfg.n_links - 1, dtype=torch.float64)
    for step in range(n_steps):
        t = step * cfg.dt_s
        s = swimmer_step(cfg, s, torch.sin(2 * math.pi * t - direction * 2 * math.pi * k / (cfg.n_links - 1))[None])
    return float(-(centre_of_mass(cfg, s)[0, 0] - start[0, 0]))


def test_swimmer_moves_against_its_body_wave() -> None:
    # resistive-force theory with c_n > c_t: a head-to-tail wave pushes the body head-first,
    # the reversed wave pushes it backwards
    forward, backward = _wave_distance(+1), _wave_distance(-1)
    assert forward > 1.0 and backward < -1.0


def test_swimmer_without_drag_anisotropy_or_motion_stays_put() -> None:
    cfg = SwimmerConfig()
    s = swimmer_initial_state(cfg, 3)
    for _ in range(20):
        s = swimmer_step(cfg, s, torch.zeros(3, cfg.n_links - 1, dtype=torch.float64))
    assert torch.equal(s.head, torch.zeros(3, 2)) and torch.equal(s.theta, torch.zeros(3, cfg.n_links - 1))
    # isotropic drag: the force balance pins the centre of mass (up to the integrator's O(dt^2))
    iso = SwimmerConfig(drag_normal=1.0, drag_tangential=1.0, dt_s=0.005)
    d_iso = swim_distance("ncap", torch.ones(1, ncap_n_params(5)), cfg=iso, duration_s=3.0)
    assert abs(float(d_iso[0])) < 0.02
    # the swimming distance has converged in dt: 0.02 s (the default) vs 0.005 s within 5 %
    coarse = swim_distance("ncap", torch.ones(1, ncap_n_params(5)), duration_s=3.0)
    fine = swim_distance("ncap", torch.ones(1, ncap_n_params(5)), cfg=SwimmerConfig(dt_s=0.005), duration_s=3.0)
    assert float(fine[0]) > 2.0 and abs(float(coarse[0]) / float(fine[0]) - 1) < 0.05


def test_ncap_signs_are_enforced_and_ablatable() -> None:
    J = 5
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(4, ncap_n_params(J), generator=gen, dtype=torch.float64)
    theta = torch.randn(4, J, generator=gen, dtype=torch.float64) * 0.5
    t = torch.full((4,), 0.3, dtype=torch.float64)
    signed = ncap_action(p, theta, t, 1.0, 1.0, signed=True)
    assert torch.equal(signed, ncap_action(p.abs(), theta, t, 1.0, 1.0, signed=True))  # only magnitudes matter
    assert not torch.equal(signed, ncap_action(p, theta, t, 1.0, 1.0, signed=False))
    assert signed.abs().max() <= 1.0
    model = create_model("ncap_swimmer", n_joints=J)
    assert sum(p.numel() for p in model.parameters()) == ncap_n_params(J) == 15
    a, state = model(theta)
    assert a.shape == (4, J) and torch.allclose(state.t_s, torch.full((4,), 0.02, dtype=torch.float64))
    with pytest.raises(ValueError, match="needs 15 parameters"):
        ncap_action(p[:, :3], theta, t, 1.0, 1.0)


def test_ncap_prior_swims_before_training() -> None:
    # unit weights already give a head-to-tail travelling wave through proprioceptive coupling
    d = swim_distance("ncap", torch.ones(1, ncap_n_params(5)), duration_s=3.0)
    assert float(d[0]) > 2.0


@pytest.mark.slow
def test_row27_ncap_near_mlp_and_sign_constraints_help() -> None:
    J = 5
    signed = [evolve("ncap", ncap_n_params(J), iterations=50, lr=0.1, seed=s)[1][-1] for s in range(3)]
    unsigned = [evolve("ncap", ncap_n_params(J), iterations=50, lr=0.1, seed=s, signed=False)[1][-1] for s in range(3)]
    mlp = evolve("mlp", mlp_n_params(J, 16), iterations=50, seed=0)[1][-1]
    print(f"NCAP (15 params) {signed}; unsigned {unsigned}; MLP ({mlp_n_params(J, 16)} params) {mlp:.2f}")
    assert min(signed) > 0.6 * mlp               # tens of parameters swim near the trained MLP
    assert sum(unsigned) / 3 < 0.75 * sum(signed) / 3   # removing the sign constraints hurts learning
