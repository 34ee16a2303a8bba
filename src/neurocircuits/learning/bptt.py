"""Surrogate-gradient backpropagation through time for spiking classifiers.

:func:`train_classifier` runs mini-batch BPTT (Adam, cross-entropy on the decoded output sequence,
optional regulariser) with a tqdm progress bar, evaluates each epoch, and writes an atomic
checkpoint (safetensors weights + optimiser/progress state, temp file + ``os.replace``) so that a
killed run resumes from its last finished epoch with ``resume=True``. Divergence (a NaN/inf loss)
raises :class:`TrainingDivergedError` naming the epoch and batch.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..functional.encoding import decode


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class BPTTConfig:
    """Training settings. ``lr`` for Adam; ``seed`` fixes shuffling and encoding noise."""

    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.0
    seed: int = 0
    decoder: str = "count"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs must be >= 0, batch_size >= 1 and lr > 0.")


@dataclass
class TrainResult:
    """History per epoch (``loss``, ``train_acc``, ``test_acc``) and the final test accuracy."""

    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def test_accuracy(self) -> float:
        return self.history[-1]["test_acc"] if self.history else float("nan")


def _batches(n: int, bs: int, gen: torch.Generator) -> list[Tensor]:
    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + bs] for i in range(0, n, bs)]


def _take(x: Tensor, idx: Tensor, time_first: bool) -> Tensor:
    return x[:, idx] if time_first else x[idx]


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, time_first: bool = False, decoder: str = "count",
             batch_size: int = 512) -> tuple[float, list[float]]:
    """Accuracy of ``model`` on ``(x, y)`` and the mean firing rate of each hooked spiking population."""
    from ..layers.hooks import cache_activations, hook_points

    was = model.training
    model.eval()
    names = [n for n in hook_points(model) if n.endswith("hook_spikes")]
    correct, rates = 0, [0.0] * len(names)
    n = y.shape[0]
    try:
        for i in range(0, n, batch_size):
            idx = torch.arange(i, min(n, i + batch_size))
            with cache_activations(model, names) as cache:
                out, _ = model(_take(x, idx, time_first))
            correct += int((decode(out, decoder).argmax(-1) == y[idx]).sum())
            for k, name in enumerate(names):
                rates[k] += float(cache[name].float().mean()) * len(idx)
    finally:
        model.train(was)
    return correct / n, [r / n for r in rates]


def save_checkpoint(path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int,
                    extra: dict | None = None) -> None:
    """Write model + optimiser + progress to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
                    "extra": extra or {}}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def train_classifier(
    model: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    x_test: Tensor,
    y_test: Tensor,
    config: BPTTConfig = BPTTConfig(),
    *,
    time_first: bool = False,
    checkpoint: str | Path | None = None,
    resume: bool = False,
    regularizer: Callable[[nn.Module, Tensor, Tensor], Tensor] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``model`` (``forward(x) -> (out_seq, state)``) by surrogate-gradient BPTT.

    Args:
        model: a spiking classifier whose output sequence is decoded with ``config.decoder``.
        x_train, y_train, x_test, y_test: data; sequences are ``(time, n, ...)`` when ``time_first``.
        config: :class:`BPTTConfig`.
        checkpoint: file to write after every epoch (atomically); ``resume=True`` continues from it.
        regularizer: optional ``fn(model, x_batch, out_seq) -> scalar`` added to the loss.
        on_epoch: callback ``fn(epoch, metrics)``.
    """
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    result = TrainResult()
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        start = int(ck["epoch"])
        result.history = list(ck["extra"].get("history", []))
        gen.set_state(ck["extra"]["generator"]) if "generator" in ck["extra"] else None
        torch.set_rng_state(ck["extra"]["torch_rng"]) if "torch_rng" in ck["extra"] else None
    n = y_train.shape[0]
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    for epoch in range(start, config.epochs):
        model.train()
        batches = _batches(n, config.batch_size, gen)
        it = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not config.progress) if tqdm else batches
        tot, correct = 0.0, 0
        for b, idx in enumerate(it):
            xb = _take(x_train, idx, time_first)
            out, _ = model(xb)
            scores = decode(out, config.decoder)
            loss = nn.functional.cross_entropy(scores, y_train[idx])
            if regularizer is not None:
                loss = loss + regularizer(model, xb, out)
            if not torch.isfinite(loss):
                raise TrainingDivergedError(
                    f"loss became {float(loss.detach())} at epoch {epoch + 1}, batch {b}; lower lr (now {config.lr}) "
                    f"or check the input scale."
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
            correct += int((scores.argmax(-1) == y_train[idx]).sum())
            if tqdm and config.progress:
                it.set_postfix(loss=f"{float(loss.detach()):.3f}")
        test_acc, _ = evaluate(model, x_test, y_test, time_first, config.decoder)
        metrics = {"epoch": epoch + 1, "loss": tot / n, "train_acc": correct / n, "test_acc": test_acc}
        result.history.append(metrics)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, opt, epoch + 1, {"history": result.history, "config": asdict(config),
                                                                "generator": gen.get_state(), "torch_rng": torch.get_rng_state()})
    return result


def history_json(result: TrainResult) -> str:
    return json.dumps(result.history)
