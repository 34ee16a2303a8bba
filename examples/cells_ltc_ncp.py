"""LTC neurons on an NCP wiring learn the ncps sine task; the wiring is exported as a CircuitGraph.

    OMP_NUM_THREADS=1 python examples/cells_ltc_ncp.py
"""

import numpy as np
import torch

from neurocircuits import models

torch.manual_seed(0)
t = np.linspace(0, 3 * np.pi, 48)
x = torch.tensor(np.stack([np.sin(t), np.cos(t)], 1)[None], dtype=torch.float32)  # [1, 48, 2]
y = torch.tensor(np.sin(2 * t)[None, :, None], dtype=torch.float32)  # [1, 48, 1]

model = models.create_model("ncp_ltc", in_features=2, inter=9, command=5, motor=1, solver="semi_implicit", unfolds=6)
opt = torch.optim.Adam(model.parameters(), lr=0.01)
for step in range(300):
    loss = torch.mean((model(x)[0] - y) ** 2)
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
print(f"MSE after 300 steps: {loss.item():.2e}")

_, _, states = model(x * 50, return_states=True)  # even for huge inputs the state stays in its bounds
lo, hi = model.state_bounds(torch.zeros(1, model.units))
print("state inside proven bounds:", bool(((states >= lo) & (states <= hi)).all()))

graph = model.wiring.to_circuit_graph("ncp")
print(graph, "node kinds:", sorted({n.kind for n in graph.nodes}))
