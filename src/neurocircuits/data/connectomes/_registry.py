"""The connectome registry: ``connectome(name)``, ``list_connectomes()``, ``register_connectome``.

Every entry is a factory returning a :class:`~neurocircuits.graph.CircuitGraph` built from data a
package ships (never downloaded at run time), plus metadata: species, source paper, licence and
the optional extra that provides the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...graph import CircuitGraph
from ...registry import Registry

CONNECTOMES: Registry[Callable[..., CircuitGraph]] = Registry("connectome")


class MissingExtraError(ImportError):
    """An optional dependency that provides a data set is not installed; the message names the extra."""


def require(module: str, extra: str, what: str) -> Any:
    """Import ``module`` or raise :class:`MissingExtraError` naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingExtraError(
            f"{what} needs the optional package {module!r}, which is not installed. "
            f"Install the extra: pip install 'neurocircuits[{extra}]'."
        ) from err


def register_connectome(name: str, **meta: Any) -> Callable[[Callable[..., CircuitGraph]], Callable[..., CircuitGraph]]:
    """Register a connectome factory under ``name`` (``"species/dataset"``).

    ``meta`` should give ``species``, ``paper``, ``licence`` and ``extra``.
    """
    return CONNECTOMES.register(name, **meta)


def connectome(name: str, **options: Any) -> CircuitGraph:
    """Load the connectome ``name`` as a CircuitGraph.

    Args:
        name: a registered name, e.g. ``"celegans/cook2019_herm"`` (see :func:`list_connectomes`).
        **options: loader options, e.g. ``cells="all"`` to keep muscles and other cells, or
            ``glutamate_sign=-1`` to call glutamatergic synapses inhibitory.

    Example:
        >>> worm = connectome("celegans/cook2019_herm")
        >>> worm.n_nodes
        302
    """
    return CONNECTOMES.get(name)(**options)


@dataclass(frozen=True)
class ConnectomeInfo:
    """One row of :func:`list_connectomes`."""

    name: str
    species: str
    paper: str
    licence: str
    extra: str
    n_neurons: int | None
    n_chemical: int | None
    n_electrical: int | None


def list_connectomes(counts: bool = True) -> list[ConnectomeInfo]:
    """Every registered connectome with species, source paper, licence and (optionally) counts.

    Args:
        counts: load each data set to report neurons and chemical / electrical edge counts. Data
            sets whose extra is missing report ``None`` counts.
    """
    rows = []
    for name in CONNECTOMES.names():
        meta = CONNECTOMES.meta(name)
        n_neurons = n_chem = n_elec = None
        if counts:
            try:
                g = connectome(name)
            except MissingExtraError:
                pass
            else:
                n_neurons = g.n_nodes
                n_chem = sum(1 for e in g.edges if e.kind == "chemical")
                n_elec = sum(1 for e in g.edges if e.kind == "electrical")
        rows.append(ConnectomeInfo(
            name=name, species=str(meta.get("species", "")), paper=str(meta.get("paper", "")),
            licence=str(meta.get("licence", "")), extra=str(meta.get("extra", "")),
            n_neurons=n_neurons, n_chemical=n_chem, n_electrical=n_elec,
        ))
    return rows
