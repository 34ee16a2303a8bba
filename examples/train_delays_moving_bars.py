"""Learnable heterogeneous synaptic delays detect the direction of a moving bar (catalog row 84).

    OMP_NUM_THREADS=1 python examples/train_delays_moving_bars.py
"""

import torch

from neurocircuits.data.datasets import load_dataset
from neurocircuits.layers.spiking import DelayLinear

ds = load_dataset("moving_bars", n=600)
torch.manual_seed(0)
layer = DelayLinear(16, 2, max_delay=12)
opt = torch.optim.Adam(layer.parameters(), lr=5e-2)


def fit(steps: int) -> None:
    for _ in range(steps):
        y, _ = layer(ds.x_train)  # (time, batch, 2): logistic regression on delayed events
        loss = torch.nn.functional.cross_entropy(torch.logsumexp(y, 0), ds.y_train) + 3e-3 * layer.weight.abs().sum()
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def accuracy() -> float:
    return float((torch.logsumexp(layer(ds.x_test)[0], 0).argmax(1) == ds.y_test).float().mean())


fit(60)
print(f"direction accuracy {accuracy():.3f}")
layer.prune(0.75)
fit(20)
print(f"after pruning 75% of synapses and 20 fine-tuning steps: {accuracy():.3f}")
print("learned delays (steps) of the kept synapses:", layer.delay.clamp(0, 11)[layer.mask > 0].detach().round().tolist())
