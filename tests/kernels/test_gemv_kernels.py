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


@gpu
def test_kernels_apply_a_pending_norm_at_nemotron_shape() -> None:
    """in_proj + conv, Q/K/V, the decode gate and the shared expert's up rows, each given the
    block boundary after a MoE (an fp32 delta) in place of its input: the reference applied to
    `add_rms_norm`'s output, and the sum (the next residual) exact."""
    from hybridserve.kernels import gate, mamba_gemv, moe_gemv, qkv_gemv

    def bf16(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, device="cuda", dtype=torch.bfloat16) * scale

    def pending() -> tuple[kernels.PendingNorm, torch.Tensor, torch.Tensor]:
        r, d = bf16(1, 2688), torch.randn(1, 2688, device="cuda")
        w = torch.rand(2688, device="cuda", dtype=torch.bfloat16) + 0.5
        total, x = ref.add_rms_norm(r, d, w, 1e-5)
        poison()
        return kernels.PendingNorm.of(r, d, w, 1e-5), total, x

    p, total, x = pending()
    w, cw, cache = bf16(10304, 2688, scale=0.02), bf16(6144, 4), bf16(3, 6144, 3)
    slot, want_cache = torch.tensor([1], device="cuda"), cache.clone()
    want = ref.in_proj_conv(x, w, cw, None, want_cache, slot, 4096)
    assert rel_err(mamba_gemv.in_proj_conv(p, w, cw, None, cache, slot, 4096), want) < BF16_REL
    assert rel_err(cache, want_cache) < BF16_REL and torch.equal(p.total, total)

    p, total, x = pending()
    wq, wk, wv = bf16(4096, 2688, scale=0.02), bf16(256, 2688, scale=0.02), bf16(256, 2688)
    caches, loc = bf16(2, 9, 2, 128), torch.tensor([7], device="cuda")
    want_caches = caches.clone()
    want = ref.qkv_to_cache(x, wq, wk, wv, *want_caches, loc)
    assert rel_err(qkv_gemv.qkv_to_cache(p, wq, wk, wv, *caches, loc), want) < BF16_REL
    assert rel_err(caches, want_caches) < BF16_REL and torch.equal(p.total, total)

    p, total, x = pending()
    w_gate = torch.randn(128, 2688, device="cuda") * 2688**-0.5
    bias = torch.randn(128, device="cuda") * 0.1
    weights, ids = gate.decode_gate_topk(p, w_gate, bias, 6, True, 2.5)
    assert torch.equal(p.total, total) and rel_err(p.normed, x) < 1e-2
    want_weights, want_ids = gate.decode_gate_topk(p.normed, w_gate, bias, 6, True, 2.5)
    assert torch.equal(ids, want_ids) and torch.equal(weights, want_weights)

    w_up, w_down = bf16(8, 1856, 2688, scale=0.02), bf16(8, 2688, 1856, scale=0.02)
    shared = bf16(3712, 2688, scale=0.02), bf16(2688, 3712, scale=0.02)
    ids = torch.randperm(8, device="cuda")[:6].view(1, 6)
    want = ref.moe_experts(p.normed, w_up, w_down, weights, ids, 0, ref.shared_expert(x, *shared))
    got = moe_gemv.moe_experts(p.normed, w_up, w_down, weights, ids, shared=shared, shared_input=p)
    assert rel_err(got, want) < BF16_REL
