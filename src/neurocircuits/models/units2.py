"""More alternative units (round 2 of group 5).

Multiplet networks (Frick 2020): neurons compute weighted Lehmer means
``L_p(x; w) = sum w_i x_i^p / sum w_i x_i^(p-1)`` or Gini means
``G_{r,s} = (sum w_i x_i^r / sum w_i x_i^s)^(1/(r-s))`` of positive inputs, in groups (multiplets)
sharing ``w``; see :mod:`neurocircuits.layers.units._multiplet`.
"""

from __future__ import annotations

import torch

from ..layers.units import MultipletNet
from ._registry import register_model


@register_model("multiplet_net", family="units", paper="Frick 2020, Multiplet Neural Networks (arXiv:2006.01606)")
def multiplet_net(widths: tuple[int, ...] = (2, 4, 1), size: int = 4, mean: str = "lehmer",
                  device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> MultipletNet:
    """Multiplet layers (hidden widths count multiplets of ``size`` neurons) and a linear readout."""
    return MultipletNet(widths, size, mean, device=device, dtype=dtype)
