"""Mamba's in_proj at batch 1 as a GEMV with the one-step causal conv1d + SiLU and its state
update (`conv1d_update_slots`) in the epilogue, on the conv rows [lo, hi) (oracle:
kernels/ref/mamba_gemv.py `in_proj_conv`). The conv is depthwise, so a channel needs only its own
in_proj row: the program that computes the row owns the channel's state.

At batch 1 a step was ~360 kernels, ~230 of them latency-bound (1.5-3 us, and ~1 us between
kernels in the graph). On the H200, from HBM: 16.2-16.8 us against 19.5-20.1 for cuBLAS' in_proj
and the conv kernel (`bench/gpu_check.py`). (The gated RMSNorm folded into out_proj's prologue
the same way took 15.0 us against 9.6 for the two kernels: every program normalizing all 4096
channels costs more than the launch it saves.)
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hybridserve.kernels.gemv import GemvTile, dot_rows
from hybridserve.kernels.pdl import launch_args, wait_prior

# in_proj's K (2688) in three 1024-wide steps: 16.2 us against cuBLAS' 16.8 (H200, from HBM)
IN_PROJ_TILE = GemvTile(2, 1024, 2)


@triton.jit
def _in_proj_conv_kernel(
    x_ptr,  # [K]
    w_ptr,  # [N, K]
    out_ptr,  # [N]: in_proj's output, with silu(conv(.)) on rows [lo, hi)
    cw_ptr,  # [hi - lo, KW + 1] conv weight
    cb_ptr,  # [hi - lo] conv bias, or a dummy when HAS_BIAS is false
    state_ptr,  # [num_slots, hi - lo, KW], advanced in place at `slot`
    slot_ptr,  # [1] int; negative: a padded row, the state is left alone
    N,
    K,
    stride_w,
    lo,
    hi,
    stride_cw,
    stride_s_slot,
    stride_s_c,
    KW: tl.constexpr,
    KWP: tl.constexpr,  # KW rounded up to a power of two
    HAS_BIAS: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = dot_rows(x_ptr, w_ptr, n, N, K, stride_w, BLOCK_K)
    y = acc.to(out_ptr.dtype.element_ty)  # the conv reads in_proj's output as stored
    out = y.to(tl.float32)
    conv = (n >= lo) & (n < hi)
    if tl.sum(conv.to(tl.int32), axis=0) > 0:
        c = tl.where(conv, n - lo, 0)
        slot = tl.load(slot_ptr).to(tl.int64)
        j = tl.arange(0, KWP)[None, :]  # taps over the state, [1, KWP]
        m = conv[:, None] & (j < KW)
        s = state_ptr + tl.maximum(slot, 0) * stride_s_slot + c.to(tl.int64)[:, None] * stride_s_c
        hist = tl.load(s + j, mask=m, other=0.0)
        later = tl.load(s + j + 1, mask=m & (j + 1 < KW), other=0.0)  # the state shifted left
        cw = tl.load(cw_ptr + c[:, None] * stride_cw + j, mask=m, other=0.0).to(tl.float32)
        z = tl.sum(cw * hist.to(tl.float32), axis=1)
        z += tl.load(cw_ptr + c * stride_cw + KW, mask=conv, other=0.0).to(tl.float32) * out
        if HAS_BIAS:
            z += tl.load(cb_ptr + c, mask=conv, other=0.0).to(tl.float32)
        out = tl.where(conv, z * tl.sigmoid(z), out)
        # rows are held by several threads (2 rows, 64 threads): all of them have read the
        # state before any writes it back
        tl.debug_barrier()
        new = tl.where(j == KW - 1, y[:, None].to(state_ptr.dtype.element_ty), later)
        tl.store(s + j, new, mask=m & (slot >= 0))
    tl.store(out_ptr + n, out.to(out_ptr.dtype.element_ty), mask=n < N)


def in_proj_conv(
    x: torch.Tensor,  # [1, K]
    weight: torch.Tensor,  # [N, K]
    conv_weight: torch.Tensor,  # [hi - lo, KW + 1]
    conv_bias: torch.Tensor | None,
    conv_cache: torch.Tensor,  # [num_slots, hi - lo, KW], advanced in place at `slot`
    slot: torch.Tensor,  # [1] int
    lo: int,
    tile: GemvTile = IN_PROJ_TILE,
) -> torch.Tensor:
    """`x @ weight.T` [1, N] with columns [lo, hi) replaced by silu(conv1d_update(.))."""
    K, N = x.shape[-1], weight.shape[0]
    hi = lo + conv_weight.shape[0]
    assert x.numel() == K and x.stride(-1) == 1 and weight.stride(-1) == 1
    assert conv_cache.stride(-1) == 1 and conv_weight.stride(-1) == 1 and slot.numel() == 1
    out = torch.empty((1, N), dtype=x.dtype, device=x.device)
    _in_proj_conv_kernel[(triton.cdiv(N, tile.block_n),)](
        x, weight, out, conv_weight, conv_bias if conv_bias is not None else conv_weight,
        conv_cache, slot, N, K, weight.stride(0), lo, hi, conv_weight.stride(0),
        conv_cache.stride(0), conv_cache.stride(1),
        KW=conv_weight.shape[-1] - 1, KWP=triton.next_power_of_2(conv_weight.shape[-1] - 1),
        HAS_BIAS=conv_bias is not None,
        BLOCK_N=tile.block_n, BLOCK_K=tile.block_k, num_warps=tile.num_warps,
        **launch_args(x),
    )  # fmt: skip
    return out
