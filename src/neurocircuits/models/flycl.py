"""Fly-CL: the fly olfactory motif for streaming, class-incremental learning on frozen features.

After Fly-CL (Zou, Zang, Xu & Ji 2025, arXiv:2510.16877, ICLR 2026: fly-inspired decorrelation and
reduced training time for continual representation learning) and the fly olfactory circuit (Dasgupta,
Stevens & Navlakha 2017, Science). Our own implementation.

    normalise   z = (x - mean_i x_i) / std_i x_i       (per-sample divisive normalisation across inputs,
                                                    as projection neurons; normalise="running": running
                                                    per-input statistics; "none": z = x, as the paper)
    expand      a = P z,  P in R^{m x d} sparse:       each of the m Kenyon cells sums ``fan_in`` inputs,
                P_jc = 1 (weights="binary", FlyHash) or P_jc ~ N(0, 1) (weights="gaussian", the paper)
                (a weighted gather-sum, O(batch m fan_in), never a dense m x d product)
    k-WTA       h_j = f(a_j) if a_j is among the k largest of a, else 0   (APL feedback inhibition)
                f(a) = max(a, 0) (code="relu"), a (code="values", the paper), 1 (code="binary")
    classify    streaming ridge: G <- G + H_t^T H_t, Q <- Q + H_t^T Y_t per task t,
                W = (G + lambda I)^-1 Q  (one Cholesky solve);  or streaming similarity matching:
                prototype_c <- prototype_c + h, y_hat = argmax_c cos(h, prototype_c).

The paper's own setting (its official code: m = 10,000, 300 of 768 inputs per cell, Gaussian synapses,
the top 30 % kept with their values, GCV ridge search) and the first version's FlyHash-style one are
named presets (:data:`FLYCL_PRESETS`, :meth:`FlyCL.from_preset`, ``create_model("fly_cl", preset=...)``).

Ridge parameter search (``ridge_grid``), per task as RanPAC does (McDonnell et al. 2023): hold out
20 % of the task's samples, fit on the rest for every lambda of the grid and keep the lambda with the
lowest validation mean squared error. RanPAC solves one ``m x m`` system per lambda; here one
eigendecomposition serves every lambda, taken in the smaller space (:func:`select_ridge`):

    n < m (dual):    K = H H^T = U S U^T,   H_val W(lambda) = (H_val H^T U) diag(1 / (s + lambda)) U^T Y
    n >= m (primal): G = H^T H = V S V^T,   H_val W(lambda) = (H_val V) diag(1 / (s + lambda)) V^T H^T Y

or, ``search="gcv"`` (the paper's criterion), generalised cross-validation on all of the task's samples,
``GCV(lambda) = (|Y - H W(lambda)|^2 / n) / (1 - df(lambda) / n)^2`` with ``df = sum_i s_i / (s_i + lambda)``
(:func:`ridge_gcv_curve`), from the same eigendecomposition.

Both read-outs are exact under any order of the stream (class-incremental learning does not
forget), and the sparse, near-orthogonal codes ``h`` are far less collinear than the features.
A frozen random CNN (:func:`random_conv_features`) stands in for a pre-trained backbone;
:class:`RandomProjectionRidge` is the RanPAC-style baseline (dense Gaussian expansion + ReLU, or the
raw features, with the same streaming ridge read-out).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..registry import Registry
from ._registry import register_model

_PAPER = "Fly-CL (Zou et al. 2025, arXiv:2510.16877); Dasgupta, Stevens & Navlakha 2017, Science"
#: RanPAC's ridge grid (10^-8 .. 10^13 in decades).
RANPAC_RIDGE_GRID: tuple[float, ...] = tuple(10.0 ** e for e in range(-8, 14))
_SEARCH_METHODS = ("eigen", "solve", "gcv")
_SOLVERS = ("primal", "dual", "auto")
_WEIGHTS = ("binary", "gaussian")
_CODES = ("relu", "values", "binary")
_NORMALISE = ("sample", "running", "none")


@torch.no_grad()
def random_conv_features(images: torch.Tensor, channels: int = 32, seed: int = 0) -> torch.Tensor:
    """Frozen random CNN features: conv3x3 -> ReLU -> conv3x3 -> ReLU -> 2x2 average pool -> flatten.

    Args:
        images: ``[batch, H, W]`` or ``[batch, 1, H, W]``.
    """
    if images.dim() == 3:
        images = images[:, None]
    gen = torch.Generator().manual_seed(seed)
    c1 = torch.randn(channels, images.shape[1], 3, 3, generator=gen) / 3.0
    c2 = torch.randn(channels, channels, 3, 3, generator=gen) / (3.0 * channels ** 0.5)
    h = torch.relu(nn.functional.conv2d(images.float(), c1, padding=1))
    h = torch.relu(nn.functional.conv2d(h, c2, padding=1))
    return nn.functional.avg_pool2d(h, 2).flatten(1)


def multicollinearity(features: torch.Tensor, max_columns: int | None = None, seed: int = 0) -> float:
    """Mean absolute off-diagonal Pearson correlation between feature columns (constant columns skipped).

    With ``max_columns``, the mean over a seeded random subset of that many columns (an unbiased estimate
    that keeps the ``columns x columns`` correlation matrix small for wide codes).
    """
    if max_columns is not None and features.shape[1] > max_columns:
        pick = torch.randperm(features.shape[1], generator=torch.Generator().manual_seed(seed))[:max_columns]
        features = features[:, pick.to(features.device)]
    x = features.double()
    x = x[:, x.std(0) > 1e-12]
    c = torch.corrcoef(x.T)
    n = c.shape[0]
    return float((c.abs().sum() - n) / (n * (n - 1)))


def _holdout(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_train = max(1, int(round(0.8 * n)))
    return perm[:n_train], perm[n_train:]


@torch.no_grad()
def ridge_validation_curve(h: torch.Tensor, targets: torch.Tensor, grid: Sequence[float], method: str = "eigen",
                           seed: int = 0) -> torch.Tensor:
    """Validation mean squared error of ridge regression ``h -> targets`` for every lambda of ``grid``.

    The samples are split 80/20 by a seeded permutation (RanPAC's protocol). ``method="solve"`` solves
    the ``m x m`` system ``(H^T H + lambda I) W = H^T Y`` once per lambda (RanPAC); ``"eigen"``
    eigendecomposes the smaller of ``H H^T`` (``n x n``) and ``H^T H`` (``m x m``) once and evaluates every
    lambda from it (module docstring). Both give the same curve up to rounding.

    Args:
        h: features ``[n, m]``. targets: ``[n, c]`` (e.g. one-hot). grid: the lambdas (> 0).

    Returns:
        ``[len(grid)]`` validation MSEs.
    """
    if method not in ("eigen", "solve"):
        raise ValueError(f"method must be 'eigen' or 'solve' (for GCV use ridge_gcv_curve), not {method!r}.")
    if h.dim() != 2 or targets.dim() != 2 or h.shape[0] != targets.shape[0]:
        raise ValueError(f"h must be [n, m] and targets [n, c] with the same n, got {tuple(h.shape)} and "
                         f"{tuple(targets.shape)}.")
    if h.shape[0] < 5:
        raise ValueError(f"a ridge search needs at least 5 samples (80/20 hold-out), got {h.shape[0]}.")
    lams = torch.as_tensor(list(grid), dtype=h.dtype, device=h.device)
    if not bool((lams > 0).all()):
        raise ValueError("every ridge parameter in the grid must be > 0.")
    tr, va = _holdout(h.shape[0], seed)
    htr, hva, ytr, yva = h[tr], h[va], targets[tr].to(h), targets[va].to(h)
    if method == "solve":
        gram, cross = htr.T @ htr, htr.T @ ytr
        eye = torch.eye(gram.shape[0], dtype=h.dtype, device=h.device)
        errs = [((hva @ torch.linalg.solve(gram + lam * eye, cross)) - yva).pow(2).mean() for lam in lams]
        return torch.stack(errs)
    if htr.shape[0] < htr.shape[1]:  # dual: n x n
        s, u = torch.linalg.eigh(htr @ htr.T)
        left, right = (hva @ htr.T) @ u, u.T @ ytr
    else:  # primal: m x m
        s, u = torch.linalg.eigh(htr.T @ htr)
        left, right = hva @ u, u.T @ (htr.T @ ytr)
    s = s.clamp_min(0.0)
    inv = 1.0 / (s[None, :] + lams[:, None])                       # [n_lambda, r]
    pred = torch.einsum("vr,lr,rc->lvc", left, inv, right)         # [n_lambda, n_val, c]
    return (pred - yva[None]).pow(2).mean(dim=(1, 2))


@torch.no_grad()
def ridge_gcv_curve(h: torch.Tensor, targets: torch.Tensor, grid: Sequence[float]) -> torch.Tensor:
    """Generalised cross-validation score of ridge regression ``h -> targets`` for every lambda of ``grid``.

    ``GCV(lambda) = (|Y - H W(lambda)|^2 / n) / (1 - df(lambda) / n)^2`` with ``df = sum_i s_i / (s_i + lambda)``
    over the eigenvalues ``s_i`` of ``H^T H`` (Golub, Heath & Wahba 1979): the Fly-CL paper's criterion,
    on all of the task's samples (no hold-out). One eigendecomposition of the smaller Gram serves every
    lambda: with ``c_i`` the coordinates of ``Y`` on the i-th left singular vector of ``H``,
    ``|Y - H W|^2 = |Y|^2 - sum_i |c_i|^2 + sum_i (lambda / (s_i + lambda))^2 |c_i|^2``.

    Args:
        h: features ``[n, m]``. targets: ``[n, c]``. grid: the lambdas (> 0).

    Returns:
        ``[len(grid)]`` GCV scores (lower is better), computed in float64.
    """
    if h.dim() != 2 or targets.dim() != 2 or h.shape[0] != targets.shape[0]:
        raise ValueError(f"h must be [n, m] and targets [n, c] with the same n, got {tuple(h.shape)} and "
                         f"{tuple(targets.shape)}.")
    h = h.double()   # the score divides two small numbers at small lambda: float32 is not enough
    lams = torch.as_tensor(list(grid), dtype=h.dtype, device=h.device)
    if not bool((lams > 0).all()):
        raise ValueError("every ridge parameter in the grid must be > 0.")
    y = targets.to(h)
    n = h.shape[0]
    if n <= h.shape[1]:   # dual: K = H H^T = U S U^T, c = U^T Y
        s, u = torch.linalg.eigh(h @ h.T)
        s = s.clamp_min(0.0)
        c2 = (u.T @ y).pow(2).sum(1)
        rest = torch.zeros((), dtype=h.dtype, device=h.device)   # U spans R^n: nothing of Y outside it
    else:                 # primal: G = V S V^T, u_i = H v_i / sqrt(s_i)
        s, v = torch.linalg.eigh(h.T @ h)
        s = s.clamp_min(0.0)
        keep = s > s.max() * torch.finfo(h.dtype).eps * h.shape[1]
        proj = (v.T @ (h.T @ y)).pow(2).sum(1)
        c2 = torch.where(keep, proj / s.clamp_min(torch.finfo(h.dtype).tiny), torch.zeros_like(proj))
        rest = (y.pow(2).sum() - c2.sum()).clamp_min(0.0)           # the part of Y outside the span of H
    shrink = lams[:, None] / (s[None, :] + lams[:, None])             # [n_lambda, r]
    resid = rest + (shrink.pow(2) * c2[None, :]).sum(1)
    free = (n - s.shape[0]) + shrink.sum(1)     # n - df, with df = sum_i s_i / (s_i + lambda) (no cancellation)
    return (resid / n) / (free / n).pow(2)


def select_ridge(h: torch.Tensor, targets: torch.Tensor, grid: Sequence[float], method: str = "eigen",
                 seed: int = 0) -> float:
    """The lambda of ``grid`` with the lowest hold-out MSE (:func:`ridge_validation_curve`, ``method="eigen"``
    or ``"solve"``) or the lowest GCV score on all samples (:func:`ridge_gcv_curve`, ``method="gcv"``)."""
    if method == "gcv":
        curve = ridge_gcv_curve(h, targets, grid)
    else:
        curve = ridge_validation_curve(h, targets, grid, method=method, seed=seed)
    return float(list(grid)[int(torch.argmin(curve))])


class _StreamingRidge(nn.Module):
    """Shared streaming ridge read-out over codes ``h`` ``[n, m]`` and one-hot targets ``Y``.

    ``solver="primal"`` accumulates ``G = H^T H`` and ``Q = H^T Y`` and solves the ``m x m`` system
    ``(G + lambda I) W = Q``. ``"dual"`` keeps the codes seen so far and solves in sample space,
    ``W = H^T (K + lambda I)^-1 Y`` with ``K = H H^T`` grown block by block per task (push-through /
    Woodbury identity: the same ``W``) and holds ``n m`` numbers. ``"auto"`` is the dual while
    ``n < m`` (so it never holds more than the ``m x m`` Gram) and turns primal (forms ``G`` from the
    codes and drops them) once ``n >= m``; both dual modes also turn primal before a ``state_dict`` is
    taken, so checkpoints always carry ``G``, ``Q`` and the read-out fitted from them.
    """

    readout_weight: nn.Parameter

    def _init_readout(self, width: int, n_classes: int, ridge: float, ridge_grid: Sequence[float] | None,
                      search: str, solver: str, factory: dict) -> None:
        if search not in _SEARCH_METHODS:
            raise ValueError(f"search must be one of {_SEARCH_METHODS}, not {search!r}.")
        if solver not in _SOLVERS:
            raise ValueError(f"solver must be one of {_SOLVERS}, not {solver!r}.")
        if ridge <= 0:
            raise ValueError(f"ridge must be > 0, got {ridge}.")
        self.ridge, self.search, self.solver = float(ridge), search, solver
        self.ridge_grid = tuple(float(v) for v in ridge_grid) if ridge_grid is not None else None
        self.n_classes = n_classes
        self.register_buffer("gram", torch.zeros(width, width, **factory))
        self.register_buffer("cross", torch.zeros(width, n_classes, **factory))
        # the read-out is a parameter: fitted in closed form from the stream statistics (and open to
        # gradient fine-tuning afterwards); refitted lazily after new data arrived
        self.readout_weight = nn.Parameter(torch.zeros(width, n_classes, **factory))
        self._stale = False
        self._tasks = 0
        # dual solver state: the codes H [n, m], their one-hot targets [n, c] and K = H H^T (None once primal)
        self._dual = solver in ("dual", "auto")
        self._codes: torch.Tensor | None = None
        self._targets: torch.Tensor | None = None
        self._kernel: torch.Tensor | None = None
        self.register_state_dict_pre_hook(lambda module, prefix, keep_vars: module._before_checkpoint())
        self.register_load_state_dict_post_hook(lambda module, incompatible: module._drop_codes())

    @property
    def dual_active(self) -> bool:
        """Whether the read-out is currently solved in sample space (see the class docstring)."""
        return self._dual

    def fit_readout(self) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    @torch.no_grad()
    def _before_checkpoint(self) -> None:
        """A checkpoint carries ``G``, ``Q`` and a read-out consistent with them."""
        self._to_primal()
        if self._stale:
            self.fit_readout()

    def _drop_codes(self) -> None:
        self._dual, self._codes, self._targets, self._kernel = False, None, None, None

    @torch.no_grad()
    def _to_primal(self) -> None:
        """Form ``G`` and ``Q`` from the stored codes and drop them (no-op when already primal)."""
        if self._codes is not None:
            self.gram.addmm_(self._codes.T, self._codes)
            self.cross.addmm_(self._codes.T, self._targets)
        self._drop_codes()

    def _absorb(self, h: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(y, self.n_classes).to(h)
        if self.ridge_grid is not None:   # RanPAC's per-task search on this task's samples
            self.ridge = select_ridge(h, onehot, self.ridge_grid, method=self.search, seed=self._tasks)
        self._tasks += 1
        self._stale = True
        if self._dual:
            n_old = 0 if self._codes is None else self._codes.shape[0]
            if n_old + h.shape[0] < self.gram.shape[0] or self.solver == "dual":
                if self._codes is None:
                    self._codes, self._targets, self._kernel = h.clone(), onehot, h @ h.T
                else:   # K grows by the block [[K, B^T], [B, H_t H_t^T]] with B = H_t H_old^T
                    b = h @ self._codes.T
                    self._kernel = torch.cat([torch.cat([self._kernel, b.T], 1), torch.cat([b, h @ h.T], 1)], 0)
                    self._codes = torch.cat([self._codes, h])
                    self._targets = torch.cat([self._targets, onehot])
                return onehot
            self._to_primal()
        self.gram.addmm_(h.T, h)
        self.cross.addmm_(h.T, onehot)
        return onehot

    @staticmethod
    def _spd_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        chol, info = torch.linalg.cholesky_ex(a)
        if int(info) == 0:
            return torch.cholesky_solve(b, chol)
        return torch.linalg.solve(a, b)  # numerically indefinite (tiny lambda in float32): LU instead

    @torch.no_grad()
    def _solve_ridge(self) -> None:
        if self._dual:
            if self._codes is None:
                self.readout_weight.zero_()
            else:
                a = self._kernel.clone()
                a.diagonal().add_(self.ridge)
                self.readout_weight.copy_(self._codes.T @ self._spd_solve(a, self._targets))   # H^T alpha
        else:
            a = self.gram.clone()
            a.diagonal().add_(self.ridge)
            self.readout_weight.copy_(self._spd_solve(a, self.cross))
        self._stale = False


class FlyCL(_StreamingRidge):
    """Sparse expansion + k-WTA + streaming classifier (see the module docstring).

    ``weights`` (``"binary"`` or ``"gaussian"`` synapses), ``code`` (``"relu"``, ``"values"`` or ``"binary"``
    winners) and ``normalise`` (``"sample"``, ``"running"`` or ``"none"``) select the variant; the defaults
    are the first version's FlyHash-style setting, :meth:`from_preset` builds the paper's.

    Use ``partial_fit(x, y)`` once per task (or per batch; any class order), then ``predict(x)``;
    ``forward(x, state=None) -> (scores, None)``. With ``ridge_grid`` every ``partial_fit`` call picks
    the ridge parameter on a hold-out of its own samples (RanPAC's per-task protocol) by one
    eigendecomposition in the smaller space (``search="eigen"``) or one solve per lambda (``"solve"``).
    """

    def __init__(self, in_features: int, n_classes: int, expansion: int = 2000, fan_in: int = 8, k: int = 200,
                 readout: str = "ridge", ridge: float = 10.0, normalise: str = "sample", seed: int = 0,
                 ridge_grid: Sequence[float] | None = None, search: str = "eigen", solver: str = "auto",
                 weights: str = "binary", code: str = "relu",
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if not 1 <= k <= expansion:
            raise ValueError(f"k must be in [1, expansion={expansion}], got {k}.")
        if not 1 <= fan_in <= in_features:
            raise ValueError(f"fan_in must be in [1, in_features={in_features}], got {fan_in}.")
        if readout not in ("similarity", "ridge"):
            raise ValueError(f"readout must be 'similarity' or 'ridge', not {readout!r}.")
        if normalise not in _NORMALISE:
            raise ValueError(f"normalise must be one of {_NORMALISE}, not {normalise!r}.")
        if weights not in _WEIGHTS:
            raise ValueError(f"weights must be one of {_WEIGHTS}, not {weights!r}.")
        if code not in _CODES:
            raise ValueError(f"code must be one of {_CODES}, not {code!r}.")
        self.normalise, self.k, self.readout, self.weights, self.code = normalise, k, readout, weights, code
        factory = {"device": device, "dtype": dtype or torch.float32}
        gen = torch.Generator().manual_seed(seed)
        # Kenyon cell j sums the inputs kc_inputs[j] (fan_in distinct inputs, drawn uniformly)
        cols = torch.stack([torch.randperm(in_features, generator=gen)[:fan_in] for _ in range(expansion)])
        self.register_buffer("kc_inputs", cols.to(device))
        if weights == "gaussian":   # Fly-CL's synapses: N(0, 1) strengths on the sampled inputs
            self.register_buffer("kc_weights", torch.randn(expansion, fan_in, generator=gen).to(**factory))
        else:
            self.kc_weights = None
        self.register_buffer("count", torch.zeros((), **factory))
        self.register_buffer("mean", torch.zeros(in_features, **factory))
        self.register_buffer("sq_mean", torch.ones(in_features, **factory))
        self.register_buffer("prototypes", torch.zeros(n_classes, expansion, **factory))
        self._init_readout(expansion if readout == "ridge" else 0, n_classes, ridge, ridge_grid, search,
                           solver if readout == "ridge" else "primal", factory)
        if readout == "similarity":
            self.readout_weight = nn.Parameter(torch.zeros(expansion, n_classes, **factory))

    @classmethod
    def from_preset(cls, preset: str, in_features: int, n_classes: int, expansion: int | None = None,
                    **overrides: Any) -> FlyCL:
        """A Fly-CL with the named setting of :data:`FLYCL_PRESETS` (``"paper"``: width 10,000 unless
        ``expansion`` says otherwise; ``"binary"``: 2,000); keyword ``overrides`` (``ridge_grid``, ``seed``,
        ``k``, ...) replace the preset's values."""
        cfg = FLYCL_PRESETS.get(preset)(in_features, expansion)
        cfg.update(overrides)
        return cls(in_features, n_classes, **cfg)

    @property
    def projection(self) -> torch.Tensor:
        """The expansion matrix ``P`` ``[m, d]`` (binary or Gaussian-weighted; dense copy, for inspection)."""
        p = torch.zeros(self.kc_inputs.shape[0], self.mean.shape[0], dtype=self.mean.dtype, device=self.mean.device)
        if self.kc_weights is None:
            return p.scatter_(1, self.kc_inputs, 1.0)
        return p.scatter_(1, self.kc_inputs, self.kc_weights)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        """Reads checkpoints of the first Fly-CL version, which stored the expansion as a (sparse COO or
        dense) ``projection`` matrix ``[m, d]`` instead of ``kc_inputs``: each row's nonzero columns become
        that Kenyon cell's inputs (the sum over them does not depend on their order, so nothing is lost)."""
        key = prefix + "projection"
        if key in state_dict and prefix + "kc_inputs" not in state_dict:
            state_dict = dict(state_dict)   # the caller's dict stays as it was
            state_dict.update(self._from_dense_projection(state_dict.pop(key), prefix))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _from_dense_projection(self, proj: torch.Tensor, prefix: str) -> dict[str, torch.Tensor]:
        m, fan_in = self.kc_inputs.shape
        d = self.mean.shape[0]
        p = proj.to_dense() if proj.is_sparse else proj
        if tuple(p.shape) != (m, d):
            raise ValueError(f"the checkpoint's projection is {tuple(p.shape)} but this model expands {d} inputs to "
                             f"{m} Kenyon cells: construct FlyCL(in_features={p.shape[1]}, expansion={p.shape[0]}, ...)"
                             " before loading it.")
        per_row = (p != 0).sum(1)
        if not bool((per_row == per_row[0]).all()):
            raise ValueError("the checkpoint's projection has Kenyon cells with different numbers of inputs "
                             f"({int(per_row.min())} to {int(per_row.max())}); kc_inputs needs one fan-in for every "
                             "cell, so it cannot be converted losslessly: re-create the model and refit it.")
        if int(per_row[0]) != fan_in:
            raise ValueError(f"the checkpoint's projection gives every Kenyon cell {int(per_row[0])} inputs but this "
                             f"model has fan_in={fan_in}: construct FlyCL(..., fan_in={int(per_row[0])}) before "
                             "loading it.")
        cols = (p != 0).nonzero()[:, 1].reshape(m, fan_in)    # row-major: each row's columns, ascending
        vals = p.gather(1, cols)
        out = {prefix + "kc_inputs": cols.to(self.kc_inputs)}
        if self.kc_weights is not None:
            out[prefix + "kc_weights"] = vals.to(self.kc_weights)
        elif not bool((vals == 1).all()):
            raise ValueError("the checkpoint's projection has weights other than 1; construct "
                             "FlyCL(..., weights='gaussian') to load a weighted expansion.")
        return out

    @torch.no_grad()
    def _update_stats(self, x: torch.Tensor) -> None:
        n = self.count + x.shape[0]
        self.mean.mul_(self.count / n).add_(x.sum(0) / n)
        self.sq_mean.mul_(self.count / n).add_((x ** 2).sum(0) / n)
        self.count.copy_(n)

    def expand(self, z: torch.Tensor) -> torch.Tensor:
        """Kenyon-cell input ``P z`` ``[batch, m]`` as a gather-sum (each cell reads ``fan_in`` inputs)."""
        # embedding_bag over the inputs: row i of the table is input i across the batch
        return nn.functional.embedding_bag(self.kc_inputs, z.T.contiguous(), mode="sum",
                                           per_sample_weights=self.kc_weights).T

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Sparse k-WTA code ``[batch, expansion]`` of features ``x``."""
        if self.normalise == "running":
            std = (self.sq_mean - self.mean ** 2).clamp_min(1e-8).sqrt()
            z = (x - self.mean) / std
        elif self.normalise == "sample":  # per-sample divisive normalisation across inputs (stream-order invariant)
            z = (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-8)
        else:
            z = x
        a = self.expand(z)
        top = torch.topk(a, self.k, dim=1, sorted=False)
        if self.code == "binary":
            vals = torch.ones_like(top.values)
        elif self.code == "relu":
            vals = top.values.clamp_min(0.0)
        else:
            vals = top.values
        return torch.zeros_like(a).scatter_(1, top.indices, vals)

    @torch.no_grad()
    def partial_fit(self, x: torch.Tensor, y: torch.Tensor, update_stats: bool = True) -> FlyCL:
        """Absorb one task (or batch) of the stream."""
        self._check(x)
        if update_stats:
            self._update_stats(x)
        h = self.encode(x)
        if self.readout == "ridge":
            onehot = self._absorb(h, y)
        else:
            onehot = nn.functional.one_hot(y, self.prototypes.shape[0]).to(h)
            self._stale = True
        self.prototypes.add_(onehot.T @ h)
        return self

    @torch.no_grad()
    def fit_readout(self) -> None:
        """Closed-form read-out from the accumulated statistics (ridge solve or normalised prototypes)."""
        if self.readout == "ridge":
            self._solve_ridge()
        else:
            self.readout_weight.copy_(nn.functional.normalize(self.prototypes, dim=1).T)
            self._stale = False

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"Fly-CL expects features [batch, {self.mean.shape[0]}], got {tuple(x.shape)}.")

    def example_input(self, batch: int) -> torch.Tensor:
        w = self.readout_weight
        return torch.rand(batch, self.mean.shape[0], dtype=w.dtype, device=w.device)

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        self._check(x)
        if self._stale:
            self.fit_readout()
        h = self.encode(x)
        if self.readout == "similarity":
            h = nn.functional.normalize(h, dim=1)
        return h @ self.readout_weight, None

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0].argmax(1)


class RandomProjectionRidge(_StreamingRidge):
    """RanPAC-style baseline: ``h = relu(x R)`` with a dense Gaussian ``R`` ``[d, m]`` (or ``h = x`` when
    ``expansion=None``), then the same streaming ridge read-out and per-task ridge search as :class:`FlyCL`
    (``search="solve"`` is RanPAC's one solve per lambda)."""

    def __init__(self, in_features: int, n_classes: int, expansion: int | None = 2000, ridge: float = 10.0,
                 ridge_grid: Sequence[float] | None = None, search: str = "solve", solver: str = "primal",
                 seed: int = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype or torch.float32}
        self.in_features = in_features
        width = in_features if expansion is None else expansion
        if expansion is not None:
            gen = torch.Generator().manual_seed(seed)
            self.register_buffer("random_weight", torch.randn(in_features, expansion, generator=gen).to(**factory))
        else:
            self.random_weight = None
        self._init_readout(width, n_classes, ridge, ridge_grid, search, solver, factory)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The features the ridge read-out sees."""
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"expected features [batch, {self.in_features}], got {tuple(x.shape)}.")
        return x if self.random_weight is None else torch.relu(x @ self.random_weight)

    @torch.no_grad()
    def partial_fit(self, x: torch.Tensor, y: torch.Tensor) -> RandomProjectionRidge:
        """Absorb one task (or batch) of the stream."""
        self._absorb(self.encode(x), y)
        return self

    @torch.no_grad()
    def fit_readout(self) -> None:
        """Closed-form ridge read-out from the accumulated statistics."""
        self._solve_ridge()

    def forward(self, x: torch.Tensor, state: None = None) -> tuple[torch.Tensor, None]:
        if self._stale:
            self.fit_readout()
        return self.encode(x) @ self.readout_weight, None

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self(x)[0].argmax(1)


#: Named Fly-CL settings, ``preset(in_features, expansion or None) -> FlyCL keyword arguments`` (with
#: ``expansion``) for :meth:`FlyCL.from_preset` and ``create_model("fly_cl", preset=...)``; explicit
#: keywords override the preset's.
FLYCL_PRESETS: Registry[Callable[[int, int | None], dict[str, Any]]] = Registry("Fly-CL preset")


@FLYCL_PRESETS.register("paper")
def _paper_preset(in_features: int, expansion: int | None) -> dict[str, Any]:
    """Fly-CL's expansion as its official code builds it: m = 10,000 Kenyon cells, each reading 300 of 768
    inputs (39 %) through N(0, 1) synapses, the top 30 % of cells keeping their values; with per-sample input
    normalisation and RanPAC's hold-out ridge search, both chosen over the paper's raw inputs and GCV on
    validation splits of class-incremental digits (docs/readme/connectomes.md, row 47)."""
    m = 10_000 if expansion is None else expansion
    return {"expansion": m, "weights": "gaussian", "fan_in": max(1, round(in_features * 300 / 768)),
            "k": max(1, round(0.3 * m)), "code": "values", "normalise": "sample", "search": "eigen"}


@FLYCL_PRESETS.register("binary")
def _binary_preset(in_features: int, expansion: int | None) -> dict[str, Any]:
    """The first version's FlyHash-style setting (the :class:`FlyCL` defaults): m = 2,000, 8 binary inputs
    per cell, 10 % of cells active (ReLU), per-sample normalisation."""
    m = 2000 if expansion is None else expansion
    return {"expansion": m, "weights": "binary", "fan_in": min(8, in_features), "k": max(1, m // 10),
            "code": "relu", "normalise": "sample"}


@register_model("fly_cl", family="connectome", paper=_PAPER)
def fly_cl(in_features: int = 512, n_classes: int = 10, expansion: int | None = None, preset: str | None = None,
           **cfg: Any) -> FlyCL:
    """Fly olfactory expansion + k-WTA + streaming classifier over frozen features.

    Without ``preset``, the :class:`FlyCL` defaults (the ``"binary"`` setting, width 2,000); ``preset="paper"``
    is the Fly-CL paper's expansion at its width 10,000 (:data:`FLYCL_PRESETS`). Other keywords go to
    :class:`FlyCL` and win over the preset's.
    """
    if preset is None:
        return FlyCL(in_features, n_classes, 2000 if expansion is None else expansion, **cfg)
    return FlyCL.from_preset(preset, in_features, n_classes, expansion, **cfg)
