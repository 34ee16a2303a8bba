"""Additive fast weights are linear attention; the delta rule overwrites what a key stores.

    OMP_NUM_THREADS=1 python examples/cells_fast_weights.py
"""

import torch

from neurocircuits import models
from neurocircuits.layers.cells import linear_attention

torch.manual_seed(0)
fwp = models.create_model("fast_weights", in_features=4, d_key=8, d_value=8, rule="additive", normalize=False,
                          dtype=torch.float64)
x = torch.randn(2, 12, 4, dtype=torch.float64)
y, state = fwp(x)
q, k, v, _ = fwp.project(x)
print("additive FWP == linear attention:", torch.allclose(y, linear_attention(q, k, v), atol=1e-12))
print("fast weight state:", tuple(state.W.shape))
