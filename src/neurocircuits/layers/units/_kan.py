"""Kolmogorov-Arnold Network layers (Liu et al., "KAN: Kolmogorov-Arnold Networks", ICLR 2025).

A KAN layer puts a learnable 1-D function on every edge and sums at the nodes:

    y_j = sum_i phi_ij(x_i),
    phi_ij(x) = m_ij (s^b_ij silu(x) + s^s_ij sum_g c_ijg B_g(x))        (numeric edge)
              = m_ij (c_ij f_ij(a_ij x + b_ij) + d_ij)                   (symbolic edge, once fixed)

with order-``k`` B-spline bases ``B_g`` on a per-input grid of ``G`` intervals and an edge mask
``m`` (pruning). The efficient formulation evaluates all bases once, ``[batch, in, G + k]``, and
contracts them with the coefficients in one matrix product ``[batch, in (G + k)] @ [in (G + k), out]``.
Grid extension refits the coefficients of a finer grid to the current edge functions by least
squares; symbolic fitting replaces an edge function by the best primitive of
:data:`~neurocircuits.layers.units.SYMBOLIC_LIB`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells._common import check_features
from ._bspline import adaptive_grid, bspline_basis, curve_to_coef, uniform_grid
from ._symbolic import DEFAULT_LIB, SYMBOLIC_LIB, suggest_symbolic


class KANLayer(nn.Module):
    """One KAN layer ``in_features -> out_features``.

    Args:
        in_features, out_features: sizes.
        grid_size: number of grid intervals ``G``.
        spline_order: B-spline order ``k``.
        grid_range: initial grid interval.
        noise_scale: scale of the random initial spline coefficients.
        device, dtype: factory arguments.

    Parameters are stored as in pykan: ``coef [in, out, G + k]``, ``scale_base``, ``scale_sp`` and
    the buffers ``grid [in, G + 2k + 1]`` and ``mask [in, out]``.
    """

    def __init__(self, in_features: int, out_features: int, grid_size: int = 5, spline_order: int = 3,
                 grid_range: tuple[float, float] = (-1.0, 1.0), noise_scale: float = 0.3,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"KANLayer sizes must be >= 1, got {in_features} -> {out_features}.")
        if grid_size < 1 or spline_order < 0:
            raise ValueError(f"grid_size must be >= 1 and spline_order >= 0, got {grid_size}, {spline_order}.")
        if not grid_range[0] < grid_range[1]:
            raise ValueError(f"grid_range must be increasing, got {grid_range}.")
        dtype = dtype or torch.get_default_dtype()
        fk = {"device": device, "dtype": dtype}
        self.in_features, self.out_features = in_features, out_features
        self.grid_size, self.spline_order = grid_size, spline_order
        self.register_buffer("grid", uniform_grid(in_features, grid_size, *grid_range, spline_order, **fk))
        nb = grid_size + spline_order
        self.coef = nn.Parameter((torch.rand(in_features, out_features, nb, **fk) - 0.5) * noise_scale / grid_size)
        self.scale_base = nn.Parameter((torch.rand(in_features, out_features, **fk) * 2 - 1) / in_features**0.5)
        self.scale_sp = nn.Parameter(torch.ones(in_features, out_features, **fk) / in_features**0.5)
        self.register_buffer("mask", torch.ones(in_features, out_features, **fk))
        # symbolic edges: 1 where the edge is fixed to a primitive, its (a, b, c, d) and names
        self.register_buffer("sym_mask", torch.zeros(in_features, out_features, **fk))
        self.sym_affine = nn.Parameter(torch.zeros(in_features, out_features, 4, **fk))
        self.sym_names: dict[tuple[int, int], str] = {}

    @property
    def n_basis(self) -> int:
        return self.grid_size + self.spline_order

    # -- evaluation ---------------------------------------------------------------------------
    def basis(self, x: Tensor) -> Tensor:
        """B-spline bases ``[batch, in, G + k]``."""
        return bspline_basis(x, self.grid, self.spline_order)

    def _spline_weight(self) -> Tensor:
        numeric = self.mask * (1 - self.sym_mask)
        w = self.coef * (self.scale_sp * numeric).unsqueeze(-1)  # [in, out, nb]
        return w.permute(0, 2, 1).reshape(self.in_features * self.n_basis, self.out_features)

    def forward(self, x: Tensor, basis: Tensor | None = None) -> Tensor:
        """``[batch, in] -> [batch, out]`` with one basis expansion and one matmul.

        ``basis``: optionally ``self.basis(x)``, precomputed (inputs that stay fixed over many
        evaluations, e.g. a training set during full-batch optimisation with a fixed grid).
        """
        check_features(x, self.in_features, "KANLayer")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        numeric = self.mask * (1 - self.sym_mask)
        bas = self.basis(x2) if basis is None else basis
        y = torch.addmm(bas.reshape(x2.shape[0], -1) @ self._spline_weight(), F.silu(x2), self.scale_base * numeric)
        if self.sym_names:
            y = y + self._symbolic_edges(x2).sum(dim=1)
        return y.reshape(*lead, self.out_features)

    def _symbolic_edges(self, x: Tensor) -> Tensor:
        out = torch.zeros(x.shape[0], self.in_features, self.out_features, device=x.device, dtype=x.dtype)
        for (i, j), name in self.sym_names.items():
            a, b, c, d = self.sym_affine[i, j]
            out[:, i, j] = self.mask[i, j] * (c * SYMBOLIC_LIB.get(name).fn(a * x[:, i] + b) + d)
        return out

    def edge_values(self, x: Tensor) -> Tensor:
        """Every edge function at its input: ``phi_ij(x_i)`` as ``[batch, in, out]``."""
        numeric = self.mask * (1 - self.sym_mask)
        spline = torch.einsum("bik,iok->bio", self.basis(x), self.coef)
        phi = numeric * (self.scale_base * F.silu(x).unsqueeze(-1) + self.scale_sp * spline)
        if self.sym_names:
            phi = phi + self._symbolic_edges(x)
        return phi

    def spline_values(self, x: Tensor) -> Tensor:
        """The spline part ``sum_g c_ijg B_g(x_i)`` ``[batch, in, out]`` (no scales, no mask)."""
        return torch.einsum("bik,iok->bio", self.basis(x), self.coef)

    # -- grid ---------------------------------------------------------------------------------
    @torch.no_grad()
    def set_grid(self, x: Tensor, grid_size: int | None = None, grid_eps: float = 0.02) -> None:
        """Move the grid to the distribution of ``x`` (and optionally change ``G``), refitting the
        coefficients so that the edge functions stay the same on the samples (least squares)."""
        grid_size = grid_size or self.grid_size
        target = self.spline_values(x)
        new_grid = adaptive_grid(x, grid_size, self.spline_order, grid_eps)
        coef = curve_to_coef(x, target, new_grid, self.spline_order)
        self.grid = new_grid
        self.grid_size = grid_size
        if coef.shape == self.coef.shape:  # same parameter object: an optimiser keeps its state
            self.coef.copy_(coef)
        else:
            self.coef = nn.Parameter(coef)

    # -- symbolic -----------------------------------------------------------------------------
    @torch.no_grad()
    def fix_symbolic(self, i: int, j: int, name: str, a: float, b: float, c: float, d: float) -> None:
        """Replace edge ``i -> j`` by ``c f(a x + b) + d`` with primitive ``name``."""
        SYMBOLIC_LIB.get(name)
        self.sym_names[(i, j)] = name
        self.sym_mask[i, j] = 1.0
        self.sym_affine[i, j] = torch.tensor([a, b, c, d], dtype=self.sym_affine.dtype)

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, grid={self.grid_size}, "
                f"k={self.spline_order}, symbolic={len(self.sym_names)}")


class KAN(nn.Module):
    """A stack of :class:`KANLayer` with widths ``[in, hidden..., out]``.

    Methods beyond ``forward``: :meth:`regularization` (L1 + entropy sparsity of the edge
    activations), :meth:`refine` (grid extension), :meth:`update_grid`, :meth:`prune`,
    :meth:`auto_symbolic` and :meth:`symbolic_formula`.
    """

    def __init__(self, widths: list[int] | tuple[int, ...], grid: int = 5, spline_order: int = 3,
                 grid_range: tuple[float, float] = (-1.0, 1.0), noise_scale: float = 0.3, seed: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths must list at least an input and an output size >= 1, got {widths}.")
        if seed is not None:
            torch.manual_seed(seed)
        self.widths = widths
        self.spline_order = spline_order
        self.layers = nn.ModuleList(
            KANLayer(a, b, grid, spline_order, grid_range, noise_scale, device=device, dtype=dtype)
            for a, b in zip(widths[:-1], widths[1:])
        )

    @property
    def in_features(self) -> int:
        return self.widths[0]

    @property
    def grid_size(self) -> int:
        return self.layers[0].grid_size

    def forward(self, x: Tensor, first_basis: Tensor | None = None) -> Tensor:
        """``[batch, in] -> [batch, out]``; ``first_basis``: optionally the first layer's
        ``layers[0].basis(x)``, precomputed (see :meth:`KANLayer.forward`)."""
        check_features(x, self.widths[0], "KAN")
        for n, layer in enumerate(self.layers):
            x = layer(x, first_basis if n == 0 else None)
        return x

    def layer_inputs(self, x: Tensor) -> list[Tensor]:
        """The input of every layer (``[batch, width_l]``), for grid updates and symbolic fits."""
        acts = []
        for layer in self.layers:
            acts.append(x)
            x = layer(x)
        return acts

    def forward_with_reg(self, x: Tensor, lamb_l1: float = 1.0, lamb_entropy: float = 2.0) -> tuple[Tensor, Tensor]:
        """Output and the KAN sparsity regulariser ``sum_l lamb_l1 |Phi_l|_1 + lamb_entropy S(Phi_l)``
        with ``|phi|_1`` the mean absolute edge activation and ``S`` the entropy of their shares."""
        check_features(x, self.widths[0], "KAN")
        reg = x.new_zeros(())
        for layer in self.layers:
            phi = layer.edge_values(x)
            x = phi.sum(dim=1)
            l1 = phi.abs().mean(dim=0)  # [in, out]
            total = l1.sum()
            p = l1 / (total + 1e-4)
            reg = reg + lamb_l1 * total + lamb_entropy * -(p * torch.log2(p + 1e-4)).sum()
        return x, reg

    @torch.no_grad()
    def update_grid(self, x: Tensor, grid_eps: float = 0.02) -> None:
        """Adapt every layer's grid to its current input distribution (edge functions preserved)."""
        for layer, xi in zip(self.layers, self.layer_inputs(x)):
            layer.set_grid(xi, grid_eps=grid_eps)

    @torch.no_grad()
    def refine(self, grid: int, x: Tensor, grid_eps: float = 0.02) -> KAN:
        """Grid extension: switch every layer to ``grid`` intervals, fitting the finer splines to
        the current edge functions on the samples ``x``. Returns ``self``."""
        if grid < 1:
            raise ValueError(f"grid must be >= 1, got {grid}.")
        for layer, xi in zip(self.layers, self.layer_inputs(x)):
            layer.set_grid(xi, grid_size=grid, grid_eps=grid_eps)
        return self

    @torch.no_grad()
    def edge_scores(self, x: Tensor) -> list[Tensor]:
        """Mean absolute activation of every edge, per layer ``[in, out]``."""
        return [layer.edge_values(xi).abs().mean(dim=0) for layer, xi in zip(self.layers, self.layer_inputs(x))]

    @torch.no_grad()
    def prune(self, x: Tensor, threshold: float = 1e-2) -> KAN:
        """Remove hidden nodes whose largest incoming and largest outgoing edge scores are not both
        above ``threshold``, and mask edges below it. Returns a new, smaller KAN."""
        scores = self.edge_scores(x)
        keep = [torch.arange(self.widths[0])]
        for l in range(1, len(self.widths) - 1):
            ok = (scores[l - 1].amax(dim=0) > threshold) & (scores[l].amax(dim=1) > threshold)
            idx = torch.nonzero(ok).flatten()
            if idx.numel() == 0:
                idx = torch.argmax(scores[l - 1].amax(dim=0) * scores[l].amax(dim=1)).reshape(1)
            keep.append(idx)
        keep.append(torch.arange(self.widths[-1]))
        new = KAN([len(k) for k in keep], grid=self.grid_size, spline_order=self.spline_order,
                  device=self.layers[0].coef.device, dtype=self.layers[0].coef.dtype)
        for l, (old, lay) in enumerate(zip(self.layers, new.layers)):
            ki, ko = keep[l], keep[l + 1]
            lay.grid = old.grid[ki].clone()
            lay.grid_size = old.grid_size
            lay.coef = nn.Parameter(old.coef[ki][:, ko].clone())
            lay.scale_base = nn.Parameter(old.scale_base[ki][:, ko].clone())
            lay.scale_sp = nn.Parameter(old.scale_sp[ki][:, ko].clone())
            lay.mask = (old.mask[ki][:, ko] * (scores[l][ki][:, ko] > threshold)).clone()
            lay.sym_mask = old.sym_mask[ki][:, ko].clone()
            lay.sym_affine = nn.Parameter(old.sym_affine[ki][:, ko].clone())
            pos_i = {int(v): n for n, v in enumerate(ki)}
            pos_o = {int(v): n for n, v in enumerate(ko)}
            lay.sym_names = {(pos_i[i], pos_o[j]): name for (i, j), name in old.sym_names.items()
                             if i in pos_i and j in pos_o}
        return new

    @torch.no_grad()
    def auto_symbolic(self, x: Tensor, lib: tuple[str, ...] = DEFAULT_LIB, weight_simple: float = 0.8,
                      **fit_kw: Any) -> list[tuple[int, int, int, str, float]]:
        """Fix every active numeric edge to its best primitive; returns ``(layer, i, j, name, r2)``."""
        chosen = []
        for l, (layer, xi) in enumerate(zip(self.layers, self.layer_inputs(x))):
            phi = layer.edge_values(xi)
            for i in range(layer.in_features):
                for j in range(layer.out_features):
                    if layer.mask[i, j] == 0 or (i, j) in layer.sym_names:
                        continue
                    best = suggest_symbolic(xi[:, i], phi[:, i, j], lib, weight_simple, **fit_kw)[0]
                    layer.fix_symbolic(i, j, best.name, best.a, best.b, best.c, best.d)
                    chosen.append((l, i, j, best.name, best.r2))
        return chosen

    def symbolic_formula(self, variables: list[str] | None = None, digits: int = 4) -> list[Any]:
        """The network as sympy expressions (one per output); every active edge must be symbolic."""
        import sympy

        names = variables or [f"x_{i + 1}" for i in range(self.widths[0])]
        exprs: list[Any] = list(sympy.symbols(names))
        for l, layer in enumerate(self.layers):
            outs = []
            for j in range(layer.out_features):
                total: Any = 0
                for i in range(layer.in_features):
                    if layer.mask[i, j] == 0:
                        continue
                    if (i, j) not in layer.sym_names:
                        raise ValueError(
                            f"edge {i}->{j} of layer {l} is still a spline; call auto_symbolic() or "
                            f"fix_symbolic() on it first."
                        )
                    a, b, c, d = (round(float(v), digits) for v in layer.sym_affine[i, j].detach())
                    prim = SYMBOLIC_LIB.get(layer.sym_names[(i, j)])
                    total = total + c * prim.sympy(a * exprs[i] + b) + d
                outs.append(sympy.simplify(total) if l == len(self.layers) - 1 else total)
            exprs = outs
        return exprs

    def example_input(self, batch: int = 4) -> Tensor:
        """A valid input ``[batch, in]`` in the grid range (registry smoke-test hook)."""
        c = self.layers[0].coef
        return torch.rand(batch, self.widths[0], device=c.device, dtype=c.dtype) * 2 - 1
