"""Small transformers shipped with the package, trained on the synthetic tasks (offline).

Each checkpoint is a 2-layer, 2-heads-per-layer :class:`~neurocircuits.models.transformer.HookedTransformer`
trained by ``scripts/train_task_models.py`` on one task of :mod:`neurocircuits.data.tasks`; the
safetensors header holds ``asdict(cfg)`` and the training metadata (steps, held-out accuracy and
logit differences). Files are read with :mod:`importlib.resources`; nothing is downloaded.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from .transformer import HookedTransformer, load_with_metadata

_PACKAGE = "neurocircuits.models.checkpoints"


class UnknownCheckpointError(KeyError):
    """No shipped checkpoint has this name; the message lists the available ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def list_pretrained() -> list[str]:
    """Names of the shipped checkpoints (e.g. ``induction``, ``ioi``, ``greater_than``, ``docstring``)."""
    folder = resources.files(_PACKAGE)
    return sorted(p.name[: -len(".safetensors")] for p in folder.iterdir() if p.name.endswith(".safetensors"))


def _path(name: str) -> Any:
    available = list_pretrained()
    if name not in available:
        raise UnknownCheckpointError(
            f"no shipped checkpoint {name!r}. Available checkpoints: {', '.join(available) or '(none)'}. "
            "Train one with scripts/train_task_models.py, or load your own file with HookedTransformer.load(path)."
        )
    return resources.files(_PACKAGE) / f"{name}.safetensors"


def load_pretrained(name: str, device: Any = None, dtype: Any = None) -> HookedTransformer:
    """Load the shipped model trained on task ``name`` (eval mode).

    Example:
        >>> model = load_pretrained("induction")
        >>> task = get_task(pretrained_metadata("induction")["task"])
    """
    with resources.as_file(_path(name)) as path:
        model, _ = load_with_metadata(path, device=device, dtype=dtype)
    return model.eval()


def pretrained_metadata(name: str) -> dict[str, Any]:
    """Training metadata of a shipped checkpoint (task, config, steps, held-out metrics, versions)."""
    with resources.as_file(_path(name)) as path:
        _, meta = load_with_metadata(path)
    return meta
