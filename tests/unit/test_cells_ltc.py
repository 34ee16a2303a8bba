"""LTC / CfC / NCP wiring: peer agreement with ncps (golden), proven state bounds, solvers, shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neurocircuits import models
from neurocircuits.functional.cells import LTC_SOLVERS, LTCState, ltc_step
from neurocircuits.graph import CircuitGraph
from neurocircuits.layers.cells import LTC, CfC, InputShapeError, Wiring, auto_ncp, fully_connected, ncp
from neurocircuits.registry import UnknownNameError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cells_ncps.npz"


@pytest.fixture(scope="module")
def gold() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as d:
        return {k: d[k] for k in d.files}


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float64)


def test_ltc_matches_ncps_golden(gold):
    wiring = Wiring(gold["ltc.adjacency"].astype(int), gold["ltc.sensory_adjacency"].astype(int), int(gold["ltc.output_size"]))
    m = LTC(3, wiring, dtype=torch.float64)
    with torch.no_grad():
        for name in ("gleak", "vleak", "cm", "w", "sigma", "mu", "erev", "sensory_w", "sensory_sigma", "sensory_mu",
                     "sensory_erev", "input_w", "input_b", "output_w", "output_b"):
            getattr(m, name).copy_(_t(gold[f"ltc.{name}"]))
    np.testing.assert_array_equal(m.mask.numpy(), gold["ltc.sparsity_mask"])
    y, state = m(_t(gold["ltc.x"]), LTCState(_t(gold["ltc.h0"])))
    np.testing.assert_allclose(y.detach().numpy(), gold["ltc.y"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state.v.detach().numpy(), gold["ltc.h"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["default", "no_gate", "pure"])
def test_cfc_matches_ncps_golden(gold, mode):
    pre = f"cfc_{mode}."
    m = CfC(3, 6, mode=mode, backbone_units=16, backbone_layers=2, proj_size=2, dtype=torch.float64)
    rename = {"rnn_cell.backbone.0": "backbone.0", "rnn_cell.backbone.2": "backbone.1", "rnn_cell.": "", "fc.": "proj.",
              "A": "a"}
    sd = {}
    for key in gold:
        if not key.startswith(pre) or key[len(pre):].split(".")[0] not in ("rnn_cell", "fc"):
            continue
        name = key[len(pre):]
        for a, b in rename.items():
            name = name.replace(a, b)
        value = _t(gold[key])
        sd[name] = value.reshape(-1) if name in ("w_tau", "a") else value
    missing = m.load_state_dict(sd, strict=False)
    assert not missing.unexpected_keys
    y, state = m(_t(gold[pre + "x"]))
    np.testing.assert_allclose(y.detach().numpy(), gold[pre + "y"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state.h.detach().numpy(), gold[pre + "h"], rtol=1e-10, atol=1e-12)
    # one step with per-sample elapsed time
    ts = _t(gold[pre + "step_ts"])
    _, st = m(_t(gold[pre + "x"])[:, :1], (_t(gold[pre + "step_h0"]),), timespans=ts[:, None])
    np.testing.assert_allclose(st.h.detach().numpy(), gold[pre + "step_h1"], rtol=1e-10, atol=1e-12)


def test_semi_implicit_state_stays_in_proven_bounds_for_any_input():
    torch.manual_seed(0)
    m = models.create_model("ncp_ltc", in_features=2, inter=12, command=6, motor=1, solver="semi_implicit",
                            unfolds=6, dtype=torch.float64)
    with torch.no_grad():  # random, widely spread parameters
        m.vleak.uniform_(-3, 3)
        m.erev.mul_(torch.rand_like(m.erev) * 4)
        m.sensory_erev.mul_(torch.rand_like(m.sensory_erev) * 4)
    v0 = torch.randn(16, m.units, dtype=torch.float64) * 5
    x = torch.randn(16, 200, 2, dtype=torch.float64) * 100.0  # huge inputs
    _, _, vs = m(x, LTCState(v0), timespans=torch.rand(16, 200, dtype=torch.float64) * 50, return_states=True)
    lo, hi = m.state_bounds(v0)
    assert (vs >= lo - 1e-9).all() and (vs <= hi + 1e-9).all()
    # the bound is tight-ish: the trajectories do reach well beyond the leak potentials
    assert (vs.amax(dim=(0, 1)) > m.vleak).any()


def test_explicit_euler_can_leave_the_bounds_that_semi_implicit_keeps():
    torch.manual_seed(1)
    m = LTC(2, fully_connected(2, 6), solver="euler", unfolds=1, dtype=torch.float64)
    x = torch.randn(4, 30, 2, dtype=torch.float64) * 10
    _, _, vs = m(x, timespans=torch.full((4, 30), 5.0, dtype=torch.float64), return_states=True)
    lo, hi = m.state_bounds(torch.zeros(1, 6, dtype=torch.float64))
    assert ((vs < lo) | (vs > hi)).any()


def test_all_solvers_converge_to_the_same_ode_solution():
    torch.manual_seed(2)
    m = LTC(2, fully_connected(2, 5), dtype=torch.float64)
    p = m.params()
    x = torch.randn(3, 2, dtype=torch.float64)
    v0 = LTCState(torch.randn(3, 5, dtype=torch.float64) * 0.5)
    ref, _ = ltc_step(x, v0, p, dt=2.0, solver="rk4", unfolds=400)
    for solver, unfolds, tol in (("semi_implicit", 4000, 1e-3), ("euler", 4000, 1e-3), ("midpoint", 400, 1e-4),
                                 ("rk4", 100, 1e-7)):
        v, _ = ltc_step(x, v0, p, dt=2.0, solver=solver, unfolds=unfolds)
        assert torch.allclose(v, ref, atol=tol), solver
    assert set(LTC_SOLVERS.names()) >= {"semi_implicit", "euler", "midpoint", "rk4"}


def test_ncp_wiring_layers_and_graph_export():
    w = ncp(3, inter=12, command=6, motor=2, seed=5)
    g = w.groups
    assert g["motor"] == [0, 1] and len(g["command"]) == 6 and len(g["inter"]) == 12
    a = np.abs(w.adjacency)
    inter, command, motor = g["inter"], g["command"], g["motor"]
    allowed = np.zeros_like(a)
    allowed[np.ix_(inter, command)] = 1
    allowed[np.ix_(command, command)] = 1
    allowed[np.ix_(command, motor)] = 1
    assert (a <= allowed).all()  # only sensory->inter->command(->command)->motor
    s = np.abs(w.sensory_adjacency)
    assert s[:, inter].sum(axis=0).min() >= 1 and s[:, command + motor].sum() == 0
    assert a[np.ix_(inter, command)].sum(axis=0).min() >= 1  # every command neuron is reached
    assert a[np.ix_(command, motor)].sum(axis=0).min() >= 1
    assert (a[np.ix_(inter, command)].sum(axis=1) == 3).all()  # default inter fan-out = command // 2
    graph = w.to_circuit_graph()
    assert isinstance(graph, CircuitGraph)
    assert graph.n_edges == w.synapse_count + w.sensory_synapse_count
    assert {n.kind for n in graph.nodes} == {"sensory", "inter", "command", "motor"}
    back = Wiring.from_circuit_graph(CircuitGraph.from_json(graph.to_json()), output_size=2)
    np.testing.assert_array_equal(back.adjacency, w.adjacency)
    np.testing.assert_array_equal(back.sensory_adjacency, w.sensory_adjacency)
    auto = auto_ncp(2, 16, 1)
    assert auto.units == 16 and auto.output_size == 1 and len(auto.groups["command"]) == 6


def test_wiring_is_usable_with_cfc_and_masks_its_weights():
    w = ncp(2, inter=5, command=3, motor=1)
    m = models.create_model("ncp_cfc", in_features=2, inter=5, command=3, motor=1)
    assert m.mask is not None and torch.equal(m.mask, m.mask * 0 + m.mask)
    x = torch.randn(2, 6, 2, requires_grad=True)
    y, _ = m(x)
    assert y.shape == (2, 6, 1)
    y.sum().backward()
    # gradients only on wired entries of ff1
    grad = m.ff1.weight.grad
    assert torch.all(grad[m.mask == 0] == 0) and grad[m.mask == 1].abs().sum() > 0
    assert int(m.mask.sum()) == w.synapse_count + w.sensory_synapse_count


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["ltc", "ncp_ltc", "cfc", "ncp_cfc", "auto_ncp_ltc"])
def test_cells_dtype_state_and_grad(name, dtype):
    m = models.create_model(name, dtype=dtype)
    x = m.example_input(3).to(dtype)
    y, state = m(x)
    assert y.dtype == dtype and y.shape[:2] == (3, 5)
    y_full, _ = m(x)  # continuing from a state equals running the whole sequence
    torch.testing.assert_close(y_full[:, 2:], m(x[:, 2:], m(x[:, :2])[1])[0])
    y.square().mean().backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_clear_errors():
    m = models.create_model("ncp_ltc")
    with pytest.raises(InputShapeError, match=r"\[batch, time, 2\]"):
        m(torch.randn(2, 5, 3))
    with pytest.raises(InputShapeError, match="state"):
        m(torch.randn(2, 5, 2), LTCState(torch.zeros(2, 3)))
    with pytest.raises(UnknownNameError, match="rk4"):
        models.create_model("ltc", solver="rk5")
    with pytest.raises(ValueError, match="inter"):
        ncp(2, inter=0, command=3, motor=1)
    with pytest.raises(ValueError, match="in_features"):
        LTC(3, ncp(2, 4, 3, 1))


def test_linear_system_coefficients_reproduce_the_ltc_exactly():
    """Row 34: the state-dependent (a, b) extracted along a trajectory regenerate its outputs."""
    from neurocircuits.functional.cells import ltc_linear_system

    torch.manual_seed(3)
    m = models.create_model("ncp_ltc", in_features=2, inter=5, command=3, motor=1, unfolds=4, eps=0.0,
                            dtype=torch.float64)
    x = torch.randn(2, 15, 2, dtype=torch.float64)
    y, _ = m(x)
    p, xm = m.params(), m.map_inputs(x)
    v = torch.zeros(2, m.units, dtype=torch.float64)
    h = 1.0 / m.unfolds
    outs = []
    for t in range(x.shape[1]):
        for _ in range(m.unfolds):
            a, b = ltc_linear_system(xm[:, t], v, p)
            assert (a > 0).all()  # positive inverse time constants: the frozen system is stable
            v = (v + h * b) / (1 + h * a)
        outs.append(m.map_outputs(v))
    torch.testing.assert_close(torch.stack(outs, dim=1), y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("with_timespans", [False, True])
def test_fused_unroll_gradients_equal_autograd_through_the_step_loop(with_timespans):
    """The hand-written backward of the fused semi-implicit unroll gives autograd's gradients of the
    plain :func:`ltc_step` loop for every parameter, the input and the initial state."""
    torch.manual_seed(4)
    m = models.create_model("ncp_ltc", in_features=2, inter=5, command=3, motor=2, unfolds=3, dtype=torch.float64)
    x = torch.randn(3, 7, 2, dtype=torch.float64, requires_grad=True)
    v0 = torch.randn(3, m.units, dtype=torch.float64, requires_grad=True)
    ts = torch.rand(3, 7, dtype=torch.float64) + 0.5 if with_timespans else None
    w_out = torch.randn(3, 7, 2, dtype=torch.float64)

    def grads(loss: torch.Tensor) -> list[torch.Tensor]:
        leaves = [x, v0, *m.parameters()]
        return list(torch.autograd.grad(loss, leaves, allow_unused=True))

    y, st = m(x, LTCState(v0), timespans=ts)
    fused = grads((y * w_out).sum() + st.v.square().sum())
    p, xm = m.params(), m.map_inputs(x)
    state, outs = LTCState(v0), []
    for t in range(x.shape[1]):
        _, state = ltc_step(xm[:, t], state, p, dt=1.0 if ts is None else ts[:, t], unfolds=m.unfolds, eps=m.eps)
        outs.append(m.map_outputs(state.v))
    ref = grads((torch.stack(outs, dim=1) * w_out).sum() + state.v.square().sum())
    for a, b in zip(fused, ref):
        if b is None:
            assert a is None or not a.any()
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
