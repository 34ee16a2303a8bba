"""Associative-memory models of the zoo.

* ``memn2n``: end-to-end memory network (Sukhbaatar et al. 2015), multi-hop soft attention over
  sentence memories with adjacent weight tying.
* ``hopfield_layer``: trainable modern Hopfield layer (Ramsauer et al. 2021, "Hopfield Networks is
  All You Need"): ``Z = softmax(beta R W_Q (Y W_K)^T) Y W_K W_V`` -- the CCCP update of the energy
  ``E(xi) = -lse(beta, X xi) + 1/2 xi^T xi + const`` with learned projections.

Classical, dense and sparse-distributed memories have no trained parameters and live in
:mod:`neurocircuits.layers.memories` (``HopfieldNetwork``, ``DenseHebbianMemory``,
``SparseDistributedMemory``, ``CA3Memory``).
"""

from __future__ import annotations

import torch

from ..layers.memories import HopfieldLayer, MemN2N
from ._registry import register_model


@register_model("hopfield_layer", family="memories", paper="Ramsauer et al. 2021, Hopfield Networks is All You Need (ICLR)")
def hopfield_layer(d_in: int = 8, d_stored: int = 8, d_hidden: int = 16, d_out: int = 8, beta: float | None = None,
                   device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> HopfieldLayer:
    """Modern Hopfield layer: state patterns ``R`` retrieve from stored patterns ``Y``."""
    return HopfieldLayer(d_in, d_stored, d_hidden, d_out, beta=beta, device=device, dtype=dtype)


@register_model("memn2n", family="memories", paper="Sukhbaatar et al. 2015, End-To-End Memory Networks (NeurIPS)")
def memn2n(vocab_size: int = 20, d: int = 16, n_hops: int = 3, max_sentences: int = 8, max_words: int = 5,
           device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> MemN2N:
    """Multi-hop end-to-end memory network over (story, query) word indices."""
    return MemN2N(vocab_size, d, n_hops, max_sentences, max_words, device=device, dtype=dtype)
