"""Tiny spiking denoising diffusion model (after Cao et al. 2024, "Spiking denoising diffusion
probabilistic models"; here a spiking residual MLP denoiser with U-Net-style skip connections).

DDPM (Ho et al. 2020) with a linear schedule ``beta_1..beta_K``, ``alpha_k = 1 - beta_k``,
``abar_k = prod_{j<=k} alpha_j``:

    x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps                       (forward noising)
    loss = || eps - eps_theta(x_k, k, c) ||^2                           (class-conditional)
    x_{k-1} = (x_k - beta_k / sqrt(1 - abar_k) eps_theta) / sqrt(alpha_k) + sqrt(beta_k) z

The denoiser ``eps_theta`` is spiking: its input ``[x_k, emb(k), onehot(c)]`` is direct-coded over
``T`` steps, passes LIF layers (surrogate gradients) with a skip from the first to the last hidden
layer, and is read out from the mean membrane of a non-spiking integrator.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..layers.spiking import LI, SpikingLinear, seq_apply
from ._registry import register_model


def timestep_embedding(k: Tensor, dim: int = 16, max_period: float = 100.0) -> Tensor:
    """Sinusoidal embedding of integer diffusion steps ``k (batch,)`` -> ``(batch, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    ang = k.float()[:, None] * freqs[None]
    return torch.cat([ang.sin(), ang.cos()], 1)


class SpikingDenoiser(nn.Module):
    """Spiking MLP ``eps_theta(x_k, k, c)`` with a U-Net-style skip connection."""

    def __init__(self, data_dim: int = 64, n_classes: int = 10, hidden: int = 256, time_steps: int = 4,
                 emb_dim: int = 16, neuron: str = "lif", **neuron_kw: Any) -> None:
        super().__init__()
        self.data_dim, self.n_classes, self.time_steps, self.emb_dim = data_dim, n_classes, time_steps, emb_dim
        d_in = data_dim + emb_dim + n_classes
        self.inp = SpikingLinear(d_in, hidden, neuron, **neuron_kw)
        self.mid = SpikingLinear(hidden, hidden, neuron, **neuron_kw)
        self.up = SpikingLinear(2 * hidden, hidden, neuron, **neuron_kw)
        self.readout = nn.Linear(hidden + d_in, data_dim)
        self.li = LI(data_dim, tau_mem_ms=math.inf)

    def forward(self, x: Tensor, k: Tensor, c: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.data_dim:
            raise ValueError(f"the denoiser expects x of shape (batch, {self.data_dim}), got {tuple(x.shape)}.")
        emb = timestep_embedding(k, self.emb_dim).to(x.dtype)
        z = torch.cat([x, emb, nn.functional.one_hot(c, self.n_classes).to(x.dtype)], 1)
        seq = z.unsqueeze(0).expand(self.time_steps, *z.shape)  # direct coding
        s1, _ = self.inp(seq)
        s2, _ = self.mid(s1)
        s3, _ = self.up(torch.cat([s2, s1], -1))  # skip: first hidden layer to the last
        mem, _ = self.li(seq_apply(self.readout, torch.cat([s3, seq], -1)))
        return mem[-1] / self.time_steps  # mean input current over the steps


class SpikingDDPM(nn.Module):
    """Class-conditional DDPM whose noise predictor is a :class:`SpikingDenoiser`."""

    def __init__(self, data_dim: int = 64, n_classes: int = 10, diffusion_steps: int = 100, beta_min: float = 1e-4,
                 beta_max: float = 0.05, device=None, dtype=None, **denoiser_kw: Any) -> None:
        super().__init__()
        self.K = diffusion_steps
        betas = torch.linspace(beta_min, beta_max, diffusion_steps)
        self.register_buffer("betas", betas)
        self.register_buffer("abar", torch.cumprod(1 - betas, 0))
        self.denoiser = SpikingDenoiser(data_dim, n_classes, **denoiser_kw)
        self.to(device=device, dtype=dtype)

    def forward(self, x_k: Tensor, k: Tensor, c: Tensor) -> Tensor:
        """Predicted noise ``eps_theta(x_k, k, c)``, ``(batch, data_dim)``."""
        return self.denoiser(x_k, k, c)

    def example_input(self, batch: int) -> tuple[Tensor, Tensor, Tensor]:
        """``(x_k, k, c)`` valid for :meth:`forward` (zoo smoke-test protocol)."""
        dt = self.betas.dtype
        return (torch.randn(batch, self.denoiser.data_dim, dtype=dt), torch.randint(0, self.K, (batch,)),
                torch.randint(0, self.denoiser.n_classes, (batch,)))

    def loss(self, x0: Tensor, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Noise-prediction loss at uniformly drawn diffusion steps."""
        k = torch.randint(0, self.K, (x0.shape[0],), generator=generator)
        eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        ab = self.abar[k][:, None]
        xk = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
        return (self.denoiser(xk, k, c) - eps).pow(2).mean()

    @torch.no_grad()
    def sample(self, c: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Ancestral sampling of one sample per class label in ``c``."""
        x = torch.randn((c.shape[0], self.denoiser.data_dim), generator=generator, dtype=self.betas.dtype)
        for k in range(self.K - 1, -1, -1):
            kk = torch.full((c.shape[0],), k, dtype=torch.long)
            eps = self.denoiser(x, kk, c)
            beta, ab = self.betas[k], self.abar[k]
            x = (x - beta / (1 - ab).sqrt() * eps) / (1 - beta).sqrt()
            if k > 0:
                x = x + beta.sqrt() * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return x


@register_model("spiking_ddpm", family="spiking", paper="Cao et al. 2024 (spiking DDPM); Ho et al. 2020 (DDPM)")
def spiking_ddpm(**cfg: Any) -> SpikingDDPM:
    return SpikingDDPM(**cfg)
