"""The attention's Q, K and V projections at batch 1 as one GEMV launch that writes K and V
straight into their KV-cache slot (oracle: kernels/ref/qkv_gemv.py `qkv_to_cache`).

Unfused, a batch-1 attention layer runs three GEMVs (Q 7.8 us; K and V 3.3 us each, far below
the copy rate at 1.4 MB) and two index writes into the cache: five kernels, four of them
latency-bound. Here the programs of the three weights run side by side in one grid: a program
picks its weight and destination by its id. The GEMV loop and tile are kernels/gemv.py's.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hybridserve.kernels.gemv import GEMV_TILE, GemvTile, dot_rows
from hybridserve.kernels.pdl import launch_args, wait_prior


@triton.jit
def _qkv_kernel(
    x_ptr,  # [K]
    wq_ptr,  # [NQ, K]
    wk_ptr,  # [NKV, K]
    wv_ptr,  # [NKV, K]
    q_ptr,  # [NQ]
    k_ptr,  # the K cache [num_slots, NKV]: row `loc` written
    v_ptr,  # the V cache [num_slots, NKV]: row `loc` written
    loc_ptr,  # [1] int: the token's cache slot
    NQ,
    NKV,
    K,
    stride_w,  # the three weights' row stride (K, all of them contiguous)
    stride_slot,  # the caches' slot stride
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    pid = tl.program_id(0)
    q_programs = tl.cdiv(NQ, BLOCK_N)
    kv_programs = tl.cdiv(NKV, BLOCK_N)
    loc = tl.load(loc_ptr).to(tl.int64)
    if pid < q_programs:
        w_ptr, out_ptr, first, n_rows = wq_ptr, q_ptr, pid * BLOCK_N, NQ
    elif pid < q_programs + kv_programs:
        w_ptr, out_ptr = wk_ptr, k_ptr + loc * stride_slot
        first, n_rows = (pid - q_programs) * BLOCK_N, NKV
    else:
        w_ptr, out_ptr = wv_ptr, v_ptr + loc * stride_slot
        first, n_rows = (pid - q_programs - kv_programs) * BLOCK_N, NKV
    n = first + tl.arange(0, BLOCK_N)
    acc = dot_rows(x_ptr, w_ptr, n, n_rows, K, stride_w, BLOCK_K)
    tl.store(out_ptr + n, acc.to(out_ptr.dtype.element_ty), mask=n < n_rows)


def qkv_to_cache(
    x: torch.Tensor,  # [1, K]
    wq: torch.Tensor,  # [NQ, K]
    wk: torch.Tensor,  # [NKV, K]
    wv: torch.Tensor,  # [NKV, K]
    k_cache: torch.Tensor,  # [num_slots, kv_heads, head_dim]; row `loc` written
    v_cache: torch.Tensor,  # [num_slots, kv_heads, head_dim]; row `loc` written
    loc: torch.Tensor,  # [1] int
    tile: GemvTile = GEMV_TILE,
) -> torch.Tensor:
    """Returns q = `x @ wq.T` [1, NQ]; writes `x @ wk.T` and `x @ wv.T` into the caches' row
    `loc`."""
    K, nq, nkv = x.shape[-1], wq.shape[0], wk.shape[0]
    assert x.numel() == K and x.stride(-1) == 1 and loc.numel() == 1
    assert wq.stride() == (K, 1) and wk.stride() == (K, 1) and wv.stride() == (K, 1)
    assert k_cache.stride() == v_cache.stride() and k_cache[0].numel() == nkv == wv.shape[0]
    assert k_cache[0].is_contiguous() and k_cache.dtype == v_cache.dtype == x.dtype
    q = torch.empty((1, nq), dtype=x.dtype, device=x.device)
    grid = (triton.cdiv(nq, tile.block_n) + 2 * triton.cdiv(nkv, tile.block_n),)
    _qkv_kernel[grid](
        x, wq, wk, wv, q, k_cache, v_cache, loc, nq, nkv, K, K, k_cache.stride(0),
        BLOCK_N=tile.block_n, BLOCK_K=tile.block_k, num_warps=tile.num_warps,
        **launch_args(x),
    )  # fmt: skip
    return q
