"""The fused MoE kernels (grouped GEMM, few-pairs GEMVs, tiles, the TMA path) against their
torch references (kernels/ref/moe.py)."""

from __future__ import annotations

import pytest
import torch

from hybridserve.kernels import ref
from tests.kernels.kernel_checks import gpu, moe_inputs, poison, rel_err

MOE_REL = 2e-2  # the relu^2 intermediate is rounded to bf16 in both, at different points


@gpu
@pytest.mark.parametrize("tokens", [1, 3, 257])
def test_moe_experts_nemotron_shape(tokens: int) -> None:
    from hybridserve.kernels import moe

    x, w_up, w_down, weights, ids = moe_inputs(tokens, 128, 2688, 1856, 6, "cuda")
    want = ref.moe_experts(x, w_up, w_down, weights, ids)
    poison()
    assert rel_err(moe.moe_experts(x, w_up, w_down, weights, ids), want) < MOE_REL
    shared = torch.randn_like(x, dtype=torch.float32)  # the shared expert's fp32 output
    want = ref.moe_experts(x, w_up, w_down, weights, ids, acc=shared.clone())
    out = moe.moe_experts(x, w_up, w_down, weights, ids, acc=shared)
    assert out is shared and rel_err(out, want) < MOE_REL


@gpu
@pytest.mark.parametrize("tokens", [1, 3])
def test_moe_gemv_nemotron_shape(tokens: int) -> None:
    """The few-pairs path at the model's shape, its expert slice of a rank among them."""
    from hybridserve.kernels import moe_gemv

    x, w_up, w_down, weights, ids = moe_inputs(tokens, 128, 2688, 1856, 6, "cuda")
    want = ref.moe_experts(x, w_up, w_down, weights, ids)
    poison()
    assert rel_err(moe_gemv.moe_experts(x, w_up, w_down, weights, ids), want) < MOE_REL
    shared = (  # the shared expert's up and down, in the same launches
        torch.randn(3712, 2688, device="cuda", dtype=x.dtype) * 2688**-0.5,
        torch.randn(2688, 3712, device="cuda", dtype=x.dtype) * 3712**-0.5,
    )
    want = ref.moe_experts(x, w_up, w_down, weights, ids, acc=ref.shared_expert(x, *shared))
    poison()
    out = moe_gemv.moe_experts(x, w_up, w_down, weights, ids, shared=shared)
    assert rel_err(out, want) < MOE_REL
    w_up, w_down = w_up[32:64].contiguous(), w_down[32:64].contiguous()
    ids[:, 0] = 40  # at least one local expert a token
    want = ref.moe_experts(x, w_up, w_down, weights, ids, 32)
    assert rel_err(moe_gemv.moe_experts(x, w_up, w_down, weights, ids, 32), want) < MOE_REL


@gpu
@pytest.mark.parametrize("tokens", [1, 5, 300])
@pytest.mark.parametrize("block_m", [16, 32, 64])
@pytest.mark.parametrize("group_m", [1, 4])
def test_moe_experts_local_slice(tokens: int, block_m: int, group_m: int) -> None:
    """Expert parallel: 16 of 64 experts live here (ids 16..31); odd dims exercise the masks."""
    from hybridserve.kernels import moe

    x, w_up, w_down, weights, ids = moe_inputs(tokens, 64, 200, 100, 6, "cuda")
    w_up, w_down = w_up[16:32].contiguous(), w_down[16:32].contiguous()
    want = ref.moe_experts(x, w_up, w_down, weights, ids, first_expert=16)
    cfg = moe.MoEBlockConfig(block_m, 64, 64, 4, 3, group_m=group_m)
    out = moe.moe_experts(x, w_up, w_down, weights, ids, first_expert=16, config=cfg)
    assert rel_err(out, want) < MOE_REL


@gpu
@pytest.mark.parametrize("tokens", [5, 300, 3000])
def test_moe_experts_tma(tokens: int) -> None:
    """Weights and the down projection's rows through TMA: 16 of 64 experts local, dims that are
    not multiples of the tiles (the next expert's rows and zeros fill those)."""
    from hybridserve.kernels import moe

    x, w_up, w_down, weights, ids = moe_inputs(tokens, 64, 200, 104, 6, "cuda")
    w_up, w_down = w_up[16:32].contiguous(), w_down[16:32].contiguous()
    assert moe.tma_ready(w_up, w_down)
    want = ref.moe_experts(x, w_up, w_down, weights, ids, first_expert=16)
    cfg = moe.MoEBlockConfig(64, 64, 64, 4, 3, tma=True)
    out = moe.moe_experts(x, w_up, w_down, weights, ids, first_expert=16, config=cfg)
    assert rel_err(out, want) < MOE_REL


@gpu
@pytest.mark.parametrize("tokens", [5, 3000])
def test_moe_experts_fp32(tokens: int) -> None:
    """fp32 weights (the tiny test models): the default tiles must fit shared memory."""
    from hybridserve.kernels import moe

    x, w_up, w_down, weights, ids = moe_inputs(tokens, 16, 200, 100, 6, "cuda", torch.float32)
    want = ref.moe_experts(x, w_up, w_down, weights, ids)
    assert rel_err(moe.moe_experts(x, w_up, w_down, weights, ids), want) < 5e-3  # tf32 dots


@pytest.mark.parametrize("tokens", [1, 40, 300, 8192, 65536])
@pytest.mark.parametrize("element_size", [2, 4])
def test_moe_block_config_fits_shared_memory(tokens: int, element_size: int) -> None:
    """Every default tile, bf16 or fp32, fits the H100/H200's 227 KB of shared memory a block."""
    from hybridserve.kernels.moe_config import moe_block_config

    cfg = moe_block_config(tokens, 6, 128, element_size, 232448)
    assert cfg.num_stages >= 1
    assert cfg.num_stages * (cfg.block_m + cfg.block_n) * cfg.block_k * element_size <= 232448
    if element_size == 2:  # the bf16 tiles are the tuned ones, untouched
        assert cfg == moe_block_config(tokens, 6, 128)
    assert cfg.tma == (element_size == 2 and tokens * 6 / 128 >= 256)  # long bf16 prefills


def test_tma_ready() -> None:
    """The TMA path takes contiguous tensors whose rows are whole 16-byte units, nothing else."""
    from hybridserve.kernels import moe

    w = torch.zeros(4, 24, 40, dtype=torch.bfloat16)
    assert moe.tma_ready(w, w[1:3])
    assert not moe.tma_ready(w[:, :, :36])  # a strided view
    assert not moe.tma_ready(w[:, :, :36].contiguous())  # 72-byte rows
    assert not moe.tma_ready(w.transpose(1, 2))
