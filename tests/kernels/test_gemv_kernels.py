"""The batch-1 projections against their torch references (GPU): `kernels.linear`'s GEMV and
cuBLAS paths, and the GEMVs with their neighbours fused (Mamba's in_proj + conv, attention's
Q/K/V + KV-cache writes)."""

from __future__ import annotations

import pytest
import torch

from hybridserve import kernels
from hybridserve.kernels import ref
from tests.kernels.kernel_checks import BF16_REL, gpu, poison, rel_err


@gpu
@pytest.mark.parametrize("rows", [2, 8192])
def test_linear_relu2_in_place(rows: int) -> None:
    x = torch.randn(rows, 2688, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(3712, 2688, device="cuda", dtype=torch.bfloat16) * 2688**-0.5
    want = torch.nn.functional.linear(x, w).relu().square()
    poison()
    assert torch.equal(kernels.linear(x, w, relu2=True), want)


@gpu
@pytest.mark.parametrize("rows", [0, 1, 3])  # 0: a prefill chunk that ends no prompt
def test_linear_fp32_out(rows: int) -> None:
    x = torch.randn(rows, 2688, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(50000, 2688, device="cuda", dtype=torch.bfloat16) * 2688**-0.5
    out = kernels.linear(x, w, fp32_out=True)
    assert out.shape == (rows, 50000) and out.dtype == torch.float32
    assert rel_err(out, ref.linear(x, w, fp32_out=True)) < 1e-5


@gpu
@pytest.mark.parametrize(("n", "k"), [(3712, 2688), (2688, 4096), (37, 1000)])
def test_gemv(n: int, k: int) -> None:
    from hybridserve.kernels import gemv

    x = torch.randn(1, k, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) * k**-0.5
    want = torch.nn.functional.linear(x, w)
    poison()
    assert rel_err(gemv.gemv(x, w), want) < BF16_REL
    assert rel_err(gemv.gemv(x, w, relu2=True), want.relu().square()) < BF16_REL
    got = gemv.gemv(x, w, out_dtype=torch.float32)
    assert got.dtype == torch.float32 and rel_err(got, ref.linear(x, w, fp32_out=True)) < 1e-5


@gpu
@pytest.mark.parametrize("tp", [1, 2])  # the local rows of in_proj at tp=2: half of everything
def test_in_proj_conv_nemotron_shape(tp: int) -> None:
    from hybridserve.kernels import mamba_gemv

    d, conv_dim, heads = 4096 // tp, 6144 // tp, 64 // tp
    x = torch.randn(1, 2688, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(d + conv_dim + heads, 2688, device="cuda", dtype=torch.bfloat16) * 0.02
    cw = torch.randn(conv_dim, 4, device="cuda", dtype=torch.bfloat16)
    cb = torch.randn(conv_dim, device="cuda", dtype=torch.bfloat16)
    cache = torch.randn(9, conv_dim, 3, device="cuda", dtype=torch.bfloat16)
    slot = torch.tensor([5], device="cuda", dtype=torch.int32)
    want_cache = cache.clone()
    want = ref.in_proj_conv(x, w, cw, cb, want_cache, slot, d)
    poison()
    out = mamba_gemv.in_proj_conv(x, w, cw, cb, cache, slot, d)
    assert rel_err(out, want) < BF16_REL
    assert rel_err(cache, want_cache) < BF16_REL  # in_proj's outputs (cuBLAS rounds its own)
    assert torch.equal(cache[:5], want_cache[:5]) and torch.equal(cache[6:], want_cache[6:])


@gpu
@pytest.mark.parametrize(("q_heads", "kv_heads"), [(32, 2), (8, 1)])  # tp=1, tp=4
def test_qkv_to_cache_nemotron_shape(q_heads: int, kv_heads: int) -> None:
    from hybridserve.kernels import qkv_gemv

    x = torch.randn(1, 2688, device="cuda", dtype=torch.bfloat16)
    wq, wk, wv = (
        torch.randn(h * 128, 2688, device="cuda", dtype=torch.bfloat16) * 0.02
        for h in (q_heads, kv_heads, kv_heads)
    )
    caches = torch.randn(2, 50, kv_heads, 128, device="cuda", dtype=torch.bfloat16)
    want_caches, loc = caches.clone(), torch.tensor([33], device="cuda")
    want = ref.qkv_to_cache(x, wq, wk, wv, *want_caches, loc)
    poison()
    assert rel_err(qkv_gemv.qkv_to_cache(x, wq, wk, wv, *caches, loc), want) < BF16_REL
    assert rel_err(caches[:, 33], want_caches[:, 33]) < BF16_REL
    others = torch.arange(50, device="cuda") != 33
    assert torch.equal(caches[:, others], want_caches[:, others])
