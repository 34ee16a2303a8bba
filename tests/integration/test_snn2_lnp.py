"""Row 76: Lyapunov noise pruning (LNP) of a random heterogeneous recurrent SNN, Mackey-Glass forecast."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.analysis.lyapunov_snn import activity_prune, hrsnn_lyapunov, lyapunov_noise_prune, spike_divergence
from neurocircuits.data.generators import mackey_glass
from neurocircuits.models.hrsnn import HRSNN, forecast_nrmse


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_lnp_pruned_hrsnn_is_stable_and_forecasts_better_than_activity_pruning(seed):
    series = torch.tensor(mackey_glass(2500, sample_every=1.0))
    drive = ((series[:800] - series.mean()) / series.std())[:, None, None].clone()
    dense = HRSNN(n_neurons=200, gain=6.0, seed=seed, dtype=torch.float64)
    ld = hrsnn_lyapunov(dense)
    assert ld.exponent - 2 * ld.sem > 0  # the dense random network starts chaotic
    div_dense = spike_divergence(dense, drive)
    for keep in (0.5, 0.3):
        lnp, info = lyapunov_noise_prune(dense, keep, seed=seed)
        act = activity_prune(dense, keep, seed=seed)
        assert info["sparsity"] == pytest.approx(act.sparsity(), abs=2e-3)  # equal sparsity
        assert info["exponent"] + 2 * info["sem"] <= 0  # stable (smoothed dynamics)
        # the spike trains (nearly) forget a perturbed initial membrane, unlike the dense network's
        div = spike_divergence(lnp, drive)
        assert div <= 0.01 and div < 0.5 * div_dense, (div, div_dense)
        e_lnp = forecast_nrmse(lnp, series, horizon=10)
        e_act = forecast_nrmse(act, series, horizon=10)
        print(f"seed={seed} keep={keep} lambda_lnp={info['exponent']:.4f} div={div:.4f}/{div_dense:.4f} "
              f"nrmse lnp={e_lnp:.3f} activity={e_act:.3f}")
        assert e_lnp < e_act, (seed, keep, e_lnp, e_act)
