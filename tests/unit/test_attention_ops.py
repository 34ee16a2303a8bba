"""The copy-free attention steps give bitwise the numbers of the plain forms they replace."""

from __future__ import annotations

import pytest
import torch

from neurocircuits.layers.attention_ops import causal_minus_inf, head_results


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_adding_the_causal_mask_equals_masking_with_minus_inf(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 2, 7, 7, generator=g, dtype=dtype)
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    ref = torch.where(causal, scores, torch.tensor(float("-inf"), dtype=dtype))
    got = scores.clone().add_(causal_minus_inf(7, dtype))
    assert torch.equal(got, ref)
    assert torch.equal(torch.softmax(got, -1), torch.softmax(ref, -1))
    rows = torch.tensor([2, 6])  # trimmed queries: the mask's rows at those positions
    assert torch.equal(scores[:, :, rows] + causal_minus_inf(7, dtype).index_select(0, rows), ref[:, :, rows])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_head_results_equal_the_einsum(dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(4, 5, 3, 6, generator=g, dtype=dtype)
    w_o = torch.randn(3, 6, 8, generator=g, dtype=dtype)
    ref = torch.einsum("bqhe,hed->bqhd", z, w_o)
    got = head_results(z, w_o)
    assert got.shape == ref.shape
    assert torch.equal(got, ref)
    assert torch.equal(got.sum(2), ref.sum(2))
    strided = torch.randn(4, 3, 5, 6, generator=g, dtype=dtype).permute(0, 2, 1, 3)  # z as attention makes it
    assert torch.equal(head_results(strided, w_o), torch.einsum("bqhe,hed->bqhd", strided, w_o))
