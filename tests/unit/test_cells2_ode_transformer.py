"""Row 143: neural-ODE transformer layers (parallel attention+MLP block, ODE-solver integration)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neurocircuits.layers.cells import ODE_SOLVERS, ODETransformer, ODETransformerLayer
from neurocircuits.models import create_model


@pytest.mark.parametrize("solver,order", [("euler", 1), ("rk2", 2), ("midpoint", 2), ("rk4", 4)])
def test_solvers_have_their_order_on_a_linear_field(solver: str, order: int) -> None:
    # dx/dt = -x: one step of size h has local error O(h^(order+1)).
    x0 = torch.ones(1, dtype=torch.float64)
    errs = [abs(ODE_SOLVERS.get(solver)(lambda x: -x, x0, h).item() - math.exp(-h)) for h in (0.1, 0.05)]
    assert errs[0] / errs[1] == pytest.approx(2 ** (order + 1), rel=0.15)


def test_sequential_euler_is_the_pre_ln_block_and_parallel_reads_one_input() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    seq = ODETransformerLayer(8, 2, 16, block="sequential", dtype=torch.float64)
    par = ODETransformerLayer(8, 2, 16, block="parallel", dtype=torch.float64)
    par.load_state_dict(seq.state_dict())
    h = x + seq.attn(seq.ln1(x))
    standard = h + seq.mlp(seq.ln2(h))
    assert torch.allclose(ODE_SOLVERS.get("euler")(seq, x, 1.0), standard, atol=1e-12)
    parallel = x + par.attn(par.ln1(x)) + par.mlp(par.ln2(x))
    assert torch.allclose(ODE_SOLVERS.get("euler")(par, x, 1.0), parallel, atol=1e-12)
    # RK2 reuses the same parameters: Heun's formula by hand.
    f1 = par(x)
    assert torch.allclose(ODE_SOLVERS.get("rk2")(par, x, 1.0), x + 0.5 * (f1 + par(x + f1)), atol=1e-12)


def test_causal_and_errors() -> None:
    m = create_model("ode_transformer", vocab=10, max_len=8)
    x = torch.randint(0, 10, (2, 6))
    y = m(x)
    x2 = x.clone()
    x2[:, -1] = (x2[:, -1] + 1) % 10
    assert torch.allclose(m(x2)[:, :-1], y[:, :-1], atol=1e-6)           # the future does not leak back
    with pytest.raises(ValueError, match="max_len"):
        m(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(KeyError, match="rk2"):
        create_model("ode_transformer", solver="rk3")
    with pytest.raises(ValueError, match="divisible"):
        ODETransformer(d_model=10, n_heads=4)


def recall_batch(n: int, gen: torch.Generator, pairs: int = 4, keys: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Associative recall: ``k1 v1 ... k4 v4 q`` -> the value stored with key ``q`` (chance 1/8)."""
    k = torch.rand(n, keys, generator=gen).argsort(1)[:, :pairs]
    v = torch.randint(keys, 2 * keys, (n, pairs), generator=gen)
    qi = torch.randint(0, pairs, (n,), generator=gen)
    rows = torch.arange(n)
    return torch.cat([torch.stack([k, v], 2).reshape(n, 2 * pairs), k[rows, qi, None]], 1), v[rows, qi]


def train_recall(block: str, solver: str, layers: int, steps: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 100)
    m = create_model("ode_transformer", vocab=16, d_model=32, n_heads=2, d_mlp=64, n_layers=layers, max_len=16,
                     block=block, solver=solver)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(steps):
        x, y = recall_batch(64, gen)
        loss = F.cross_entropy(m(x)[:, -1], y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    x, y = recall_batch(1000, torch.Generator().manual_seed(999))
    with torch.no_grad():
        return (m(x)[:, -1].argmax(-1) == y).float().mean().item()


def test_rk2_one_layer_solves_recall_where_euler_one_layer_cannot() -> None:
    # Recall needs two attention passes (previous-token copy, then key match). One Euler layer has
    # one; the RK2 step evaluates the same layer twice, the second time on x + F(x).
    euler = train_recall("parallel", "euler", 1, 400)
    rk2 = train_recall("parallel", "rk2", 1, 400)
    assert rk2 > 0.95, rk2
    assert euler < 0.6, euler


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_parallel_block_matches_sequential_block(seed: int) -> None:
    par = train_recall("parallel", "euler", 2, 500, seed)
    seq = train_recall("sequential", "euler", 2, 500, seed)
    assert par > 0.97 and seq > 0.97, (par, seq)
    assert abs(par - seq) < 0.02
