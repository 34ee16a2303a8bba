"""The model zoo registry: ``@register_model``, ``create_model(name, **cfg)``, ``list_models()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry

MODELS: Registry[Callable[..., nn.Module]] = Registry("model")


def register_model(name: str | None = None, **meta: Any) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Register a model factory (a function or an nn.Module class) under ``name``.

    ``meta`` is free-form (e.g. ``family="spiking"``, ``paper="..."``) and shown by ``list_models``.
    """
    return MODELS.register(name, **meta)


def create_model(name: str, **cfg: Any) -> nn.Module:
    """Build the registered model ``name`` with keyword configuration ``cfg``."""
    return MODELS.get(name)(**cfg)


def list_models(family: str | None = None) -> list[str]:
    """Registered model names, optionally only those whose ``family`` meta matches."""
    return [n for n in MODELS.names() if family is None or MODELS.meta(n).get("family") == family]
