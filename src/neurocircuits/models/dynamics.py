"""Oscillator and neural-mass models of the zoo.

* ``akorn``: Artificial Kuramoto Oscillatory Neurons layer (Miyato et al. 2025, ICLR), unit-vector
  oscillators updated by ``x <- normalize(x + gamma (Omega x + P_x(c + J x)))``, ``P_x(y) = y - <y,x>x``.
* ``akorn_binding``: trainable AKOrN for object binding (pointwise conv encoder -> stimulus ``c``, one
  unit-vector oscillator per pixel, learned symmetric local coupling ``(Jx)_i = m_i sum_d K_d m_{i+d} x_{i+d}``,
  ``x <- normalize(x + gamma P_x(c + J x))``), trained to count objects from synchrony.
* ``wilson_cowan_net``: Wilson-Cowan E/I metapopulation (Wilson & Cowan 1972) as a trainable layer,
  ``tau dE/dt = -E + (k - rE) S(c_EE E - c_EI I + P + A u + G E)``,
  ``tau dI/dt = -I + (k - rI) S(c_IE E - c_II I + Q)``.
"""

from __future__ import annotations

import torch

from ..layers.oscillators import (
    AKOrNConfig,
    AKOrNLayer,
    BindingAKOrN,
    BindingAKOrNConfig,
    WilsonCowanConfig,
    WilsonCowanNetwork,
)
from ._registry import register_model


@register_model("akorn", family="dynamics", paper="Miyato et al. 2025, Artificial Kuramoto Oscillatory Neurons (ICLR)")
def akorn(channels: int = 8, osc_dim: int = 2, coupling: str = "conv", kernel_size: int = 3, n_steps: int = 4,
          gamma: float = 0.5, n_heads: int = 1, device: torch.device | str | None = None,
          dtype: torch.dtype | None = None) -> AKOrNLayer:
    """AKOrN layer with convolutional, fully connected or attention (``coupling="attn"``) coupling."""
    cfg = AKOrNConfig(channels=channels, osc_dim=osc_dim, coupling=coupling, kernel_size=kernel_size,
                      n_steps=n_steps, gamma=gamma, n_heads=n_heads)
    return AKOrNLayer(cfg, device=device, dtype=dtype)


@register_model("akorn_binding", family="dynamics",
                paper="Miyato et al. 2025, Artificial Kuramoto Oscillatory Neurons (ICLR); learned binding by counting")
def akorn_binding(osc_dim: int = 4, hidden: int = 16, kernel_size: int = 3, n_steps: int = 40, gamma: float = 0.5,
                  beta: float = 8.0, device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> BindingAKOrN:
    """Trainable AKOrN whose learned local coupling binds objects (train with ``train_binding_akorn``)."""
    cfg = BindingAKOrNConfig(osc_dim=osc_dim, hidden=hidden, kernel_size=kernel_size, n_steps=n_steps,
                             gamma=gamma, beta=beta)
    return BindingAKOrN(cfg, device=device, dtype=dtype)


@register_model("wilson_cowan_net", family="dynamics", paper="Wilson & Cowan 1972, Biophys. J. 12:1")
def wilson_cowan_net(n_inputs: int = 8, n_nodes: int = 16, n_steps: int = 10, dt_ms: float = 1.0,
                     device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> WilsonCowanNetwork:
    """Wilson-Cowan metapopulation driven by a linear projection of the input."""
    return WilsonCowanNetwork(WilsonCowanConfig(n_inputs=n_inputs, n_nodes=n_nodes, n_steps=n_steps, dt_ms=dt_ms),
                              device=device, dtype=dtype)
