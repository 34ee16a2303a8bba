"""STEP-style spiking transformer on digits; swap the neuron or the encoding by name.

    OMP_NUM_THREADS=1 python examples/train_spiking_transformer.py
"""

import torch

from neurocircuits.data.datasets import digits
from neurocircuits.learning.bptt import BPTTConfig, train_classifier
from neurocircuits.models import create_model
from neurocircuits.models.spiking import energy_estimate

data = digits(layout="image")
for neuron, encoding in [("lif", "direct"), ("plif", "direct"), ("if", "rate")]:
    torch.manual_seed(0)
    net = create_model("spiking_transformer", neuron=neuron, encoding=encoding, time_steps=4, dim=32, heads=4)
    res = train_classifier(net, data.x_train, data.y_train, data.x_test, data.y_test,
                           BPTTConfig(epochs=10, lr=1e-2, decoder="mean", progress=False))
    e = energy_estimate(net, data.x_test[:128])
    print(f"{neuron:5s} {encoding:7s} test acc {res.test_accuracy:.3f}  energy {e.snn_energy_pj / 1e3:.1f} nJ "
          f"(ANN {e.ann_energy_pj / 1e3:.1f} nJ)")
