"""The rule-object / trainer-loop contract shared by every learning rule in this package.

A rule is a small object holding its hyper-parameters (and optimiser state) that knows how to apply
one update to a model from one mini-batch; :class:`Trainer` is the single loop that feeds batches,
counts iterations, evaluates and keeps a history. Rules are registered by name in
:data:`LEARNING_RULES` so that ``make_rule("ipc", lr_w=1e-3)`` works like ``create_model``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..registry import Registry

__all__ = [
    "LEARNING_RULES",
    "ACTIVATIONS",
    "LearningRule",
    "MLP",
    "make_rule",
    "register_rule",
    "Trainer",
    "TrainerConfig",
    "History",
    "accuracy",
]

LEARNING_RULES: Registry[Callable[..., Any]] = Registry("learning rule")
ACTIVATIONS: Registry[tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = Registry("activation")
ACTIVATIONS.add("tanh", (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2))
ACTIVATIONS.add("relu", (torch.relu, lambda x: (x > 0).to(x)))
ACTIVATIONS.add("sigmoid", (torch.sigmoid, lambda x: torch.sigmoid(x) * (1 - torch.sigmoid(x))))
ACTIVATIONS.add("identity", (lambda x: x, lambda x: torch.ones_like(x)))


def register_rule(name: str, **meta: Any) -> Callable[[Any], Any]:
    """Register a rule class under ``name``."""
    return LEARNING_RULES.register(name, **meta)


def make_rule(name: str, **hparams: Any) -> "LearningRule":
    """Build the rule ``name`` with hyper-parameters ``hparams``."""
    return LEARNING_RULES.get(name)(**hparams)


class MLP(nn.Module):
    """Plain MLP ``h_l = W_l phi(h_{l-1}) + b_l`` (``phi`` = identity on the input) used by the local rules.

    The pre-activations ``h_l`` are the value nodes of predictive coding and the neuron states of
    equilibrium / dual propagation, so every rule in this package can train the same object.
    """

    def __init__(self, sizes: list[int], activation: str = "tanh", *, seed: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if len(sizes) < 2:
            raise ValueError(f"an MLP needs at least input and output sizes, got {sizes}.")
        ACTIVATIONS.get(activation)
        self.sizes = list(sizes)
        self.activation = activation
        if seed is not None:
            torch.manual_seed(seed)
        self.layers = nn.ModuleList(
            nn.Linear(a, b, device=device, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])
        )

    def phi(self, h: Tensor, layer_index: int) -> Tensor:
        """Activation applied to node ``layer_index`` before it feeds the next layer (none on input)."""
        return h if layer_index == 0 else ACTIVATIONS.get(self.activation)[0](h)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_all(x)[-1]

    def forward_all(self, x: Tensor) -> list[Tensor]:
        """All nodes ``[x, h_1, ..., h_L]`` of a feed-forward pass."""
        hs = [x]
        for i, lin in enumerate(self.layers):
            hs.append(lin(self.phi(hs[-1], i)))
        return hs


@runtime_checkable
class LearningRule(Protocol):
    """What :class:`Trainer` needs from a rule.

    ``step`` applies one update from one mini-batch and returns metrics, among them
    ``"iterations"``: the number of network relaxation/inference iterations it spent (1 for a
    forward/backward pass), so that rules can be compared in total iterations.
    """

    name: str

    def setup(self, model: nn.Module) -> None: ...

    def step(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, float]: ...

    def predict(self, model: nn.Module, x: Tensor) -> Tensor: ...


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose argmax equals the integer label."""
    return float((logits.argmax(-1) == y).float().mean())


@dataclass(frozen=True)
class TrainerConfig:
    """Trainer loop configuration.

    Attributes:
        epochs: passes over the training set.
        batch_size: mini-batch size.
        seed: shuffling seed.
        eval_every_batches: evaluate on the validation set every this many batches (0: per epoch).
        max_iterations: stop once this many rule iterations have been spent (0: no limit).
    """

    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    eval_every_batches: int = 0
    max_iterations: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self.epochs} and {self.batch_size}.")


@dataclass
class History:
    """Evaluation records: one dict per evaluation (``epoch``, ``iterations``, ``val_acc``, ...)."""

    records: list[dict[str, float]] = field(default_factory=list)

    def best(self, key: str = "val_acc") -> float:
        return max((r[key] for r in self.records if key in r), default=float("nan"))

    def iterations_to_reach(self, value: float, key: str = "val_acc") -> float:
        """Rule iterations spent when ``key`` first reached ``value`` (``inf`` if never)."""
        for r in self.records:
            if r.get(key, -math.inf) >= value:
                return r["iterations"]
        return math.inf


class Trainer:
    """The one training loop: shuffles, batches, calls ``rule.step``, counts iterations, evaluates.

    Example:
        >>> model = MLP([64, 128, 10])
        >>> hist = Trainer(make_rule("ipc"), model, TrainerConfig(epochs=5)).fit(X, y, Xv, yv)
    """

    def __init__(self, rule: LearningRule, model: nn.Module, cfg: TrainerConfig = TrainerConfig()) -> None:
        self.rule, self.model, self.cfg = rule, model, cfg
        rule.setup(model)
        self.iterations = 0

    def evaluate(self, x: Tensor, y: Tensor) -> float:
        with torch.no_grad():
            return accuracy(self.rule.predict(self.model, x), y)

    def fit(self, x: Tensor, y: Tensor, x_val: Tensor | None = None, y_val: Tensor | None = None,
            progress: bool = False) -> History:
        """Train on ``(x, y)`` (integer labels); evaluate on the validation set if given."""
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]}.")
        hist = History()
        g = torch.Generator().manual_seed(self.cfg.seed)
        n_batches = 0
        it = range(self.cfg.epochs)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc=f"train[{self.rule.name}]")
        for epoch in it:
            perm = torch.randperm(x.shape[0], generator=g)
            last: dict[str, float] = {}
            for start in range(0, x.shape[0], self.cfg.batch_size):
                idx = perm[start : start + self.cfg.batch_size]
                last = self.rule.step(self.model, x[idx], y[idx])
                for k, v in last.items():
                    if isinstance(v, float) and not math.isfinite(v):
                        raise FloatingPointError(
                            f"rule {self.rule.name!r} produced {k}={v} at epoch {epoch}, batch {n_batches}; "
                            f"lower its learning rates."
                        )
                self.iterations += int(last.get("iterations", 1))
                n_batches += 1
                if self.cfg.eval_every_batches and n_batches % self.cfg.eval_every_batches == 0:
                    self._record(hist, epoch, last, x_val, y_val)
                if self.cfg.max_iterations and self.iterations >= self.cfg.max_iterations:
                    self._record(hist, epoch, last, x_val, y_val)
                    return hist
            if not self.cfg.eval_every_batches:
                self._record(hist, epoch, last, x_val, y_val)
        return hist

    def _record(self, hist: History, epoch: int, last: dict[str, float], xv: Tensor | None, yv: Tensor | None) -> None:
        rec = {"epoch": float(epoch), "iterations": float(self.iterations)}
        rec.update({k: float(v) for k, v in last.items() if k != "iterations"})
        if xv is not None and yv is not None:
            rec["val_acc"] = self.evaluate(xv, yv)
        hist.records.append(rec)
