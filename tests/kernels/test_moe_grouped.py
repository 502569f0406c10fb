"""The grouped-GEMM MoE candidate (kernels/moe_grouped.py) against the reference experts: on CPU
through torch's own grouped-GEMM fallback, on a GPU (bf16) through CUTLASS."""

from __future__ import annotations

import pytest
import torch

from hybridserve.kernels import ref
from hybridserve.kernels.moe_grouped import moe_experts_grouped


def _case(t: int, experts: int, k: int, hidden: int, inter: int, device: str, dtype: torch.dtype):
    gen = torch.Generator().manual_seed(t)
    x = torch.randn(t, hidden, generator=gen).to(device, dtype)
    w_up = (torch.randn(experts, inter, hidden, generator=gen) * hidden**-0.5).to(device, dtype)
    w_down = (torch.randn(experts, hidden, inter, generator=gen) * inter**-0.5).to(device, dtype)
    ids = torch.rand(t, 2 * experts, generator=gen).topk(k, dim=-1).indices  # some off-rank ids
    weights = torch.rand(t, k, generator=gen)
    return x, w_up, w_down, weights.to(device), ids.to(device)


@pytest.mark.parametrize("t", [1, 3, 64, 257])
@pytest.mark.parametrize("first_expert", [0, 8])
def test_grouped_experts_match_the_reference_on_cpu(t: int, first_expert: int) -> None:
    x, w_up, w_down, weights, ids = _case(t, 8, 3, 32, 24, "cpu", torch.float32)
    want = ref.moe_experts(x, w_up, w_down, weights, ids, first_expert)
    got = moe_experts_grouped(x, w_up, w_down, weights, ids, first_expert)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("t", [1, 257, 2048])
def test_grouped_experts_match_the_reference_on_gpu(t: int) -> None:
    x, w_up, w_down, weights, ids = _case(t, 128, 6, 2688, 1856, "cuda", torch.bfloat16)
    ids = ids % 128
    want = ref.moe_experts(x, w_up, w_down, weights, ids)
    got = moe_experts_grouped(x, w_up, w_down, weights, ids)
    assert ((got - want).norm() / want.norm()).item() < 2e-2
