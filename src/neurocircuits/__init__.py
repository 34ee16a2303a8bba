"""neurocircuits: build, simulate, train and dissect neural circuits, biological and artificial alike.

Sub-packages are imported on first use (``neurocircuits.sim``, ``neurocircuits.discover``, ...) so
that ``import neurocircuits`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

from .graph import CircuitGraph as CircuitGraph

__version__ = "0.1.0"

_SUBPACKAGES = (
    "graph", "functional", "layers", "models", "sim", "learning", "discover",
    "features", "analysis", "data", "viz",
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'neurocircuits' has no attribute {name!r}")
