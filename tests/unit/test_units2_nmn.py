"""Row 43: neural modules as learned soft mixtures of arithmetic primitives, with learned module selection."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers.units import PRIMITIVES, NMNArithmetic
from neurocircuits.models import create_model

TRUE_OPS = ["add", "sub", "mul", "max"]


def programs(n: int, gen: torch.Generator, steps: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random programs ``((n0 o1 n1) o2 n2)`` with ops add/sub/mul/max on numbers in [-2, 2]."""
    ops = torch.randint(0, 4, (n, steps), generator=gen)
    nums = torch.rand(n, steps + 1, generator=gen) * 4 - 2
    acc = nums[:, 0]
    for s in range(steps):
        acc = torch.stack([PRIMITIVES.get(p)(acc, nums[:, s + 1]) for p in TRUE_OPS], -1)[torch.arange(n), ops[:, s]]
    return ops, nums, acc


def hand_designed() -> NMNArithmetic:
    m = NMNArithmetic(4, 4)
    with torch.no_grad():
        m.alpha.fill_(-1e4)
        m.select.fill_(-1e4)
        for k, op in enumerate(TRUE_OPS):
            m.alpha[k, m.primitive_names.index(op)] = 0.0
            m.select[k, k] = 0.0
    return m


def test_hand_designed_modules_execute_programs_exactly_and_errors_are_clear() -> None:
    ops, nums, y = programs(500, torch.Generator().manual_seed(0))
    m = hand_designed()
    assert torch.allclose(m(ops, nums), y, atol=1e-6)
    assert m.discretise() == {"modules": TRUE_OPS, "tokens": [0, 1, 2, 3]}
    with pytest.raises(ValueError, match="S \\+ 1 numbers"):
        m(ops, nums[:, :2])
    with pytest.raises(ValueError, match="n_op_tokens"):
        m(ops + 4, nums)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learned_module_internals_reach_hand_designed_accuracy(seed: int) -> None:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    m = create_model("nmn_arithmetic", n_op_tokens=4, n_modules=6)
    opt = torch.optim.Adam(m.parameters(), 5e-2)
    for _ in range(1000):
        ops, nums, y = programs(256, gen)
        loss = ((m(ops, nums) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 1e-2
    ops, nums, y = programs(2000, torch.Generator().manual_seed(99))
    with torch.no_grad():
        learned = ((m(ops, nums, hard=True) - y).abs() < 1e-5).float().mean().item()
        hand = ((hand_designed()(ops, nums) - y).abs() < 1e-5).float().mean().item()
    assert hand == 1.0 and learned == hand
    found = m.discretise()
    assert [found["modules"][k] for k in found["tokens"]] == TRUE_OPS        # each token -> its true operation
