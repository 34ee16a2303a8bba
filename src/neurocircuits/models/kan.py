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
            callback: Callable[[int, FitResult], bool] | None = None) -> FitResult:
    """Train ``model`` on ``(x, y)`` by full-batch LBFGS (default) or Adam.

    Args:
        lamb: weight of the sparsity regulariser (0 disables it; the paper uses 1e-2 to 1e-3).
        update_grid_every: adapt the grids to the activations every this many steps (0: never),
            until ``stop_grid_update_step``.
        callback: ``callback(step, result) -> stop`` called after each step.
    """
    if opt not in ("lbfgs", "adam"):
        raise ValueError(f"opt must be 'lbfgs' or 'adam', got {opt!r}.")
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer: torch.optim.Optimizer
    if opt == "lbfgs":
        optimizer = torch.optim.LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe",
                                      tolerance_grad=1e-32, tolerance_change=1e-32, max_iter=20)
    else:
        optimizer = torch.optim.Adam(params, lr=lr)
    result = FitResult()

    def closure() -> Tensor:
        optimizer.zero_grad()
        if lamb > 0:
            pred, reg = model.forward_with_reg(x, lamb_entropy=lamb_entropy)
            loss = torch.mean((pred - y) ** 2) + lamb * reg
        else:
            loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        return loss

    for step in range(steps):
        if update_grid_every and step % update_grid_every == 0 and step < stop_grid_update_step:
            model.update_grid(x)
            if opt == "lbfgs":  # parameters were replaced: rebuild the optimiser
                params = [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe",
                                              tolerance_grad=1e-32, tolerance_change=1e-32, max_iter=20)
            else:
                params = [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.Adam(params, lr=lr)
        loss = optimizer.step(closure)
        if not torch.isfinite(torch.as_tensor(loss)):
            raise FloatingPointError(f"KAN training diverged at step {step} (loss={float(loss)}); lower lr.")
        result.train_rmse.append(rmse(model, x, y))
        if x_test is not None and y_test is not None:
            result.test_rmse.append(rmse(model, x_test, y_test))
        if callback is not None and callback(step, result):
            break
    return result
