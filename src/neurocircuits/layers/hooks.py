"""Named hook points and scoped hooks (TransformerLens HookPoint, DESIGN convention 5).

A :class:`HookPoint` is an identity module placed wherever a model exposes an activation (a head's
output, an MLP's input, a population's membrane potential). Its name is its module path. Hooks are
attached only through :func:`hooks`, a context manager that removes every handle in ``finally``,
so an exception inside a patched run can never leave a model patched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], torch.Tensor | None]


class HookPoint(nn.Module):
    """Identity module that exposes an activation to hooks.

    A hook is ``fn(activation, hook) -> new_activation | None``; returning ``None`` keeps the
    activation (a read-only hook, e.g. caching).
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_repr(self) -> str:
        return f"name={self.name!r}"


class Changed(NamedTuple):
    """Hint of :func:`mark_changed`: a hook's output differs from its input only at ``index`` along
    ``dim``; with ``blocks = K > 1`` the batch holds K blocks, and the slices ``uniform`` (a subset of
    ``index``) are the same in every block."""

    dim: int
    index: tuple[int, ...]
    blocks: int = 1
    uniform: tuple[int, ...] = ()
    groups: tuple[tuple[int, ...], ...] = ()  # slices of ``index`` that hold the same values


def mark_changed(t: torch.Tensor, dim: int, index: Sequence[int], blocks: int = 1,
                 uniform: Sequence[int] = (), groups: Sequence[Sequence[int]] = ()) -> torch.Tensor:
    """Declare that a hook's output ``t`` differs from the hook's input only at ``index`` along ``dim``
    (and, with ``blocks``, which of those slices repeat identically over the K batch blocks; with
    ``groups``, which sets of slices are equal to each other).

    The hint rides on the returned tensor object itself (no state on the hook point): any later hook
    that returns another tensor drops it. A model may use it to recompute only those slices (e.g.
    the patched heads of a per-head input copy); ignoring it is always correct. Returns ``t``.
    """
    t._nc_changed = Changed(int(dim), tuple(int(i) for i in index), int(blocks),  # type: ignore[attr-defined]
                            tuple(int(i) for i in uniform), tuple(tuple(int(i) for i in gr) for gr in groups))
    return t


def changed_slices(t: torch.Tensor) -> Changed | None:
    """The :class:`Changed` hint of :func:`mark_changed` on ``t``, or None when there is none."""
    return getattr(t, "_nc_changed", None)


def mark_repeated(t: torch.Tensor, blocks: int) -> torch.Tensor:
    """Declare that ``t`` (batch first) is its first ``len(t) // blocks`` rows repeated ``blocks``
    times, so a model may compute a row-wise function once per block and repeat it. Returns ``t``."""
    t._nc_blocks = int(blocks)  # type: ignore[attr-defined]
    return t


def repeated_blocks(t: torch.Tensor) -> int:
    """The ``blocks`` hint of :func:`mark_repeated` on ``t`` (1 when there is none)."""
    return int(getattr(t, "_nc_blocks", 1))


class Trimmed(NamedTuple):
    """Hint of :func:`hook_trimmed`: the tensor holds positions ``start:stop`` of ``full`` along ``dim``
    (the only ones the model computed there)."""

    dim: int
    start: int
    stop: int
    full: int


def accept_trimmed(fn: HookFn) -> HookFn:
    """Mark a hook function that takes position-trimmed tensors (see :func:`hook_trimmed`): it reads
    :func:`trimmed` and returns a tensor of its input's shape. Returns ``fn``."""
    fn._nc_trimmed_ok = True  # type: ignore[attr-defined]
    return fn


def trimmed(t: torch.Tensor) -> Trimmed | None:
    """The :class:`Trimmed` hint on a hook's input ``t``, or None (a complete tensor)."""
    return getattr(t, "_nc_trimmed", None)


def hook_trimmed(point: HookPoint, x: torch.Tensor, keep: torch.Tensor | None, dim: int, full: int) -> torch.Tensor:
    """Call ``point`` on ``x``, which holds only the positions ``keep`` of ``full`` along ``dim`` (a model
    skipping positions its output does not need). When every hook on the point accepts it
    (:func:`accept_trimmed`) and ``keep`` is a range, they see ``x`` itself, marked with its
    :class:`Trimmed` window; otherwise a full-size tensor with zeros at the other positions."""
    if keep is None:
        return point(x)
    if not point._forward_hooks:
        return x
    idx = keep.tolist()
    if idx == list(range(idx[0], idx[0] + len(idx))) and all(
            getattr(h, "_nc_trimmed_ok", False) for h in point._forward_hooks.values()):
        x._nc_trimmed = Trimmed(int(dim), idx[0], idx[0] + len(idx), int(full))  # type: ignore[attr-defined]
        return point(x)
    shape = list(x.shape)
    shape[dim] = full
    return point(x.new_zeros(shape).index_copy(dim, keep, x)).index_select(dim, keep)


class LazyHeads(NamedTuple):
    """Hint of :func:`mark_lazy_heads`: per-head input copies described instead of written.

    Rows ``k * B:(k + 1) * B`` of the batch (block ``k``) of head ``h`` hold ``base - delta(keys[k][h])``,
    or ``base`` where the key is None; equal keys mean equal copies (for any head). ``store`` keeps what a
    model derives from a key (e.g. a projected copy) between forwards, through ``store.get(key)`` and
    ``store.put(key, value)``; ``base_key`` names ``base`` in the store.
    """

    base: torch.Tensor  # (B, pos, d_model)
    keys: tuple[tuple[Hashable | None, ...], ...]  # (K, heads)
    delta: Callable[[Hashable], torch.Tensor]  # key -> (B, pos, d_model)
    store: Any
    base_key: Hashable


def accept_lazy_heads(t: torch.Tensor) -> torch.Tensor:
    """Mark the per-head input ``t`` a model hands to a hook: the model honours a :class:`LazyHeads`
    hint on the hook's output (see :func:`mark_lazy_heads`). Returns ``t``."""
    t._nc_lazy_ok = True  # type: ignore[attr-defined]
    return t


def accepts_lazy_heads(t: torch.Tensor) -> bool:
    """Whether the model that made ``t`` honours a :class:`LazyHeads` hint (:func:`accept_lazy_heads`)."""
    return bool(getattr(t, "_nc_lazy_ok", False))


def mark_lazy_heads(t: torch.Tensor, lazy: LazyHeads) -> torch.Tensor:
    """Return ``t`` carrying ``lazy``: the hook's real output is what ``lazy`` describes, not ``t``'s
    values. Only for a ``t`` that :func:`accepts_lazy_heads`: a model that did not accept the hint
    would read ``t`` as it is."""
    if not accepts_lazy_heads(t):
        raise ValueError("mark_lazy_heads on a tensor whose model did not accept_lazy_heads(); return the "
                         "written per-head copies instead.")
    t._nc_lazy = lazy  # type: ignore[attr-defined]
    return t


def lazy_heads(t: torch.Tensor) -> LazyHeads | None:
    """The :class:`LazyHeads` hint on a hook's output ``t``, or None."""
    return getattr(t, "_nc_lazy", None)


def name_hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """Set every HookPoint's ``name`` to its module path and return them by name."""
    points: dict[str, HookPoint] = {}
    for path, module in model.named_modules():
        if isinstance(module, HookPoint):
            module.name = path
            points[path] = module
    return points


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """All hook points of ``model`` by module path (naming them if not done yet)."""
    return name_hook_points(model)


class UnknownHookPointError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@contextlib.contextmanager
def hooks(
    model: nn.Module,
    fwd: Mapping[str, HookFn | Sequence[HookFn]] | Sequence[tuple[str, HookFn]] = (),
    points: Mapping[str, HookPoint] | None = None,
) -> Iterator[nn.Module]:
    """Attach forward hooks by hook-point name for the duration of a ``with`` block.

    Args:
        model: the model whose hook points are hooked.
        fwd: hook-point name -> hook function(s), or (name, function) pairs.
        points: ``hook_points(model)`` computed earlier (saves walking every module on each call,
            e.g. in a loop of patched runs); default: computed now.

    Example:
        >>> with hooks(model, {"blocks.0.attn.hook_result": zero_head_0}):
        ...     logits = model(tokens)
    """
    if points is None:
        points = hook_points(model)
    pairs = list(fwd.items()) if isinstance(fwd, Mapping) else list(fwd)
    handles = []
    try:
        for name, fns in pairs:
            if name not in points:
                raise UnknownHookPointError(
                    f"model {type(model).__name__} has no hook point {name!r}; "
                    f"it has {len(points)}, e.g. {', '.join(list(points)[:6])}."
                )
            for fn in (fns if isinstance(fns, Sequence) else [fns]):
                handles.append(points[name].register_forward_hook(_adapt(fn)))
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _adapt(fn: HookFn) -> Callable[[nn.Module, tuple[torch.Tensor, ...], torch.Tensor], torch.Tensor | None]:
    def torch_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
        return fn(output, module)  # type: ignore[arg-type]

    if getattr(fn, "_nc_trimmed_ok", False):
        torch_hook._nc_trimmed_ok = True  # type: ignore[attr-defined]
    return torch_hook


@contextlib.contextmanager
def cache_activations(model: nn.Module, names: Sequence[str] | None = None, detach: bool = True,
                      points: Mapping[str, HookPoint] | None = None) -> Iterator[dict[str, torch.Tensor]]:
    """Record the activations at ``names`` (default: every hook point) into a dict; ``points`` as in
    :func:`hooks`."""
    cache: dict[str, torch.Tensor] = {}
    if points is None:
        points = hook_points(model)
    wanted = list(points) if names is None else list(names)

    def recorder(name: str) -> HookFn:
        def record(x: torch.Tensor, hook: HookPoint) -> None:
            cache[name] = x.detach() if detach else x

        return record

    with hooks(model, [(n, recorder(n)) for n in wanted], points=points):
        yield cache
