"""Precortical (retina -> LGN -> V1) front end: difference-of-Gaussians centre-surround filtering
followed by local contrast (divisive) normalisation.

    d = (G_{sigma_c} - G_{sigma_s}) * x          ON channel;  OFF channel = -d
    y = d / (eps + sqrt(G_{sigma_n} * d^2))       local RMS-contrast normalisation

The DoG kernel is normalised to sum exactly to zero and applied with replicate padding, so a global
brightness offset ``x + b`` vanishes from ``d``; the divisive normalisation removes a global gain
``a x`` (up to ``eps``). A CNN behind this module is therefore (nearly) invariant to test-time
brightness and contrast changes ``a x + b``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _gaussian(size: int, sigma: float, dtype: torch.dtype) -> Tensor:
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return (g / g.sum()).to(dtype)


class PrecorticalModule(nn.Module):
    """DoG centre-surround (ON and OFF) + local contrast normalisation for ``[batch, C, H, W]`` images.

    Output has ``2 * C`` channels (ON, OFF per input channel).
    """

    def __init__(self, in_channels: int = 1, size: int = 5, sigma_center: float = 0.7, sigma_surround: float = 1.6,
                 sigma_norm: float = 1.5, eps: float = 1e-3, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if size % 2 != 1 or not 0 < sigma_center < sigma_surround:
            raise ValueError("need an odd kernel size and 0 < sigma_center < sigma_surround.")
        dtype = dtype or torch.get_default_dtype()
        dog = _gaussian(size, sigma_center, torch.float64) - _gaussian(size, sigma_surround, torch.float64)
        dog = dog - dog.mean()  # exactly zero-sum
        self.in_channels, self.size, self.eps = in_channels, size, eps
        self.register_buffer("dog", dog.to(dtype).expand(in_channels, 1, size, size).clone())
        self.register_buffer("norm", _gaussian(size, sigma_norm, dtype).expand(in_channels, 1, size, size).clone())

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"PrecorticalModule expects [batch, {self.in_channels}, H, W] images, got {tuple(x.shape)}.")
        pad = self.size // 2
        d = F.conv2d(F.pad(x, (pad,) * 4, mode="replicate"), self.dog, groups=self.in_channels)
        energy = F.conv2d(F.pad(d * d, (pad,) * 4, mode="replicate"), self.norm, groups=self.in_channels)
        y = d / (self.eps + energy.clamp(min=0).sqrt())
        return torch.cat([F.relu(y), F.relu(-y)], dim=1)
