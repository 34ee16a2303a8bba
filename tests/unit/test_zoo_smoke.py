"""Registry smoke test: every registered model of the zoo builds, runs forward and backward in
float32 and float64, and raises a clear error (ValueError/TypeError) on a wrong input shape.

How a model takes part (adopt this in your model; nothing is skipped):

1. Configuration: ``create_model(name, dtype=...)`` must work with defaults, or the registry meta
   carries ``smoke_cfg`` (a dict, or a zero-argument callable returning one), e.g.
   ``@register_model("m", family="x", smoke_cfg={"in_features": 3})``.
2. Input: the built model has ``example_input(batch) -> Tensor | tuple[Tensor, ...]`` returning a
   valid input (positional arguments of ``forward``) on the model's device and dtype.
   Optionally ``bad_example_input(batch)`` returns a wrongly shaped one; by default the test adds
   one feature to the last axis of the first float input, or a trailing axis to an integer one.

Models registered before this protocol existed get a fallback below (``_FALLBACKS``); a model
with neither a hook nor a fallback fails with a message saying how to add the hook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from neurocircuits.graph import CircuitGraph
from neurocircuits.models import MODELS, create_model, list_models


def _tiny_graph() -> CircuitGraph:
    g = CircuitGraph(name="tiny")
    for i, cls in enumerate(["sensory", "sensory", "inter", "inter", "motor"]):
        g.add_node(f"N{i}", kind="neuron", cell_class=cls)
    for s, t, sign in [(0, 2, 1), (1, 3, 1), (2, 3, -1), (3, 2, 1), (2, 4, 1), (3, 4, -1)]:
        g.add_edge(f"N{s}", f"N{t}", kind="chemical", weight=1.0, sign=sign)
    return g


# name -> (config factory, input factory(model, batch))
_FALLBACKS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[nn.Module, int], Any]]] = {
    "transformer": (dict, lambda m, b: torch.randint(0, m.cfg.d_vocab, (b, 6))),
    "attn_only_transformer": (dict, lambda m, b: torch.randint(0, m.cfg.d_vocab, (b, 6))),
    "spiking_mlp": (lambda: {"in_features": 8, "hidden": (16,), "out_features": 3, "time_steps": 4},
                    lambda m, b: torch.rand(b, 8, dtype=_dtype(m))),
    "spiking_conv": (lambda: {"time_steps": 3}, lambda m, b: torch.rand(b, 1, 8, 8, dtype=_dtype(m))),
    "spiking_transformer": (lambda: {"time_steps": 2}, lambda m, b: torch.rand(b, 1, 8, 8, dtype=_dtype(m))),
    "connectome_rnn": (lambda: {"graph": _tiny_graph(), "in_features": 3, "out_features": 2,
                                "input_nodes": ["N0", "N1"], "output_nodes": ["N4"]},
                       lambda m, b: torch.randn(b, 5, 3, dtype=_dtype(m))),
    "connectome_ar": (lambda: {"graph": _tiny_graph()}, lambda m, b: torch.randn(b, 5, dtype=_dtype(m))),
}


def _dtype(model: nn.Module) -> torch.dtype:
    for t in [*model.parameters(), *model.buffers()]:
        if t.is_floating_point():
            return t.dtype
    return torch.get_default_dtype()


def _config(name: str) -> dict[str, Any]:
    cfg = MODELS.meta(name).get("smoke_cfg")
    if cfg is None and name in _FALLBACKS and not hasattr(MODELS.get(name), "example_input"):
        cfg = _FALLBACKS[name][0]
    cfg = cfg() if callable(cfg) else dict(cfg or {})
    return cfg


def _inputs(name: str, model: nn.Module, batch: int) -> tuple[Any, ...]:
    if hasattr(model, "example_input"):
        x = model.example_input(batch)
    elif name in _FALLBACKS:
        x = _FALLBACKS[name][1](model, batch)
    else:
        pytest.fail(
            f"model {name!r} ({type(model).__name__}) has no example_input(batch) method; add one returning a "
            f"valid input for forward (see tests/unit/test_zoo_smoke.py for the protocol)."
        )
    return x if isinstance(x, tuple) else (x,)


def _bad_inputs(model: nn.Module, args: tuple[Any, ...], batch: int) -> tuple[Any, ...]:
    if hasattr(model, "bad_example_input"):
        x = model.bad_example_input(batch)
        return x if isinstance(x, tuple) else (x,)
    first = args[0]
    if first.is_floating_point():
        bad = torch.cat([first, torch.zeros_like(first[..., :1])], dim=-1)
    else:
        bad = first.unsqueeze(-1).expand(*first.shape, 3).contiguous()
    return (bad, *args[1:])


def _float_tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() else []
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _float_tensors(item)]
    return []


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list_models())
def test_model_builds_runs_forward_and_backward(name: str, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    model = create_model(name, dtype=dtype, **_config(name))
    assert isinstance(model, nn.Module)
    args = _inputs(name, model, batch=2)
    for a in args:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            assert a.dtype == dtype, f"{name}.example_input returned {a.dtype}, expected {dtype}"
    outs = _float_tensors(model(*args))
    assert outs, f"{name} returned no floating-point tensor"
    assert outs[0].dtype == dtype, f"{name} computed in {outs[0].dtype}, expected {dtype}"
    assert all(torch.isfinite(o).all() for o in outs), f"{name} produced non-finite outputs"
    loss = sum(o.float().sum() for o in outs if o.requires_grad)
    assert isinstance(loss, torch.Tensor), f"{name}: no output depends on a trainable parameter"
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads, f"{name}: backward reached no parameter"
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", list_models())
def test_model_rejects_wrong_input_shape_clearly(name: str) -> None:
    model = create_model(name, **_config(name))
    args = _inputs(name, model, batch=2)
    with pytest.raises((ValueError, TypeError)) as info:
        model(*_bad_inputs(model, args, batch=2))
    assert len(str(info.value)) > 20, f"{name}: the error message is too terse to act on: {info.value!r}"
