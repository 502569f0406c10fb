"""Triton fused MoE experts: tokens sorted by expert, grouped GEMM up-proj with relu^2 fused,
grouped GEMM down-proj with the routing weight and the combine fused (fp32 atomics); oracle:
kernels/ref/moe.py `moe_experts`.

At many rows an expert (long prefills, `MoEBlockConfig.tma`) the weight tiles come through TMA
descriptors, the up projection writes its rows in expert order (padding rows as zeros) and the
down projection reads them as whole tiles through TMA too, in place of a gather of scattered
rows: an 8192-token MoE layer on the H200, 2414-2514 -> 2305-2372 us."""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from hybridserve.kernels import moe_gemv
from hybridserve.kernels.moe_config import MoEBlockConfig, fuses_shared_expert, moe_block_config


@functools.cache
def _shared_memory(device: torch.device) -> int:
    """The per-block shared memory Triton may use on `device` (the bound it checks at launch)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    return triton.runtime.driver.active.utils.get_device_properties(index)["max_shared_mem"]


class ExpertAlignment(NamedTuple):
    sorted_ids: torch.Tensor  # [num_blocks * block_m] int32 flat (token * k + slot); pad = T*k
    block_expert: torch.Tensor  # [num_blocks] int32 local expert of each row block, -1 unused


@triton.jit
def _count_kernel(
    ids_ptr,
    counts_ptr,
    rank_ptr,
    sorted_ids_ptr,  # [num_rows], filled with the padding id (num_pairs) here
    num_pairs,
    num_rows,
    first_expert,
    num_experts,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(sorted_ids_ptr + offs, tl.zeros([BLOCK], tl.int32) + num_pairs, mask=offs < num_rows)
    inb = offs < num_pairs
    e = tl.load(ids_ptr + offs, mask=inb, other=-1).to(tl.int32) - first_expert
    local = inb & (e >= 0) & (e < num_experts)
    # The old count is the pair's rank within its expert (order among equals is arbitrary).
    rank = tl.atomic_add(counts_ptr + tl.where(local, e, 0), 1, mask=local, sem="relaxed")
    tl.store(rank_ptr + offs, tl.where(local, rank, -1), mask=inb)


@triton.jit
def _block_layout_kernel(
    counts_ptr,
    starts_ptr,  # [E] first row of each expert's padded segment
    block_expert_ptr,  # [num_blocks]
    num_experts,
    num_blocks,
    BLOCK_M: tl.constexpr,
    BLOCK_E: tl.constexpr,
    BLOCK_B: tl.constexpr,
):
    ex = tl.arange(0, BLOCK_E)
    counts = tl.load(counts_ptr + ex, mask=ex < num_experts, other=0)
    nblk = (counts + BLOCK_M - 1) // BLOCK_M
    block_end = tl.cumsum(nblk, axis=0)  # [E] inclusive
    tl.store(starts_ptr + ex, (block_end - nblk) * BLOCK_M, mask=ex < num_experts)
    # Row block b belongs to the expert whose blocks end first after b (-1: unused).
    block_end = tl.where(ex < num_experts, block_end, 1 << 30)
    for b0 in range(0, num_blocks, BLOCK_B):
        b = b0 + tl.arange(0, BLOCK_B)
        e = tl.sum((block_end[None, :] <= b[:, None]).to(tl.int32), axis=1)  # [BLOCK_B]
        tl.store(block_expert_ptr + b, tl.where(e < num_experts, e, -1), mask=b < num_blocks)


@triton.jit
def _scatter_kernel(
    ids_ptr, rank_ptr, starts_ptr, sorted_ids_ptr, num_pairs, first_expert, BLOCK: tl.constexpr
):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inb = offs < num_pairs
    rank = tl.load(rank_ptr + offs, mask=inb, other=-1)
    local = rank >= 0
    e = tl.load(ids_ptr + offs, mask=local, other=0).to(tl.int32) - first_expert
    start = tl.load(starts_ptr + tl.where(local, e, 0), mask=local, other=0)
    tl.store(sorted_ids_ptr + start + rank, offs, mask=local)


def align_by_expert(
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    num_experts: int,  # local experts
    first_expert: int,
    block_m: int,
) -> ExpertAlignment:
    """Group the (token, slot) pairs of each local expert into row blocks of `block_m`.

    Sizes depend only on T*k and the expert count (no host synchronisation, graph-safe): the
    blocks are at most cdiv(T*k, block_m) + min(T*k, E); unused blocks carry expert -1."""
    tk, dev = topk_ids.numel(), topk_ids.device
    ids = topk_ids.reshape(-1)
    num_blocks = triton.cdiv(tk, block_m) + min(tk, num_experts)
    block_expert = torch.empty(num_blocks, dtype=torch.int32, device=dev)
    sorted_ids = torch.empty(num_blocks * block_m, dtype=torch.int32, device=dev)
    counts = torch.zeros(num_experts, dtype=torch.int32, device=dev)
    rank = torch.empty(tk, dtype=torch.int32, device=dev)
    starts = torch.empty(num_experts, dtype=torch.int32, device=dev)
    rows = sorted_ids.numel()
    _count_kernel[(triton.cdiv(rows, 1024),)](
        ids, counts, rank, sorted_ids, tk, rows, first_expert, num_experts, BLOCK=1024
    )
    _block_layout_kernel[(1,)](
        counts,
        starts,
        block_expert,
        num_experts,
        num_blocks,
        BLOCK_M=block_m,
        BLOCK_E=triton.next_power_of_2(num_experts),
        BLOCK_B=64,
    )
    _scatter_kernel[(triton.cdiv(tk, 1024),)](
        ids, rank, starts, sorted_ids, tk, first_expert, BLOCK=1024
    )
    return ExpertAlignment(sorted_ids, block_expert)


@triton.jit
def _moe_gemm_kernel(
    a_ptr,  # UP: x [T, K]; DOWN: h [T*k or num_blocks*BLOCK_M (TMA), K]
    a_desc,  # DOWN with TMA: h's tiles [BLOCK_M, BLOCK_K]; else None
    w_ptr,  # [E, N, K]
    w_desc,  # with TMA: w as [E*N, K] in tiles [BLOCK_N, BLOCK_K]; else None
    out_ptr,  # UP: h in a's dtype; DOWN: out [T, N] fp32, accumulated atomically
    topk_w_ptr,  # [T*k] fp32 routing weights (DOWN only)
    sorted_ids_ptr,
    block_expert_ptr,
    num_blocks,
    N,
    K,
    num_pairs,  # T*k: the padding id
    top_k,
    stride_am,
    stride_we,
    stride_wn,
    stride_om,
    DOWN: tl.constexpr,
    TMA: tl.constexpr,  # h in expert order (a row a block row), weights through TMA
    EVEN_K: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr,
):
    # Grouped order: GROUP_M row blocks sweep the column blocks together.
    pid = tl.program_id(0)
    n_blocks = tl.cdiv(N, BLOCK_N)
    group = pid // (GROUP_M * n_blocks)
    first = group * GROUP_M
    rows_in_group = tl.minimum(num_blocks - first, GROUP_M)
    pid_m = first + (pid % (GROUP_M * n_blocks)) % rows_in_group
    pid_n = (pid % (GROUP_M * n_blocks)) // rows_in_group
    e = tl.load(block_expert_ptr + pid_m)
    if e < 0:
        return
    ids = tl.load(sorted_ids_ptr + pid_m * BLOCK_M + tl.arange(0, BLOCK_M))
    rmask = ids < num_pairs
    a_rows = ids if DOWN else ids // top_k
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    nmask = offs_n < N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + a_rows.to(tl.int64)[:, None] * stride_am + offs_k[None, :]
    w_ptrs = (
        w_ptr
        + e.to(tl.int64) * stride_we
        + tl.where(nmask, offs_n, 0)[None, :].to(tl.int64) * stride_wn
        + offs_k[:, None]
    )  # [BLOCK_K, BLOCK_N]: w[e, n, k]
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        kmask = (k0 + offs_k) < K
        if TMA and DOWN:
            a = a_desc.load([pid_m * BLOCK_M, k0])  # zeros past K
        elif EVEN_K:
            a = tl.load(a_ptrs, mask=rmask[:, None], other=0.0)
        else:
            a = tl.load(a_ptrs, mask=rmask[:, None] & kmask[None, :], other=0.0)
        if TMA:  # rows past N are the next expert's (or zeros past the last): masked below
            b = w_desc.load([e * N + pid_n * BLOCK_N, k0]).T
        elif EVEN_K:
            b = tl.load(w_ptrs)
        else:
            b = tl.load(w_ptrs, mask=kmask[:, None], other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K
        w_ptrs += BLOCK_K
    omask = rmask[:, None] & nmask[None, :]
    if DOWN:
        rw = tl.load(topk_w_ptr + ids, mask=rmask, other=0.0)
        tok = (ids // top_k).to(tl.int64)
        o_ptrs = out_ptr + tok[:, None] * stride_om + offs_n[None, :]
        tl.atomic_add(o_ptrs, acc * rw[:, None], mask=omask, sem="relaxed")
    else:
        h = tl.maximum(acc, 0.0)
        h = h * h
        if TMA:  # every row of the block, padding (zeros) too: the down projection's tiles
            rows = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)).to(tl.int64)
            o_ptrs = out_ptr + rows[:, None] * stride_om + offs_n[None, :]
            tl.store(o_ptrs, h.to(out_ptr.dtype.element_ty), mask=nmask[None, :])
        else:
            o_ptrs = out_ptr + ids.to(tl.int64)[:, None] * stride_om + offs_n[None, :]
            tl.store(o_ptrs, h.to(out_ptr.dtype.element_ty), mask=omask)


def moe_experts(
    x: torch.Tensor,  # [T, hidden]
    w_up: torch.Tensor,  # [E_local, I, hidden]
    w_down: torch.Tensor,  # [E_local, hidden, I]
    topk_weights: torch.Tensor,  # [T, k] fp32
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    first_expert: int = 0,
    config: MoEBlockConfig | None = None,
    acc: torch.Tensor | None = None,
    acc_ready: torch.cuda.Event | None = None,
    shared: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The sum over the chosen local experts of `w * down(relu(up(x))^2)` added in place onto
    `acc` (fp32 [T, hidden], contiguous: e.g. the shared expert's output) or onto zeros; returns
    that fp32 tensor.

    Experts outside [first_expert, first_expert + E_local) contribute nothing (expert parallel).
    A few (token, slot) pairs (decode at batch 1) go to kernels/moe_gemv.py instead, which also
    takes the `shared` expert's weights where `fuses_shared_expert`. With `acc_ready` (an event
    where `acc` is written, on another stream) the down projection waits for it; the up
    projection does not need `acc`."""
    T, hidden = x.shape
    E = w_up.shape[0]
    k = topk_ids.shape[1]
    if fuses_shared_expert(T, k):
        args = (x, w_up, w_down, topk_weights, topk_ids, first_expert, acc)
        return moe_gemv.moe_experts(*args, acc_ready=acc_ready, shared=shared)
    assert shared is None, "the shared expert runs in the MoE's launches only at a few pairs"
    out = torch.zeros((T, hidden), dtype=torch.float32, device=x.device) if acc is None else acc
    assert out.dtype == torch.float32 and out.is_contiguous()
    if T == 0:
        moe_gemv.wait_for(acc_ready, x.device)
        return out
    assert x.stride(-1) == 1 and w_up.stride(-1) == 1 and w_down.stride(-1) == 1
    cfg = config or moe_block_config(T, k, E, x.element_size(), _shared_memory(x.device))
    grouped_experts(x, w_up, w_down, topk_weights, topk_ids, first_expert, cfg, out, acc_ready)
    return out


def grouped_experts(
    x: torch.Tensor,  # [T, hidden]
    w_up: torch.Tensor,  # [E_local, I, hidden]
    w_down: torch.Tensor,  # [E_local, hidden, I]
    topk_weights: torch.Tensor,  # [T, k] fp32
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    first_expert: int,
    cfg: MoEBlockConfig,
    out: torch.Tensor,  # fp32 [T, hidden], contiguous: added onto
    out_ready: torch.cuda.Event | None = None,  # the down projection waits for it
) -> None:
    """The grouped-GEMM path of `moe_experts` at any token count: the alignment, then both
    projections."""
    k, inter = topk_ids.shape[1], w_up.shape[1]
    if cfg.tma and not tma_ready(w_up, w_down):
        cfg = cfg._replace(tma=False)
    align = align_by_expert(topk_ids, w_up.shape[0], first_expert, cfg.block_m)
    h = torch.empty((up_rows(topk_ids.numel(), align, cfg), inter), dtype=x.dtype, device=x.device)
    weights = topk_weights.reshape(-1).float().contiguous()
    grouped_gemm(x, w_up, h, weights, align, k, cfg, down=False)
    moe_gemv.wait_for(out_ready, x.device)
    grouped_gemm(h, w_down, out, weights, align, k, cfg, down=True)


def tma_ready(*tensors: torch.Tensor) -> bool:
    """Whether TMA can read `tensors` as they are: contiguous, 16-byte aligned base and rows."""
    return all(
        t.is_contiguous() and t.data_ptr() % 16 == 0 and t.shape[-1] * t.element_size() % 16 == 0
        for t in tensors
    )


def up_rows(num_pairs: int, align: ExpertAlignment, cfg: MoEBlockConfig) -> int:
    """Rows of the up projection's output: one a (token, slot) pair, or with `cfg.tma` one a
    row of the alignment's blocks, in expert order."""
    return align.sorted_ids.numel() if cfg.tma else num_pairs


def grouped_gemm(
    a: torch.Tensor,  # UP: x [T, K]; DOWN: h [up_rows, K]
    w: torch.Tensor,  # [E, N, K]
    out: torch.Tensor,  # UP: h [up_rows, N]; DOWN: [T, N] fp32, added to
    weights: torch.Tensor,  # [T*k] fp32 routing weights
    align: ExpertAlignment,
    top_k: int,
    cfg: MoEBlockConfig,
    down: bool,
) -> None:
    """One projection of the grouped MoE over the expert-sorted rows of `align`."""
    blocks = align.block_expert.shape[0]
    n, kk = w.shape[1], w.shape[2]
    a_desc = w_desc = None
    if cfg.tma:
        w_desc = TensorDescriptor.from_tensor(w.view(-1, kk), [cfg.block_n, cfg.block_k])
        if down:
            a_desc = TensorDescriptor.from_tensor(a, [cfg.block_m, cfg.block_k])
    _moe_gemm_kernel[(blocks * triton.cdiv(n, cfg.block_n),)](
        a,
        a_desc,
        w,
        w_desc,
        out,
        weights,
        align.sorted_ids,
        align.block_expert,
        blocks,
        n,
        kk,
        weights.numel(),
        top_k,
        a.stride(0),
        w.stride(0),
        w.stride(1),
        out.stride(0),
        DOWN=down,
        TMA=cfg.tma,
        EVEN_K=kk % cfg.block_k == 0,
        BLOCK_M=cfg.block_m,
        BLOCK_N=cfg.block_n,
        BLOCK_K=cfg.block_k,
        GROUP_M=cfg.group_m,
        num_warps=cfg.num_warps,
        num_stages=cfg.num_stages,
    )
