"""Row 94: adaptive gain control in a recurrent orientation population.

Claim: adapting the efficient-coding gains to an over-represented orientation reproduces tuning-curve
repulsion from the adapter, response suppression and decorrelation. Measured: neurons tuned 10-35 deg
from the adapter shift their preference away from it (none towards it), responses of neurons near
the adapter to the adapter fall to ~0.8, and their mean noise correlation drops by ~20 %.
"""

import math

import pytest
import torch

from neurocircuits.models import create_model
from neurocircuits.models.gain_control import (
    GainControlConfig, GainControlPopulation, GainState, adapter_ensemble, mean_pairwise_correlation,
    preferred_orientation,
)

ADAPTER = math.pi / 2


def _wrap(x: torch.Tensor) -> torch.Tensor:
    return (x + math.pi / 2) % math.pi - math.pi / 2


@pytest.fixture(scope="module")
def adapted():
    pop = GainControlPopulation(GainControlConfig())
    th, pu = adapter_ensemble(ADAPTER, 0.0)
    _, pa = adapter_ensemble(ADAPTER, 0.3)
    g0, g1 = pop.adapt(th, pu), pop.adapt(th, pa)
    with torch.no_grad():
        R0, _ = pop(th, g0)
        R1, _ = pop(th, g1)
    return pop, th, pa, g0, g1, R0, R1


def test_gains_solve_the_analytic_optimum(adapted):
    pop, th, pa, g0, g1, R0, R1 = adapted
    # at the fixed point every neuron's response power g^2 E[y^2] equals 1/(2 lambda) - sigma^2
    power = (pa[:, None] * R1**2).sum(0)
    assert torch.allclose(power, torch.full_like(power, pop.cfg.response_power), rtol=1e-6)
    # the objective J_i is maximal there: perturbing one gain either way lowers it
    Ey2 = (pa[:, None] * (R1 / g1.gains) ** 2).sum(0)
    lam, s2 = pop.cfg.activity_cost, pop.cfg.noise_var

    def J(g):
        return 0.5 * torch.log(1 + g**2 * Ey2 / s2) - lam * g**2 * Ey2

    assert bool((J(g1.gains) > J(g1.gains * 1.05)).all() and (J(g1.gains) > J(g1.gains * 0.95)).all())
    # uniform ensemble: all gains equal by symmetry
    assert float(g0.gains.std() / g0.gains.mean()) < 1e-8


def test_adaptation_repels_tuning_suppresses_and_decorrelates(adapted):
    pop, th, pa, g0, g1, R0, R1 = adapted
    dist = _wrap(pop.preferred - ADAPTER)
    shift = _wrap(preferred_orientation(R1, th) - preferred_orientation(R0, th))
    flank = (dist.abs() > math.radians(10)) & (dist.abs() < math.radians(35))
    # repulsion: preference moves away from the adapter on both flanks (sign of the shift = sign of dist)
    assert bool((shift[flank] * torch.sign(dist[flank]) > math.radians(0.3)).all())
    assert float(shift[pop.preferred.isclose(torch.tensor(ADAPTER, dtype=th.dtype))].abs().max()) < 1e-6
    # suppression: neurons near the adapter answer the adapter less
    near = dist.abs() < math.radians(20)
    iA = int(torch.argmin((th - ADAPTER).abs()))
    ratio = R1[iA, near] / R0[iA, near]
    assert bool((ratio < 0.9).all())
    assert bool((g1.gains[near] < g0.gains[near]).all())
    # decorrelation among neurons near the adapter (noise on the feedforward input)
    c0 = mean_pairwise_correlation(pop.noise_covariance(g0), near)
    c1 = mean_pairwise_correlation(pop.noise_covariance(g1), near)
    assert c1 < 0.9 * c0


def test_without_recurrence_gains_only_scale_the_tuning_curves():
    # the control: with W = 0 a gain change cannot shift a tuning curve or change a correlation
    pop = GainControlPopulation(GainControlConfig(recurrent_radius=0.0))
    th, pu = adapter_ensemble(ADAPTER, 0.0)
    _, pa = adapter_ensemble(ADAPTER, 0.3)
    g0, g1 = pop.adapt(th, pu), pop.adapt(th, pa)
    with torch.no_grad():
        R0, _ = pop(th, g0)
        R1, _ = pop(th, g1)
    shift = _wrap(preferred_orientation(R1, th) - preferred_orientation(R0, th))
    assert float(shift.abs().max()) < 1e-9


def test_errors_and_zoo_entry():
    with pytest.raises(ValueError, match="recurrent_radius"):
        GainControlConfig(recurrent_radius=1.0)
    with pytest.raises(ValueError, match="optimal gain is zero"):
        GainControlConfig(activity_cost=10.0, noise_var=0.1)
    pop = create_model("gain_control_population")
    with pytest.raises(ValueError, match="unstable"):
        pop(torch.zeros(3), GainState(torch.full((60,), 2.0, dtype=torch.float64)))
    with pytest.raises(ValueError, match="1-d tensor"):
        pop(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="sum to 1"):
        pop.adapt(torch.zeros(3), torch.ones(3))
