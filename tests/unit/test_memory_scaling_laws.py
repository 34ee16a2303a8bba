"""Row 68: outer-product associative memories follow the predicted power laws under Zipf inputs."""

import numpy as np
import pytest

from neurocircuits.layers.memories import ESTIMATORS, associative_memory_error, zipf_probabilities


def _slope(xs, errs):
    return float(np.polyfit(np.log(xs), np.log(errs), 1)[0])


@pytest.mark.parametrize("alpha", [1.5, 2.0])
def test_error_vs_samples_follows_unseen_mass_law(alpha):
    # ample memory (d large), q = 1[seen]: E ~ n^{-1 + 1/alpha}
    p = zipf_probabilities(3000, alpha)
    ns = [30, 100, 300, 1000, 3000]
    errs = [np.mean([associative_memory_error(p, 20, 512, n, "seen", seed=s) for s in range(2)]) for n in ns]
    assert _slope(ns, errs) == pytest.approx(-(1 - 1 / alpha), abs=0.06)


def test_error_vs_memory_dimension_follows_interference_law():
    # ample data, q = p (counts): E ~ d^{-(alpha - 1) / (2 alpha)}
    alpha = 2.0
    p = zipf_probabilities(4000, alpha)
    ds = [16, 32, 64, 128, 256]
    errs = [np.mean([associative_memory_error(p, 20, d, None, "counts", seed=s) for s in range(3)]) for d in ds]
    assert _slope(ds, errs) == pytest.approx(-(alpha - 1) / (2 * alpha), abs=0.07)
    assert errs[-1] < errs[0]


def test_estimators_and_inputs():
    assert set(ESTIMATORS.names()) == {"counts", "seen"}
    with pytest.raises(ValueError, match="alpha > 1"):
        zipf_probabilities(10, 1.0)
