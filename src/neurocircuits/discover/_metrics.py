"""Task metrics and ablation sources, each in a registry.

A metric maps a stack of K model outputs ``(K, batch, ...)`` (logits ``(K, batch, pos, vocab)`` for
language models, ``(K, batch, classes)`` for classifiers) to K numbers, one per ablation
configuration, averaged over the batch. ``meta(kind=...)`` says whether larger means "more of the
behaviour" (``"score"``: logit difference, probability, accuracy) or "further from the full model"
(``"distance"``: KL divergence to the clean output distribution). ``meta(positions="answer")``
says the metric reads the output at ``pairs.answer_pos`` only, so models that can skip the other
positions of their last layer (``model.output_positions``) may do so.

An ablation source gives, for every writer hook, the activation that replaces a writer's output on
an ablated edge: the corrupted run (default), the dataset mean, zeros or a resampled clean batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..registry import Registry

MetricFn = Callable[[torch.Tensor, Any, torch.Tensor], torch.Tensor]
METRICS: Registry[MetricFn] = Registry("metric")

AblationFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Generator], dict[str, torch.Tensor]]
ABLATIONS: Registry[AblationFn] = Registry("ablation")


def answer_logits(out: torch.Tensor, answer_pos: int) -> torch.Tensor:
    """``(K, batch, vocab)`` logits at the answer position (outputs without a position axis pass through)."""
    return out[:, :, answer_pos] if out.ndim == 4 else out


def _gather(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    # logits (K, B, V), idx (B,) -> (K, B)
    return logits.gather(-1, idx.view(1, -1, 1).expand(logits.shape[0], -1, 1)).squeeze(-1)


@METRICS.register("logit_diff", kind="score", differentiable=True, positions="answer",
                  doc="logit[answer] - logit[wrong] at answer_pos, batch mean")
def logit_diff(out: torch.Tensor, pairs: Any, clean_out: torch.Tensor) -> torch.Tensor:
    logits = answer_logits(out, pairs.answer_pos)
    return (_gather(logits, pairs.answer) - _gather(logits, pairs.wrong)).mean(dim=1)


@METRICS.register("kl_divergence", kind="distance", differentiable=True, positions="answer",
                  doc="KL(clean || patched) of the output distribution at answer_pos, batch mean")
def kl_divergence(out: torch.Tensor, pairs: Any, clean_out: torch.Tensor) -> torch.Tensor:
    logp = F.log_softmax(answer_logits(out, pairs.answer_pos), dim=-1)
    logq = F.log_softmax(answer_logits(clean_out.unsqueeze(0), pairs.answer_pos), dim=-1)
    return (logq.exp() * (logq - logp)).sum(-1).mean(dim=1)


@METRICS.register("prob", kind="score", differentiable=True, positions="answer", doc="softmax probability of the answer, batch mean")
def prob(out: torch.Tensor, pairs: Any, clean_out: torch.Tensor) -> torch.Tensor:
    return _gather(F.softmax(answer_logits(out, pairs.answer_pos), dim=-1), pairs.answer).mean(dim=1)


@METRICS.register("accuracy", kind="score", differentiable=False, positions="answer",
                  doc="fraction of prompts whose top prediction is the answer")
def accuracy(out: torch.Tensor, pairs: Any, clean_out: torch.Tensor) -> torch.Tensor:
    logits = answer_logits(out, pairs.answer_pos)
    return (logits.argmax(-1) == pairs.answer.view(1, -1)).to(logits.dtype).mean(dim=1)


def list_metrics() -> list[str]:
    """Names of the registered metrics."""
    return METRICS.names()


# -- ablation sources ---------------------------------------------------------------------------
# Each takes the clean and corrupt activations of the writer hooks, {hook: (batch, ...)}, and returns
# the replacement activations {hook: (batch, ...)}.

@ABLATIONS.register("corrupt", doc="the writer outputs of the corrupted prompts (interchange ablation)")
def corrupt_ablation(clean: dict[str, torch.Tensor], corrupt: dict[str, torch.Tensor],
                     gen: torch.Generator) -> dict[str, torch.Tensor]:
    return dict(corrupt)


@ABLATIONS.register("mean", doc="the mean writer output over the clean data set (per position)")
def mean_ablation(clean: dict[str, torch.Tensor], corrupt: dict[str, torch.Tensor],
                  gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {k: v.mean(dim=0, keepdim=True).expand_as(v).contiguous() for k, v in clean.items()}


@ABLATIONS.register("zero", doc="zeros")
def zero_ablation(clean: dict[str, torch.Tensor], corrupt: dict[str, torch.Tensor],
                  gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {k: torch.zeros_like(v) for k, v in clean.items()}


@ABLATIONS.register("resample", doc="the writer outputs of another, randomly chosen clean prompt")
def resample_ablation(clean: dict[str, torch.Tensor], corrupt: dict[str, torch.Tensor],
                      gen: torch.Generator) -> dict[str, torch.Tensor]:
    n = next(iter(clean.values())).shape[0]
    perm = derangement(n, gen)
    return {k: v[perm.to(v.device)] for k, v in clean.items()}


def derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random permutation with no fixed point (identity when n == 1)."""
    if n < 2:
        return torch.arange(n)
    shift = torch.randint(1, n, (1,), generator=gen).item()
    perm = torch.randperm(n, generator=gen)
    out = torch.empty(n, dtype=torch.long)
    out[perm] = perm.roll(int(shift))  # each i = perm[j] maps to perm[j - shift] != i
    return out


def list_ablations() -> list[str]:
    """Names of the registered ablation sources."""
    return ABLATIONS.names()
