import pytest
import torch
from torch import nn

from neurocircuits.layers import HookPoint, UnknownHookPointError, cache_activations, hook_points, hooks


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.hook_mid = HookPoint()

    def forward(self, x):
        return self.hook_mid(self.lin(x)) * 2


def test_hooks_patch_then_always_detach():
    m = Tiny()
    x = torch.randn(4, 3)
    clean = m(x)
    assert list(hook_points(m)) == ["hook_mid"]
    with hooks(m, {"hook_mid": lambda a, h: torch.zeros_like(a)}):
        assert torch.all(m(x) == 0)
    assert torch.equal(m(x), clean)
    with pytest.raises(RuntimeError):
        with hooks(m, {"hook_mid": lambda a, h: torch.zeros_like(a)}):
            raise RuntimeError("boom")
    assert torch.equal(m(x), clean)  # removed in finally
    with pytest.raises(UnknownHookPointError, match="no hook point 'nope'"):
        with hooks(m, {"nope": lambda a, h: None}):
            pass
    with cache_activations(m) as cache:
        m(x)
    torch.testing.assert_close(cache["hook_mid"] * 2, clean.detach())
