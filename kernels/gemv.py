"""Triton matrix-vector product for decode at batch 1: `x @ w.T` for one row x [1, K] and a
weight [N, K], optionally squared-ReLU'd (the shared expert's up projection) or kept in fp32
(its down projection, which the routed experts add onto); oracle: kernels/ref/linear.py
`linear`.

At one row cuBLAS picks split-K GEMVs with a reduce kernel after them. Here a program reads
BLOCK_N whole rows of the weight, so there is no reduce, and the relu^2 or the fp32 output cost
nothing extra. Tiles swept on the H200 with the weights read from HBM, as in a decode step
(bench/tile_sweep.py --kernel gemv; us, cuBLAS -> this tile): Mamba's out_proj 9.5 -> 7.7, the
shared expert's up 10.2 -> 7.4 and down 10.2 -> 6.9, an attention K/V projection 6.3 -> 2.8.
(Timed on one weight, which then stays in the 50 MB L2, 4 rows of 1024 columns looked best; from
HBM they take 11.5-14.4 us.) cuBLAS stays for weights wider than MAX_N rows and for 2 rows and
more (16.5 against 28.3 us for in_proj at 4), hence `use_gemv`; Mamba's in_proj at batch 1 runs
as a GEMV with the conv fused in (kernels/mamba_gemv.py), attention's Q, K, V as one launch
writing K and V into the cache (kernels/qkv_gemv.py).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from hybridserve.kernels.pdl import launch_args, wait_prior


class GemvTile(NamedTuple):
    """Weight rows x columns a program reads per step, and its warps."""

    block_n: int
    block_k: int
    num_warps: int


GEMV_TILE = GemvTile(2, 2048, 2)
MAX_N = 8192  # wider weights (Mamba's in_proj, the lm_head): cuBLAS


def use_gemv(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """Whether `gemv` beats cuBLAS for `x @ weight.T` (x [.., K] on CUDA)."""
    return x.numel() == x.shape[-1] and weight.shape[0] <= MAX_N


@triton.jit
def dot_rows(x_ptr, w_ptr, n, N, K, stride_w, BLOCK_K: tl.constexpr):
    """fp32 `w[n] . x` for the rows `n` of the weight (those >= N read as zero): the GEMV loop
    the batch-1 kernels share."""
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros(n.shape, dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        ks = k0 + offs_k
        w = tl.load(
            w_ptr + n.to(tl.int64)[:, None] * stride_w + ks[None, :],
            mask=(n < N)[:, None] & (ks < K)[None, :],
            other=0.0,
        )
        x = tl.load(x_ptr + ks, mask=ks < K, other=0.0)
        acc += tl.sum(w.to(tl.float32) * x.to(tl.float32)[None, :], axis=1)
    return acc


@triton.jit
def relu2_rounded(acc, dtype: tl.constexpr):
    """relu(.)^2 of the fp32 product rounded to `dtype`, as F.relu(F.linear(..)) sees it."""
    h = tl.maximum(acc.to(dtype).to(tl.float32), 0.0)
    return h * h


@triton.jit
def _gemv_kernel(
    x_ptr,  # [K]
    w_ptr,  # [N, K]
    out_ptr,  # [N]
    N,
    K,
    stride_w,
    RELU2: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = dot_rows(x_ptr, w_ptr, n, N, K, stride_w, BLOCK_K)
    if RELU2:
        acc = relu2_rounded(acc, out_ptr.dtype.element_ty)
    tl.store(out_ptr + n, acc.to(out_ptr.dtype.element_ty), mask=n < N)


def gemv(
    x: torch.Tensor,  # [1, K]
    weight: torch.Tensor,  # [N, K]
    relu2: bool = False,
    out_dtype: torch.dtype | None = None,
    tile: GemvTile = GEMV_TILE,
) -> torch.Tensor:
    """`x @ weight.T` [1, N] in `out_dtype` (x's by default); `relu2`: relu(.)^2 of it."""
    K = x.shape[-1]
    N = weight.shape[0]
    assert x.numel() == K and x.stride(-1) == 1 and weight.stride(-1) == 1
    out = torch.empty((1, N), dtype=out_dtype or x.dtype, device=x.device)
    _gemv_kernel[(triton.cdiv(N, tile.block_n),)](
        x, weight, out, N, K, weight.stride(0),
        RELU2=relu2, BLOCK_N=tile.block_n, BLOCK_K=tile.block_k, num_warps=tile.num_warps,
        **launch_args(x),
    )  # fmt: skip
    return out
