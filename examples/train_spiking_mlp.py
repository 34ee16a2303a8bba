"""Train a spiking MLP on scikit-learn digits by surrogate-gradient BPTT, then report spike rates
and the SOP/MAC energy estimate. Runs in ~5 s on one CPU core.

    OMP_NUM_THREADS=1 python examples/train_spiking_mlp.py
"""

import torch

from neurocircuits.data.datasets import digits
from neurocircuits.learning.bptt import BPTTConfig, evaluate, train_classifier
from neurocircuits.models import create_model
from neurocircuits.models.spiking import energy_estimate

torch.manual_seed(0)
data = digits()  # 1348 train / 449 test, values in [0, 1]
net = create_model("spiking_mlp", in_features=64, hidden=[128], out_features=10,
                   neuron="lif", encoding="direct", time_steps=25, surrogate="atan", reset="soft")
result = train_classifier(net, data.x_train, data.y_train, data.x_test, data.y_test,
                          BPTTConfig(epochs=15), checkpoint="runs/spiking_mlp.pt", resume=True)
acc, rates = evaluate(net, data.x_test, data.y_test)
energy = energy_estimate(net, data.x_test[:256])
print(f"test accuracy {acc:.3f}; spike rates per layer {[round(r, 3) for r in rates]}")
print(f"energy per inference: SNN {energy.snn_energy_pj / 1e3:.1f} nJ vs ANN {energy.ann_energy_pj / 1e3:.1f} nJ")
