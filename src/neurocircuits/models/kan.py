"""Kolmogorov-Arnold Networks (Liu, Wang, Vaidya, Ruehle, Halverson, Soljacic, Hou, Tegmark,
"KAN: Kolmogorov-Arnold Networks", ICLR 2025).

By the Kolmogorov-Arnold representation theorem ``f(x) = sum_q Phi_q(sum_p phi_qp(x_p))``; a KAN
generalises it to any widths, with layers ``x_{l+1,j} = sum_i phi_{l,j,i}(x_{l,i})`` whose edge
functions are ``phi(x) = s_b silu(x) + s_s sum_g c_g B_g(x)`` (B-splines of order k on G intervals).

Workflow of the paper, all available here: train (LBFGS or Adam, optional sparsity regularisation
``lamb (|Phi|_1 + 2 S(Phi))``) -> :meth:`KAN.prune` -> :meth:`KAN.refine` (grid extension
G = 3 -> 10 -> 20 ...) -> :meth:`KAN.auto_symbolic` -> :meth:`KAN.symbolic_formula`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..layers.units import KAN
from ._registry import register_model


@register_model("kan", family="units", paper="Liu et al. 2025, KAN: Kolmogorov-Arnold Networks (ICLR)")
def kan(widths: list[int] | tuple[int, ...] = (2, 5, 1), grid: int = 5, spline_order: int = 3,
        grid_range: tuple[float, float] = (-1.0, 1.0), seed: int | None = None,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> KAN:
    """A KAN with the given widths, grid intervals and spline order."""
    return KAN(list(widths), grid=grid, spline_order=spline_order, grid_range=grid_range, seed=seed,
               device=device, dtype=dtype)


@dataclass
class FitResult:
    """Loss history of :func:`fit_kan` (RMSE on the train and test sets after each step)."""

    train_rmse: list[float] = field(default_factory=list)
    test_rmse: list[float] = field(default_factory=list)


def rmse(model: torch.nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(x) - y) ** 2)))


def fit_kan(model: KAN, x: Tensor, y: Tensor, steps: int = 20, x_test: Tensor | None = None,
            y_test: Tensor | None = None, lamb: float = 0.0, lamb_entropy: float = 2.0, opt: str = "lbfgs",
            lr: float = 1.0, update_grid_every: int = 0, stop_grid_update_step: int = 50,
            callback: Callable[[int, FitResult], bool] | None = None, plateau_steps: int = 0,
            plateau_tol: float = 1e-2) -> FitResult:
    """Train ``model`` on ``(x, y)`` by full-batch LBFGS (default) or Adam.

    Args:
        lamb: weight of the sparsity regulariser (0 disables it; the paper uses 1e-2 to 1e-3).
        update_grid_every: adapt the grids to the activations every this many steps (0: never),
            until ``stop_grid_update_step``.
        callback: ``callback(step, result) -> stop`` called after each step.
        plateau_steps: if > 0, stop once the training RMSE has not fallen below
            ``(1 - plateau_tol)`` times its best value for this many steps, e.g. to move on to a
            grid extension that will lower the error further.
    """
    if opt not in ("lbfgs", "adam"):
        raise ValueError(f"opt must be 'lbfgs' or 'adam', got {opt!r}.")
    if plateau_steps < 0 or not 0.0 <= plateau_tol < 1.0:
        raise ValueError(f"plateau_steps must be >= 0 and plateau_tol in [0, 1), got {plateau_steps}, {plateau_tol}.")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if opt == "lbfgs":
        optimizer = torch.optim.LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe",
                                      tolerance_grad=1e-32, tolerance_change=1e-32, max_iter=20)
    else:
        optimizer = torch.optim.Adam(params, lr=lr)
    result = FitResult()

    # The inputs are fixed: the first layer's B-spline bases change only when its grid does.
    bases: dict[str, Tensor] = {}

    def refresh_bases() -> None:
        with torch.no_grad():
            bases["train"] = model.layers[0].basis(x)
            if x_test is not None:
                bases["test"] = model.layers[0].basis(x_test)

    def closure() -> Tensor:
        optimizer.zero_grad()
        if lamb > 0:
            pred, reg = model.forward_with_reg(x, lamb_entropy=lamb_entropy)
            loss = torch.mean((pred - y) ** 2) + lamb * reg
        else:
            loss = torch.mean((model(x, bases["train"]) - y) ** 2)
        loss.backward()
        return loss

    refresh_bases()
    for step in range(steps):
        if update_grid_every and step % update_grid_every == 0 and step < stop_grid_update_step:
            model.update_grid(x)  # coefficients change in place; the optimiser keeps its history
            refresh_bases()
        loss = optimizer.step(closure)
        if not torch.isfinite(torch.as_tensor(loss)):
            raise FloatingPointError(f"KAN training diverged at step {step} (loss={float(loss)}); lower lr.")
        with torch.no_grad():
            result.train_rmse.append(float(torch.sqrt(torch.mean((model(x, bases["train"]) - y) ** 2))))
            if x_test is not None and y_test is not None:
                result.test_rmse.append(float(torch.sqrt(torch.mean((model(x_test, bases["test"]) - y_test) ** 2))))
        if callback is not None and callback(step, result):
            break
        if plateau_steps and _plateaued(result.train_rmse, plateau_steps, plateau_tol):
            break
    return result


def _plateaued(history: list[float], patience: int, tol: float) -> bool:
    if len(history) <= patience:
        return False
    best_before = min(history[:-patience])
    return min(history[-patience:]) > (1.0 - tol) * best_before


def fit_kan_multistart(make: Callable[[int], KAN], x: Tensor, y: Tensor, starts: int = 4, steps: int = 5,
                       seed: int = 0, **fit_kw: object) -> tuple[KAN, list[float]]:
    """Random restarts against the coarse-grid local minima of small KANs.

    Builds ``make(seed + s)`` for ``s < starts``, trains each for ``steps`` steps of
    :func:`fit_kan` (``fit_kw`` passed on) and returns the one with the lowest training RMSE,
    with every candidate's final training RMSE.
    """
    if starts < 1 or steps < 1:
        raise ValueError(f"starts and steps must be >= 1, got {starts}, {steps}.")
    models, scores = [], []
    for s in range(starts):
        models.append(make(seed + s))
        scores.append(fit_kan(models[-1], x, y, steps=steps, **fit_kw).train_rmse[-1])  # type: ignore[arg-type]
    return models[scores.index(min(scores))], scores
