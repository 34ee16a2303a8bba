"""Name -> factory registries (timm / brian2 style).

One small class serves every registry in the package: models, tasks, metrics, discovery methods,
neuron types, integrators, surrogate gradients. Registering a name twice raises; an unknown name
raises with the list of valid ones, so a typo is never silent.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown name was asked of a registry. The message lists the valid names."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the sentence as written.
        return str(self.args[0])


class DuplicateNameError(ValueError):
    """A name was registered twice in the same registry."""


class Registry(Generic[T]):
    """A named collection of factories.

    Example:
        >>> MODELS = Registry("model")
        >>> @MODELS.register("tiny")
        ... def tiny(**cfg): ...
        >>> MODELS.get("tiny")
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str | None = None, **meta: Any) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name`` (default: its ``__name__``)."""

        def decorator(obj: T) -> T:
            self.add(name or getattr(obj, "__name__"), obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        if name in self._items:
            raise DuplicateNameError(
                f"{self.kind} {name!r} is already registered (by {self._items[name]!r}); "
                f"pick another name or unregister the old one first."
            )
        self._items[name] = obj
        self._meta[name] = dict(meta)

    def unregister(self, name: str) -> None:
        self._items.pop(name, None)
        self._meta.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self._unknown_message(name)) from None

    def meta(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._meta[name])

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def _unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, self._items, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        valid = ", ".join(self.names()) or "(none registered)"
        return f"unknown {self.kind} {name!r}.{hint} Valid {self.kind}s: {valid}."
