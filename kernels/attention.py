"""Triton paged decode attention for GQA over a token-slot KV cache, split along the context
(flash-decoding); oracle: kernels/ref/attention.py `attention_varlen` with one query a sequence.
Both kernels wait for their inputs first under programmatic dependent launch (kernels/pdl.py):
the query and the step's K/V row come from the kernel before."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hybridserve.kernels.pdl import launch_args, wait_prior

_LOG2E = 1.4426950408889634


@triton.jit
def _decode_partial_kernel(
    q_ptr,  # [B, Hq, D]
    k_ptr,  # [num_slots, Hkv, D]
    v_ptr,
    kv_indices_ptr,  # [sum kv_len] token slots
    kv_indptr_ptr,  # [B+1]
    mid_o_ptr,  # [B, Hq, S, D] fp32, normalised partial outputs
    mid_lse_ptr,  # [B, Hq, S] fp32, log2-sum-exp2 of each split (-inf when empty)
    sm_scale_log2,
    stride_qb,
    stride_qh,
    stride_ks,
    stride_kh,
    stride_vs,
    stride_vh,
    GROUP: tl.constexpr,
    NUM_SPLITS: tl.constexpr,
    D: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    b = tl.program_id(0).to(tl.int64)
    kvh = tl.program_id(1)
    split = tl.program_id(2)
    start = tl.load(kv_indptr_ptr + b)
    length = tl.load(kv_indptr_ptr + b + 1) - start
    per_split = tl.cdiv(tl.cdiv(length, NUM_SPLITS), BLOCK_N) * BLOCK_N
    lo = split * per_split
    hi = tl.minimum(lo + per_split, length)

    heads = kvh * GROUP + tl.arange(0, BLOCK_H)
    hmask = tl.arange(0, BLOCK_H) < GROUP
    dims = tl.arange(0, D)
    q = tl.load(
        q_ptr + b * stride_qb + heads[:, None] * stride_qh + dims[None, :],
        mask=hmask[:, None],
        other=0.0,
    )  # [BLOCK_H, D]
    m = tl.full([BLOCK_H], float("-inf"), tl.float32)
    l_sum = tl.zeros([BLOCK_H], tl.float32)
    acc = tl.zeros([BLOCK_H, D], tl.float32)
    for n0 in range(lo, hi, BLOCK_N):
        offs = n0 + tl.arange(0, BLOCK_N)
        nmask = offs < hi
        slots = tl.load(kv_indices_ptr + start + offs, mask=nmask, other=0).to(tl.int64)
        k = tl.load(
            k_ptr + slots[:, None] * stride_ks + kvh * stride_kh + dims[None, :],
            mask=nmask[:, None],
            other=0.0,
        )  # [BLOCK_N, D]
        s = tl.dot(q, tl.trans(k)) * sm_scale_log2  # [BLOCK_H, BLOCK_N], log2 domain
        s = tl.where(nmask[None, :], s, float("-inf"))
        m_new = tl.maximum(m, tl.max(s, axis=1))
        alpha = tl.exp2(m - m_new)
        p = tl.exp2(s - m_new[:, None])
        l_sum = l_sum * alpha + tl.sum(p, axis=1)
        v = tl.load(
            v_ptr + slots[:, None] * stride_vs + kvh * stride_vh + dims[None, :],
            mask=nmask[:, None],
            other=0.0,
        )
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        m = m_new
    nonempty = hi > lo
    out = acc / tl.where(l_sum > 0, l_sum, 1.0)[:, None]
    lse = tl.where(nonempty, m + tl.log2(tl.where(l_sum > 0, l_sum, 1.0)), float("-inf"))
    row = (b * (GROUP * tl.num_programs(1)) + heads) * NUM_SPLITS + split  # [BLOCK_H]
    tl.store(mid_o_ptr + row[:, None] * D + dims[None, :], out, mask=hmask[:, None])
    tl.store(mid_lse_ptr + row, lse, mask=hmask)


@triton.jit
def _decode_combine_kernel(
    mid_o_ptr,
    mid_lse_ptr,
    out_ptr,  # [B, Hq, D]
    stride_ob,
    stride_oh,
    NUM_SPLITS: tl.constexpr,
    D: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    b = tl.program_id(0).to(tl.int64)
    h = tl.program_id(1)
    row = (b * tl.num_programs(1) + h) * NUM_SPLITS + tl.arange(0, NUM_SPLITS)
    lse = tl.load(mid_lse_ptr + row)  # [S]
    m = tl.max(lse, axis=0)
    w = tl.where(lse > float("-inf"), tl.exp2(lse - m), 0.0)
    w = w / tl.maximum(tl.sum(w, axis=0), 1.0)  # the sum is >= 1 unless every split is empty
    o = tl.load(mid_o_ptr + row[:, None] * D + tl.arange(0, D)[None, :])  # [S, D]
    res = tl.sum(o * w[:, None], axis=0)
    tl.store(
        out_ptr + b * stride_ob + h * stride_oh + tl.arange(0, D),
        res.to(out_ptr.dtype.element_ty),
    )


def num_splits_for(batch: int, kv_heads: int, num_sms: int = 132) -> int:
    """Context splits per (sequence, KV head): enough programs for two waves, at most 64."""
    want = triton.cdiv(2 * num_sms, max(1, batch * kv_heads))
    return max(1, min(64, triton.next_power_of_2(want)))


def paged_decode_attention(
    q: torch.Tensor,  # [B, Hq, D] the last position of each sequence
    k_cache: torch.Tensor,  # [num_slots, Hkv, D]
    v_cache: torch.Tensor,  # [num_slots, Hkv, D]
    kv_indices: torch.Tensor,  # [sum kv_len] int token slots, each sequence's whole context
    kv_indptr: torch.Tensor,  # [B+1] int offsets into kv_indices (on the device)
    scale: float,
    num_splits: int | None = None,
) -> torch.Tensor:
    """Softmax(q k^T * scale) v per sequence, fp32 softmax; returns [B, Hq, D] in q's dtype.

    A sequence of length 0 gets zeros. No host synchronisation: safe inside a CUDA graph."""
    bsz, hq, d = q.shape
    hkv = k_cache.shape[1]
    group = hq // hkv
    out = torch.empty_like(q)
    if bsz == 0:
        return out
    assert k_cache.stride(-1) == 1 and v_cache.stride(-1) == 1 and q.stride(-1) == 1
    splits = num_splits or num_splits_for(bsz, hkv)
    mid_o = torch.empty((bsz, hq, splits, d), dtype=torch.float32, device=q.device)
    mid_lse = torch.empty((bsz, hq, splits), dtype=torch.float32, device=q.device)
    _decode_partial_kernel[(bsz, hkv, splits)](
        q,
        k_cache,
        v_cache,
        kv_indices,
        kv_indptr,
        mid_o,
        mid_lse,
        scale * _LOG2E,
        q.stride(0),
        q.stride(1),
        k_cache.stride(0),
        k_cache.stride(1),
        v_cache.stride(0),
        v_cache.stride(1),
        GROUP=group,
        NUM_SPLITS=splits,
        D=d,
        BLOCK_H=max(16, triton.next_power_of_2(group)),
        BLOCK_N=64,
        num_warps=4,
        num_stages=2,
        **launch_args(q),
    )
    _decode_combine_kernel[(bsz, hq)](
        mid_o, mid_lse, out, out.stride(0), out.stride(1), NUM_SPLITS=splits, D=d, num_warps=4,
        **launch_args(q),
    )  # fmt: skip
    return out
