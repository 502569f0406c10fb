"""Triton MoE for decode at a few tokens: each chosen expert's two projections as matrix-vector
products that read the expert ids straight from the top-k output, the shared expert's in the same
two launches; oracle: kernels/ref/moe.py `moe_experts` (onto the shared expert's output).

The grouped GEMM (kernels/moe.py) sorts (token, slot) pairs into row blocks of at least 16 rows
so that tensor cores can run them; at one token that is one launch of alignment and two GEMMs
whose tiles are 15/16 padding. Here the up projection runs one program per (pair, rows of the
expert) and the down projection one per (token, rows of the output), summing the token's k
experts in registers: no alignment, no atomics, and the output written once.

With `shared`, the shared expert's rows are the up projection's first programs and one more term
of the down projection's sum: each launch streams 80 MB, where before 60 MB ran beside the shared
expert's 20 MB GEMVs on a side stream, whose programs also held the SMs the gate waited for. The
shared up rows need only x, which the kernel before the gate wrote, so by kernels/pdl.py's
protocol they stream their weight before the wait, while the gate still runs. H200, batch-1 step
(bench/engine.py, docs/benchmarks.md): 2.16 -> 2.10 ms.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hybridserve.kernels.gemv import GemvTile, dot_rows, relu2_rounded
from hybridserve.kernels.pdl import launch_args, wait_prior

# bench/tile_sweep.py --kernel moe_gemv (T=1, the shared expert in): down (1, 2048, 1) 40.7 us
# against 41.8 for (2, 2048, 2); batch-1 step 2.09 -> 2.05 ms
UP_TILE = GemvTile(2, 1024, 2)
DOWN_TILE = GemvTile(1, 2048, 1)


@triton.jit
def _up_kernel(
    x_ptr,  # [T, K]
    w_ptr,  # [E, N, K]
    ids_ptr,  # [T*k] global expert ids
    h_ptr,  # [T*k, N] relu(x @ w[e].T)^2 in x's dtype; rows of other ranks' experts untouched
    ws_ptr,  # [NS, K] the shared expert's up projection (when shared_programs > 0)
    hs_ptr,  # [T, NS] relu(x @ ws.T)^2
    N,
    NS,
    K,
    first_expert,
    num_experts,
    top_k,
    shared_programs,  # T * cdiv(NS, BLOCK_N), or 0
    stride_x,
    stride_we,
    stride_wn,
    stride_ws,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PDL: tl.constexpr,
):
    pid = tl.program_id(0)
    if pid < shared_programs:  # x is final before the wait: only the store waits
        tiles = tl.cdiv(NS, BLOCK_N)
        t = pid // tiles
        n = (pid % tiles) * BLOCK_N + tl.arange(0, BLOCK_N)
        acc = dot_rows(x_ptr + t.to(tl.int64) * stride_x, ws_ptr, n, NS, K, stride_ws, BLOCK_K)
        wait_prior(PDL)
        h = relu2_rounded(acc, hs_ptr.dtype.element_ty)
        tl.store(hs_ptr + t.to(tl.int64) * NS + n, h.to(hs_ptr.dtype.element_ty), mask=n < NS)
    else:
        wait_prior(PDL)
        tiles = tl.cdiv(N, BLOCK_N)
        pair = (pid - shared_programs) // tiles
        n = ((pid - shared_programs) % tiles) * BLOCK_N + tl.arange(0, BLOCK_N)
        e = tl.load(ids_ptr + pair).to(tl.int32) - first_expert
        if (e >= 0) & (e < num_experts):  # another rank's expert: its h row is never read
            x_row = x_ptr + (pair // top_k).to(tl.int64) * stride_x
            w_e = w_ptr + e.to(tl.int64) * stride_we
            acc = dot_rows(x_row, w_e, n, N, K, stride_wn, BLOCK_K)
            h = relu2_rounded(acc, h_ptr.dtype.element_ty)
            tl.store(h_ptr + pair.to(tl.int64) * N + n, h.to(h_ptr.dtype.element_ty), mask=n < N)


@triton.jit
def _down_kernel(
    h_ptr,  # [T*k, K]
    w_ptr,  # [E, N, K]
    ids_ptr,  # [T*k]
    topk_w_ptr,  # [T*k] fp32
    hs_ptr,  # [T, KS] the shared expert's intermediate (SHARED)
    ws_ptr,  # [N, KS] its down projection
    out_ptr,  # [T, N] fp32: written, or added onto when ACC
    N,
    K,
    KS,
    first_expert,
    num_experts,
    stride_we,
    stride_wn,
    stride_ws,
    TOP_K: tl.constexpr,
    SHARED: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    t = tl.program_id(1)
    n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    total = tl.zeros([BLOCK_N], dtype=tl.float32)
    if SHARED:
        total += dot_rows(hs_ptr + t.to(tl.int64) * KS, ws_ptr, n, N, KS, stride_ws, BLOCK_K)
    for j in tl.static_range(TOP_K):
        pair = t * TOP_K + j
        e = tl.load(ids_ptr + pair).to(tl.int32) - first_expert
        if (e >= 0) & (e < num_experts):  # another rank's expert: its h row was never written
            w_e = w_ptr + e.to(tl.int64) * stride_we
            acc = dot_rows(h_ptr + pair.to(tl.int64) * K, w_e, n, N, K, stride_wn, BLOCK_K)
            total += acc * tl.load(topk_w_ptr + pair)
    o_ptrs = out_ptr + t.to(tl.int64) * N + n
    if ACC:
        total += tl.load(o_ptrs, mask=n < N, other=0.0)
    tl.store(o_ptrs, total, mask=n < N)


def moe_experts(
    x: torch.Tensor,  # [T, hidden]
    w_up: torch.Tensor,  # [E_local, I, hidden]
    w_down: torch.Tensor,  # [E_local, hidden, I]
    topk_weights: torch.Tensor,  # [T, k] fp32
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    first_expert: int = 0,
    acc: torch.Tensor | None = None,  # fp32 [T, hidden], contiguous: added onto in place
    up_tile: GemvTile = UP_TILE,
    down_tile: GemvTile = DOWN_TILE,
    acc_ready: torch.cuda.Event | None = None,
    shared: tuple[torch.Tensor, torch.Tensor] | None = None,  # up [I_s, hidden], down [hidden, I_s]
) -> torch.Tensor:
    """kernels/moe.py `moe_experts` for a few (token, slot) pairs (two launches), plus the shared
    expert's relu^2 MLP when its weights are given (then `acc` must be None). The shared up rows
    read `x` before their PDL wait: a kernel (the gate) must run between x's writer and this."""
    T, hidden = x.shape
    E, inter, _ = w_up.shape
    k = topk_ids.shape[1]
    assert shared is None or acc is None
    out = torch.empty((T, hidden), dtype=torch.float32, device=x.device) if acc is None else acc
    assert out.dtype == torch.float32 and out.is_contiguous()
    assert x.stride(-1) == 1 and w_up.stride(-1) == 1 and w_down.stride(-1) == 1
    ids = topk_ids.reshape(-1).contiguous()
    weights = topk_weights.reshape(-1).float().contiguous()
    h = torch.empty((T * k, inter), dtype=x.dtype, device=x.device)
    s_up, s_down = shared or (w_up, w_down)  # without the shared expert: never read
    s_inter = s_up.shape[0] if shared else 0
    assert s_up.stride(-1) == 1 and s_down.stride(-1) == 1
    hs = torch.empty((T, s_inter), dtype=x.dtype, device=x.device)
    s_programs = T * triton.cdiv(s_inter, up_tile.block_n)
    grid = (s_programs + T * k * triton.cdiv(inter, up_tile.block_n),)
    _up_kernel[grid](
        x, w_up, ids, h, s_up, hs, inter, s_inter, hidden, first_expert, E, k, s_programs,
        x.stride(0), w_up.stride(0), w_up.stride(1), s_up.stride(0), BLOCK_N=up_tile.block_n,
        BLOCK_K=up_tile.block_k, num_warps=up_tile.num_warps, **launch_args(x),
    )  # fmt: skip
    wait_for(acc_ready, x.device)
    _down_kernel[(triton.cdiv(hidden, down_tile.block_n), T)](
        h, w_down, ids, weights, hs, s_down, out, hidden, inter, s_inter, first_expert, E,
        w_down.stride(0), w_down.stride(1), s_down.stride(0), TOP_K=k, SHARED=shared is not None,
        ACC=acc is not None, BLOCK_N=down_tile.block_n, BLOCK_K=down_tile.block_k,
        num_warps=down_tile.num_warps, **launch_args(x),
    )  # fmt: skip
    return out


def wait_for(event: torch.cuda.Event | None, device: torch.device) -> None:
    """The current stream waits for `event` (if any): the join before `acc` is read."""
    if event is not None:
        torch.cuda.current_stream(device).wait_event(event)
