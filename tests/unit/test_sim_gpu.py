"""The torch path on CUDA runs the same network as on the CPU (needs a GPU; marked `gpu`)."""

import pytest
import torch

from neurocircuits.sim import build_cuba


@pytest.mark.gpu
def test_cuba_on_cuda_matches_cpu_in_float64():
    if not torch.cuda.is_available():
        # Justified skip: a `gpu`-marked test, deselected by default, for machines with CUDA.
        pytest.skip("no CUDA device")  # justified: gpu-marked, deselected by default
    rates = []
    for device in ("cpu", "cuda"):
        net, o = build_cuba(4000, connectivity="fixed_in_degree", seed=2, device=device, dtype=torch.float64)
        net.backend = "torch"
        net.run(500)
        assert o["neurons"].state.v.device.type == device
        rates.append(o["spikes"].num_spikes / 4000 / 0.5)
    # CUDA's atomic index_add sums in another order: the chaotic network decorrelates, statistics agree
    assert 4.5 < rates[1] < 6.0 and abs(rates[1] - rates[0]) < 0.1 * rates[0]
