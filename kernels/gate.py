"""Triton MoE gate for ungrouped routing (n_group == 1, as Nemotron 3 Nano): the fp32 router
logits, then sigmoid, top-k chosen with the score-correction bias, weights taken without it,
normalised and scaled; oracle: kernels/ref/moe.py `gate_topk`.

The logits read the model-dtype activations as they are against the fp32 gate weight split into
two tf32 terms (an activation in bf16 is exact in tf32, the weight's high and low parts together
hold its fp32 mantissa to ~2^-21): near-fp32 accuracy from tensor cores, where the reference's
cast of the activations and fp32 FFMA GEMM took 190 us a MoE layer at 8192 tokens (H200).

The top-k runs one program per token holding its E scores in registers for k rounds of argmax,
replacing the reference's sigmoid, add, topk, gather, sum, div and scale kernels with one.

For a few tokens (decode) one launch does both (`decode_gate_topk`): a program per (token,
ROWS experts) computes its logits in fp32 from gate rows it loaded before waiting for x, and the
last of a token's programs to arrive (an atomic count per token) picks its top-k. At batch 1 that
is one kernel on the MoE's critical path instead of two.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from hybridserve.kernels import arrivals
from hybridserve.kernels.arrivals import arrive, reset
from hybridserve.kernels.pdl import launch_args, wait_prior


@triton.jit
def _logits_kernel(
    x_ptr,  # [T, K] model dtype
    w_ptr,  # [E, K] fp32
    out_ptr,  # [S, T, E] fp32: the partial sum over each of S slices of K
    num_tokens,
    num_experts,
    K,
    split_k,  # columns a slice (a multiple of BLOCK_K)
    stride_x,
    stride_w,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_K: tl.constexpr,
    PDL: tl.constexpr,
):
    wait_prior(PDL)
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    split = tl.program_id(2)
    offs_k = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k0 in range(split * split_k, tl.minimum(K, (split + 1) * split_k), BLOCK_K):
        ks = k0 + offs_k
        a = tl.load(
            x_ptr + rows.to(tl.int64)[:, None] * stride_x + ks[None, :],
            mask=(rows < num_tokens)[:, None] & (ks < K)[None, :],
            other=0.0,
        ).to(tl.float32)
        w = tl.load(
            w_ptr + cols[None, :] * stride_w + ks[:, None],
            mask=(cols < num_experts)[None, :] & (ks < K)[:, None],
            other=0.0,
        )  # [BLOCK_K, BLOCK_N]
        w_hi = (w.to(tl.uint32, bitcast=True) & 0xFFFFE000).to(tl.float32, bitcast=True)
        # A BLOCK_K slice's product in a fresh tensor-core accumulator, added in registers: the
        # MMA's truncating adds, run through all of K, erred by ~3e-5 at K=2688.
        part = tl.dot(a, w_hi, input_precision="tf32")
        acc += tl.dot(a, w - w_hi, part, input_precision="tf32")
    out = out_ptr + (split * num_tokens + rows.to(tl.int64))[:, None] * num_experts + cols[None, :]
    tl.store(out, acc, mask=(rows < num_tokens)[:, None] & (cols < num_experts)[None, :])


class GateTile(NamedTuple):
    """Tokens x experts x hidden columns of a logits program, and its warps."""

    block_m: int
    block_n: int
    block_k: int
    num_warps: int


# swept on the H200 (bench/tile_sweep.py --kernel gate): T=1024 12.3 us, T=8192 66 us with the
# many-token tile; 64x64x64 (4 warps) took 13.7 and 75
FEW_TOKENS, MANY_TOKENS = GateTile(16, 16, 64, 4), GateTile(128, 64, 64, 8)


def router_logits(
    x: torch.Tensor, weight: torch.Tensor, tile: GateTile | None = None
) -> torch.Tensor:
    """Partial fp32 `x @ weight.T` [S, T, E] over S slices of the hidden dim (their sum is the
    logits; `topk_from_logits` adds them as it loads) for activations `x` [T, K] in a dtype
    exact in tf32 (bf16; fp16 within tf32's range) and the fp32 gate weight [E, K].

    A program reads a 16- or 64-expert block of the weight; few tokens make few programs, so the
    hidden dim is split until about one program an SM (T=1: 56 programs of 25 KB, not 8 of 172)."""
    T, K = x.shape
    E = weight.shape[0]
    assert weight.dtype == torch.float32 and x.stride(-1) == 1 and weight.stride(-1) == 1
    bm, bn, bk, warps = tile or (FEW_TOKENS if T <= 64 else MANY_TOKENS)
    tiles = triton.cdiv(T, bm) * triton.cdiv(E, bn)
    splits = max(1, min(8, 128 // tiles, triton.cdiv(K, 4 * bk)))
    split_k = triton.cdiv(triton.cdiv(K, splits), bk) * bk
    splits = triton.cdiv(K, split_k)
    out = torch.empty((splits, T, E), dtype=torch.float32, device=x.device)
    if T:
        _logits_kernel[(triton.cdiv(T, bm), triton.cdiv(E, bn), splits)](
            x, weight, out, T, E, K, split_k, x.stride(0), weight.stride(0),
            BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, num_warps=warps, **launch_args(x),
        )  # fmt: skip
    return out


@triton.jit
def _store_topk(
    logits,  # [BLOCK_E] fp32 one token's router logits
    bias,  # [BLOCK_E] fp32
    emask,
    offs_e,
    weights_ptr,  # [T, K] fp32 out
    ids_ptr,  # [T, K] int64 out
    t,
    scale,
    K: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NORMALIZE: tl.constexpr,
):
    """Token `t`'s top-k experts by sigmoid score + bias, and their weights (the scores without
    the bias, normalised and scaled): k rounds of argmax over scores held in registers."""
    scores = tl.sigmoid(logits)
    choice = tl.where(emask, scores + bias, float("-inf"))
    offs_k = tl.arange(0, BLOCK_K)
    picked_w = tl.zeros([BLOCK_K], dtype=tl.float32)
    picked_id = tl.zeros([BLOCK_K], dtype=tl.int64)
    for k in tl.static_range(K):
        best = tl.argmax(choice, axis=0)
        w_k = tl.sum(tl.where(offs_e == best, scores, 0.0), axis=0)
        picked_w = tl.where(offs_k == k, w_k, picked_w)
        picked_id = tl.where(offs_k == k, best.to(tl.int64), picked_id)
        choice = tl.where(offs_e == best, float("-inf"), choice)
    if NORMALIZE:
        picked_w = picked_w / (tl.sum(picked_w, axis=0) + 1e-20)
    kmask = offs_k < K
    tl.store(weights_ptr + t * K + offs_k, picked_w * scale, mask=kmask)
    tl.store(ids_ptr + t * K + offs_k, picked_id, mask=kmask)


@triton.jit
def _topk_kernel(
    logits_ptr,  # [S, T, E] fp32 partial sums, contiguous
    bias_ptr,  # [E] fp32
    weights_ptr,  # [T, K] fp32 out
    ids_ptr,  # [T, K] int64 out
    num_splits,
    num_tokens,
    num_experts,
    scale,
    K: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NORMALIZE: tl.constexpr,
    BLOCK_E: tl.constexpr,
    PDL: tl.constexpr,
):
    t = tl.program_id(0).to(tl.int64)
    offs_e = tl.arange(0, BLOCK_E)
    emask = offs_e < num_experts
    bias = tl.load(bias_ptr + offs_e, mask=emask, other=0.0)
    wait_prior(PDL)
    logits = tl.zeros([BLOCK_E], dtype=tl.float32)
    for s in range(num_splits):
        row = logits_ptr + (s * num_tokens + t) * num_experts
        logits += tl.load(row + offs_e, mask=emask, other=0.0)
    _store_topk(logits, bias, emask, offs_e, weights_ptr, ids_ptr, t, scale, K, BLOCK_K, NORMALIZE)


def topk_from_logits(
    logits: torch.Tensor,  # [S, T, E] fp32 partial sums (router_logits)
    correction_bias: torch.Tensor,  # [E] fp32
    top_k: int,
    norm_topk_prob: bool,
    routed_scaling_factor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights [T, k] fp32, ids [T, k] int64)."""
    S, T, E = logits.shape
    assert logits.dtype == torch.float32 and logits.is_contiguous()
    weights = torch.empty((T, top_k), dtype=torch.float32, device=logits.device)
    ids = torch.empty((T, top_k), dtype=torch.int64, device=logits.device)
    if T == 0:
        return weights, ids
    _topk_kernel[(T,)](
        logits,
        correction_bias,
        weights,
        ids,
        S,
        T,
        E,
        routed_scaling_factor,
        K=top_k,
        BLOCK_K=triton.next_power_of_2(top_k),
        NORMALIZE=norm_topk_prob,
        BLOCK_E=triton.next_power_of_2(E),
        num_warps=1 if E <= 256 else 4,
        **launch_args(logits),
    )
    return weights, ids


# Up to this many tokens, and this hidden size (a program holds whole gate rows), the dispatcher
# runs `decode_gate_topk` instead of the two kernels above.
DECODE_MAX_TOKENS, DECODE_MAX_HIDDEN = 16, 8192


def use_decode_gate(x: torch.Tensor) -> bool:
    """Whether `decode_gate_topk` takes the activations `x` [T, hidden]."""
    return x.shape[0] <= DECODE_MAX_TOKENS and x.shape[1] <= DECODE_MAX_HIDDEN


@triton.jit
def _decode_gate_kernel(
    x_ptr,  # [T, H] model dtype
    w_ptr,  # [E, H] fp32
    bias_ptr,  # [E] fp32
    logits_ptr,  # [T, E] fp32 scratch
    arrivals_ptr,  # [>= T] int32, zero between launches: the programs done, per token
    weights_ptr,  # [T, K] fp32 out
    ids_ptr,  # [T, K] int64 out
    num_experts,
    hidden,
    stride_x,
    stride_w,
    scale,
    K: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NORMALIZE: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK_H: tl.constexpr,
    BLOCK_E: tl.constexpr,
    PDL: tl.constexpr,
):
    t = tl.program_id(0).to(tl.int64)
    rows = tl.program_id(1) * ROWS + tl.arange(0, ROWS)
    cols = tl.arange(0, BLOCK_H)
    rmask, hmask = rows < num_experts, cols < hidden
    w = tl.load(
        w_ptr + rows[:, None] * stride_w + cols[None, :],
        mask=rmask[:, None] & hmask[None, :],
        other=0.0,
    )  # the gate is constant: its rows stream in while the previous kernel ends
    wait_prior(PDL)
    x = tl.load(x_ptr + t * stride_x + cols, mask=hmask, other=0.0).to(tl.float32)
    tl.store(logits_ptr + t * num_experts + rows, tl.sum(w * x[None, :], axis=1), mask=rmask)
    if arrive(arrivals_ptr + t, tl.num_programs(1)):
        offs_e = tl.arange(0, BLOCK_E)
        emask = offs_e < num_experts
        row = logits_ptr + t * num_experts + offs_e
        logits = tl.load(row, mask=emask, other=0.0, cache_modifier=".cg")  # from L2
        bias = tl.load(bias_ptr + offs_e, mask=emask, other=0.0)
        _store_topk(
            logits, bias, emask, offs_e, weights_ptr, ids_ptr, t, scale, K, BLOCK_K, NORMALIZE
        )
        reset(arrivals_ptr + t)


def decode_gate_topk(
    x: torch.Tensor,  # [T, H], T <= DECODE_MAX_TOKENS
    weight: torch.Tensor,  # [E, H] fp32
    correction_bias: torch.Tensor,  # [E] fp32
    top_k: int,
    norm_topk_prob: bool,
    routed_scaling_factor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`router_logits` and `topk_from_logits` in one launch for a few tokens: (weights [T, k]
    fp32, ids [T, k] int64), the logits in fp32 FMA."""
    T, H = x.shape
    E = weight.shape[0]
    assert T <= DECODE_MAX_TOKENS and H <= DECODE_MAX_HIDDEN
    assert x.stride(-1) == 1 and weight.stride(-1) == 1
    assert weight.dtype == correction_bias.dtype == torch.float32
    weights = torch.empty((T, top_k), dtype=torch.float32, device=x.device)
    ids = torch.empty((T, top_k), dtype=torch.int64, device=x.device)
    if T == 0:
        return weights, ids
    block_h = triton.next_power_of_2(H)
    rows = max(1, min(4, DECODE_MAX_HIDDEN // block_h))  # 2 at H=2688: 64 programs of 21 KB
    logits = torch.empty((T, E), dtype=torch.float32, device=x.device)
    counts = arrivals.counts(x.device, "gate", DECODE_MAX_TOKENS)
    _decode_gate_kernel[(T, triton.cdiv(E, rows))](
        x, weight, correction_bias, logits, counts, weights, ids, E, H,
        x.stride(0), weight.stride(0), routed_scaling_factor, K=top_k,
        BLOCK_K=triton.next_power_of_2(top_k), NORMALIZE=norm_topk_prob, ROWS=rows,
        BLOCK_H=block_h, BLOCK_E=triton.next_power_of_2(E), num_warps=4, **launch_args(x),
    )  # fmt: skip
    return weights, ids
