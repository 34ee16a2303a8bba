"""Associative-memory models of the zoo.

* ``hopfield_layer``: trainable modern Hopfield layer (Ramsauer et al. 2021, "Hopfield Networks is
  All You Need"): ``Z = softmax(beta R W_Q (Y W_K)^T) Y W_K W_V`` -- the CCCP update of the energy
  ``E(xi) = -lse(beta, X xi) + 1/2 xi^T xi + const`` with learned projections.

Classical, dense and sparse-distributed memories have no trained parameters and live in
:mod:`neurocircuits.layers.memories` (``HopfieldNetwork``, ``DenseHebbianMemory``,
``SparseDistributedMemory``, ``CA3Memory``).
"""

from __future__ import annotations

import torch

from ..layers.memories import HopfieldLayer
from ._registry import register_model


@register_model("hopfield_layer", family="memories", paper="Ramsauer et al. 2021, Hopfield Networks is All You Need (ICLR)")
def hopfield_layer(d_in: int = 8, d_stored: int = 8, d_hidden: int = 16, d_out: int = 8, beta: float | None = None,
                   device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> HopfieldLayer:
    """Modern Hopfield layer: state patterns ``R`` retrieve from stored patterns ``Y``."""
    return HopfieldLayer(d_in, d_stored, d_hidden, d_out, beta=beta, device=device, dtype=dtype)
