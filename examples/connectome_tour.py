"""Connectome tour: load the C. elegans connectome, draw it, build a fixed-wiring RNN, ablate a
sense, and fit a connectome-constrained next-step model to synthetic activity.

Run: OMP_NUM_THREADS=1 python examples/connectome_tour.py   (needs the [connectomes] extra; ~30 s)
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from neurocircuits import data, models
from neurocircuits.data.connectomes import connectome_svg
from neurocircuits.data.recordings import connectome_activity
from neurocircuits.models.connectome import fit_next_step


def main() -> None:
    worm = data.connectome("celegans/cook2019_herm")
    chem = worm.select(kind="chemical")
    print(worm, "-", chem.n_edges, "chemical,", worm.n_edges - chem.n_edges, "gap-junction edges")
    print("AVAL receives from", len(worm.predecessors("AVAL")), "neurons")
    connectome_svg(worm, "connectome_cook2019_herm.svg", max_edges=500)
    print("wrote connectome_cook2019_herm.svg")
    for row in data.list_connectomes()[:4]:
        print(f"  {row.name:28s} {row.n_neurons:4d} neurons {row.n_chemical:5d} chemical  {row.paper[:40]}")

    # a fixed-connectome RNN: digits enter through the 83 sensory neurons, 123 motor neurons read out
    x, y = load_digits(return_X_y=True)
    torch.manual_seed(0)
    order = torch.randperm(len(y))
    x = torch.tensor((x - x.mean(0)) / (x.std(0) + 1.0), dtype=torch.float32)[order]
    y = torch.tensor(y)[order]
    rnn = models.create_model("connectome_rnn", graph=worm, trainable="io", activation="relu",
                              spectral_radius=2.0, dt_over_tau=1.0)
    opt = torch.optim.Adam([p for p in rnn.parameters() if p.requires_grad], lr=3e-3)
    for epoch in range(10):
        for i in range(0, 1200, 32):
            loss = torch.nn.functional.cross_entropy(rnn(x[i:i + 32])[0][:, -1], y[i:i + 32])
            opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        acc = (rnn(x[1200:])[0][:, -1].argmax(1) == y[1200:]).float().mean().item()
        with rnn.ablated("SN1"):
            acc_sn1 = (rnn(x[1200:])[0][:, -1].argmax(1) == y[1200:]).float().mean().item()
    print(f"connectome RNN (I/O trained only): test accuracy {acc:.3f}; with sensory group SN1 ablated {acc_sn1:.3f}")

    # connectome-constrained next-step prediction of (synthetic) activity
    rec, _ = connectome_activity(worm, n_steps=800, seed=0)
    act = rec.align(worm.node_names()).to_tensor()
    ar = models.create_model("connectome_ar", graph=worm)
    fit_next_step(ar, act[:600], epochs=100, lr=2e-2)
    with torch.no_grad():
        mse = torch.mean((ar(act[600:-1].unsqueeze(0))[0][0] - act[601:]) ** 2).item()
    base = torch.mean((act[:600].mean(0) - act[601:]) ** 2).item()
    print(f"next-step MSE: connectome model {mse:.4f} vs mean baseline {base:.4f}")


if __name__ == "__main__":
    main()
