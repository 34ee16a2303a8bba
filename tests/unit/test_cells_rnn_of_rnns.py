"""RNNs of RNNs (catalog row 14): a random assembly of 4 contracting modules with skew-symmetric
coupling contracts (trajectories from different initial states converge exponentially, within the
analytic bound) before and after training on sequential digits."""

from __future__ import annotations

import pytest
import torch
from sklearn.datasets import load_digits

from neurocircuits import models
from neurocircuits.layers.cells import AssemblyState, ContractiveRNNAssembly


def _distances(net: ContractiveRNNAssembly, u: torch.Tensor) -> torch.Tensor:
    """Distances ``[batch, 1 + time]`` between two runs from different initial states, same input."""
    gen = torch.Generator().manual_seed(1)
    x0 = torch.randn(u.shape[0], net.n, generator=gen, dtype=u.dtype) * 3
    x1 = torch.randn(u.shape[0], net.n, generator=gen, dtype=u.dtype) * 3
    with torch.no_grad():
        _, _, s0 = net(u, AssemblyState(x0), return_states=True)
        _, _, s1 = net(u, AssemblyState(x1), return_states=True)
    return torch.cat([(x0 - x1).norm(dim=1, keepdim=True), (s0 - s1).norm(dim=2)], dim=1)


def _check_contraction(net: ContractiveRNNAssembly, u: torch.Tensor) -> None:
    """Distances shrink at every step and at least at the theory's rate exp(-c t), c = (1 - gamma)/tau."""
    d = _distances(net, u)
    assert (d[:, 1:] < d[:, :-1]).all()
    elapsed = u.shape[1] * net.steps_per_input * net.dt
    assert (d[:, -1] / d[:, 0]).max() <= torch.exp(torch.tensor(-net.contraction_rate() * elapsed))


def _digits() -> tuple[torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float64)  # [n, 8 rows, 8 pixels]: rows as time steps
    return x, torch.tensor(d.target)


def test_coupling_is_skew_symmetric_and_modules_are_norm_bounded():
    net = models.create_model("rnns_of_rnns", dtype=torch.float64)
    L = net.coupling()
    torch.testing.assert_close(L, -L.T)
    assert all(torch.linalg.matrix_norm(w, ord=2) <= net.gamma + 1e-12 for w in net.module_weights())
    assert net.contraction_rate() >= (1 - net.gamma) / net.tau - 1e-12
    # rigorous discrete-time bound for a small Euler step: every step shrinks distances by >= factor
    fine = models.create_model("rnns_of_rnns", dt=0.005, steps_per_input=1, dtype=torch.float64)
    factor = fine.contraction_factor()
    assert factor < 1
    d = _distances(fine, torch.randn(4, 30, 8, dtype=torch.float64))
    assert (d[:, 1:] / d[:, :-1]).max() <= factor + 1e-12
    # the diagonal (within-module) blocks of L are zero: coupling is between modules only
    o = net.offsets
    for i in range(len(net.sizes)):
        assert L[o[i]:o[i + 1], o[i]:o[i + 1]].abs().max() == 0


def test_assembly_contracts_before_and_after_training_on_sequential_digits():
    torch.manual_seed(0)
    x, y = _digits()
    net = models.create_model("rnns_of_rnns", in_features=8, out_features=10, gamma=0.5, dtype=torch.float64)
    _check_contraction(net, x[:64])
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    train, test = slice(0, 1400), slice(1400, None)
    gen = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randint(0, 1400, (128,), generator=gen)
        loss = torch.nn.functional.cross_entropy(net(x[train][idx])[0][:, -1], y[train][idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (net(x[test])[0][:, -1].argmax(-1) == y[test]).double().mean().item()
    assert acc > 0.7, acc  # it learned the task (chance = 0.1)
    assert all(torch.linalg.matrix_norm(w, ord=2) <= net.gamma + 1e-9 for w in net.module_weights())
    _check_contraction(net, x[test][:64])


def test_errors():
    with pytest.raises(ValueError, match="gamma"):
        ContractiveRNNAssembly(3, gamma=1.2)
    with pytest.raises(ValueError, match=r"\[batch, time, 3\]"):
        ContractiveRNNAssembly(3)(torch.randn(2, 4, 5))
