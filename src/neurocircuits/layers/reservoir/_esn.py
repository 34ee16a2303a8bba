"""Echo state networks (Jaeger 2001, "The echo state approach to analysing and training recurrent
neural networks", GMD Report 148; Lukosevicius 2012, "A practical guide to applying echo state
networks").

Leaky-integrator reservoir with a ridge-regression readout::

    x[t] = (1 - a) x[t-1] + a tanh(W x[t-1] + W_in u[t] + b)
    y[t] = W_out x[t] + b_out

``W`` is sparse Gaussian rescaled to spectral radius ``rho``; ``W_in`` is sparse Bernoulli(+-s).
The readout is fitted in closed form on centred states (so the bias is not penalised):
``W_out = (X_c^T X_c + lambda I)^{-1} X_c^T Y_c``. The recurrence runs on a precomputed input drive; on CPU
(without autograd) the loop uses in-place BLAS/ufunc calls, which is what makes it fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from ...functional.maps import check_finite
from ..hooks import HookPoint

__all__ = ["ESNConfig", "ESNState", "EchoStateNetwork", "esn_run", "ridge_fit", "spectral_radius"]


def spectral_radius(W: Tensor) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(torch.linalg.eigvals(W).abs().max())


def ridge_fit(X: Tensor, Y: Tensor, ridge: float) -> tuple[Tensor, Tensor]:
    """Ridge regression with an unpenalised bias: returns ``(W_out (units, out), b_out (out,))``."""
    xm, ym = X.mean(0), Y.mean(0)
    Xc, Yc = X - xm, Y - ym
    A = Xc.T @ Xc + ridge * torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    W = torch.linalg.solve(A, Xc.T @ Yc)
    return W, ym - xm @ W


class RidgeReadout:
    """A closed-form ridge readout over a reservoir's states, shared by the reservoirs of this package.

    The host module defines ``states(u, state) -> (X (T, units), final_state)``, a config with a
    ``ridge`` field, and the buffers ``W_out`` (units, 0) and ``b_out`` (0,) until fitted.
    """

    def fit(self, u: Tensor, y: Tensor, washout: int = 0, state: Any = None) -> Any:
        """Run the reservoir on ``u`` and fit the ridge readout to ``y`` (after ``washout`` steps)."""
        X, st = self.states(u, state)
        Y = torch.as_tensor(y, dtype=X.dtype, device=X.device)
        if Y.dim() == 1:
            Y = Y.unsqueeze(-1)
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"targets have {Y.shape[0]} steps but the input has {X.shape[0]}.")
        if washout >= X.shape[0]:
            raise ValueError(f"washout ({washout}) must be shorter than the series ({X.shape[0]}).")
        self.W_out, self.b_out = ridge_fit(X[washout:], Y[washout:], self.cfg.ridge)
        return st

    def forward(self, u: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Readout ``(T, n_out)`` for input ``u``; returns ``(y, final_state)``."""
        if self.W_out.numel() == 0:
            raise RuntimeError("the readout is not trained: call fit(u, y) first.")
        X, st = self.states(u, state)
        return X @ self.W_out + self.b_out, st


def esn_run(drive: Tensor, W: Tensor, x0: Tensor, leak: float | Tensor) -> Tensor:
    """Run the reservoir on a precomputed input drive ``W_in u[t] + b`` of shape ``(T, N)``.

    Returns the states ``(T, N)``. ``leak`` may be a scalar or a per-unit vector.
    """
    T = drive.shape[0]
    if (drive.device.type == "cpu" and not (drive.requires_grad or W.requires_grad or x0.requires_grad)
            and not isinstance(leak, Tensor)):
        return torch.from_numpy(_esn_run_numpy(drive.numpy(), W.numpy(), x0.numpy(), float(leak)))
    out = torch.empty_like(drive)
    x = x0
    if isinstance(leak, float) and leak == 1.0:
        for t in range(T):
            x = torch.tanh(torch.addmv(drive[t], W, x))
            out[t] = x
    else:
        one_minus = 1.0 - leak
        for t in range(T):
            x = one_minus * x + leak * torch.tanh(torch.addmv(drive[t], W, x))
            out[t] = x
    return out


def _esn_run_numpy(drive: np.ndarray, W: np.ndarray, x0: np.ndarray, leak: float) -> np.ndarray:
    # CPU fast path: in-place BLAS matvec and ufuncs (about 5x less per-step overhead than torch ops).
    T, N = drive.shape
    out = np.empty_like(drive)
    x = np.array(x0, dtype=drive.dtype, copy=True)
    h = np.empty(N, dtype=drive.dtype)
    keep = 1.0 - leak
    for t in range(T):
        np.dot(W, x, out=h)
        h += drive[t]
        np.tanh(h, out=h)
        if leak == 1.0:
            x[:] = h
        else:
            h *= leak
            x *= keep
            x += h
        out[t] = x
    return out


@dataclass(frozen=True)
class ESNConfig:
    """Echo state network configuration.

    Attributes:
        n_units: reservoir size.
        n_inputs: input dimension.
        spectral_radius: target spectral radius of ``W``.
        leak_rate: leak ``a`` in (0, 1].
        input_scaling: magnitude of the Bernoulli input weights.
        rc_connectivity: fraction of non-zero recurrent weights.
        input_connectivity: fraction of non-zero input weights.
        bias_scaling: magnitude of Bernoulli biases (0: no bias).
        ridge: readout ridge penalty.
        seed: weight seed.
    """

    n_units: int = 100
    n_inputs: int = 1
    spectral_radius: float = 1.25
    leak_rate: float = 0.3
    input_scaling: float = 1.0
    rc_connectivity: float = 0.1
    input_connectivity: float = 0.1
    bias_scaling: float = 0.0
    ridge: float = 1e-6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_units < 1 or self.n_inputs < 1:
            raise ValueError(f"n_units and n_inputs must be >= 1, got {self.n_units} and {self.n_inputs}.")
        if not 0.0 < self.leak_rate <= 1.0:
            raise ValueError(f"leak_rate must lie in (0, 1], got {self.leak_rate}.")
        for name in ("rc_connectivity", "input_connectivity"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {v}.")
        if self.spectral_radius < 0 or self.ridge < 0:
            raise ValueError("spectral_radius and ridge must be >= 0.")


class ESNState(NamedTuple):
    x: Tensor  # (N,) reservoir state


class EchoStateNetwork(RidgeReadout, nn.Module):
    """Leaky echo state network with a closed-form ridge readout.

    Example:
        >>> esn = EchoStateNetwork(ESNConfig(n_units=100))
        >>> esn.fit(u_train, y_train, washout=100)
        >>> y_pred, state = esn(u_test)
    """

    def __init__(self, cfg: ESNConfig = ESNConfig(), device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.cfg = cfg
        g = torch.Generator().manual_seed(cfg.seed)
        N, D = cfg.n_units, cfg.n_inputs
        W = torch.randn(N, N, generator=g, dtype=torch.float64)
        W = W * (torch.rand(N, N, generator=g, dtype=torch.float64) < cfg.rc_connectivity)
        rho = spectral_radius(W)
        if rho > 0:
            W = W * (cfg.spectral_radius / rho)
        W_in = torch.where(torch.rand(N, D, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0)
        W_in = W_in * (torch.rand(N, D, generator=g, dtype=torch.float64) < cfg.input_connectivity) * cfg.input_scaling
        b = torch.where(torch.rand(N, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0) * cfg.bias_scaling
        kw = {"device": device, "dtype": dtype}
        self.register_buffer("W", W.to(**kw))
        self.register_buffer("W_in", W_in.to(**kw))
        self.register_buffer("bias", b.to(**kw))
        self.register_buffer("W_out", torch.zeros(N, 0, **kw))
        self.register_buffer("b_out", torch.zeros(0, **kw))
        self.hook_states = HookPoint()

    def set_weights(self, W: Tensor, W_in: Tensor, bias: Tensor | float = 0.0) -> None:
        """Use given reservoir weights (e.g. another library's, for a like-for-like comparison)."""
        N = self.cfg.n_units
        if W.shape != (N, N) or W_in.shape != (N, self.cfg.n_inputs):
            raise ValueError(f"expected W {(N, N)} and W_in {(N, self.cfg.n_inputs)}, got "
                             f"{tuple(W.shape)} and {tuple(W_in.shape)}.")
        self.W.copy_(torch.as_tensor(W))
        self.W_in.copy_(torch.as_tensor(W_in))
        self.bias.copy_(torch.as_tensor(bias, dtype=self.bias.dtype).expand(N))

    def initial_state(self, batch: int | None = None) -> ESNState:
        return ESNState(torch.zeros(self.cfg.n_units, dtype=self.W.dtype, device=self.W.device))

    def _check_input(self, u: Tensor) -> Tensor:
        u = torch.as_tensor(u, dtype=self.W.dtype, device=self.W.device)
        if u.dim() == 1 and self.cfg.n_inputs == 1:
            u = u.unsqueeze(-1)
        if u.dim() != 2 or u.shape[1] != self.cfg.n_inputs:
            raise ValueError(f"input must be (time, {self.cfg.n_inputs}), got {tuple(u.shape)}.")
        return u

    def states(self, u: Tensor, state: ESNState | None = None) -> tuple[Tensor, ESNState]:
        """Reservoir states ``(T, N)`` for input ``u`` of shape ``(T, n_inputs)``."""
        u = self._check_input(u)
        x0 = (state or self.initial_state()).x
        drive = torch.addmm(self.bias, u, self.W_in.T)
        X = esn_run(drive, self.W, x0, self.cfg.leak_rate)
        check_finite(X[-1], u.shape[0] - 1, "EchoStateNetwork", self.cfg)
        return self.hook_states(X), ESNState(X[-1])

    def generate(self, n_steps: int, state: ESNState, u0: Tensor) -> Tensor:
        """Closed-loop generation (the readout's output is fed back as the next input)."""
        if self.W_out.numel() == 0 or self.W_out.shape[1] != self.cfg.n_inputs:
            raise RuntimeError("generate needs a readout trained to predict the next input.")
        x = state.x
        u = torch.as_tensor(u0, dtype=self.W.dtype).reshape(self.cfg.n_inputs)
        a = self.cfg.leak_rate
        out = []
        for _ in range(n_steps):
            x = (1 - a) * x + a * torch.tanh(self.W @ x + self.W_in @ u + self.bias)
            u = x @ self.W_out + self.b_out
            out.append(u)
        return torch.stack(out)
