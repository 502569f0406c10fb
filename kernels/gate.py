"""Triton top-k of the MoE gate for ungrouped routing (n_group == 1, as Nemotron 3 Nano): from the
fp32 router logits, sigmoid, top-k chosen with the score-correction bias, weights taken without
it, normalised and scaled; oracle: kernels/ref/moe.py `gate_topk` (the logits stay one cuBLAS
matmul in fp32).

One program per token holds its E scores in registers and runs k rounds of argmax, replacing the
reference's sigmoid, add, topk, gather, sum, div and scale kernels with one.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _topk_kernel(
    logits_ptr,  # [T, E] fp32
    bias_ptr,  # [E] fp32
    weights_ptr,  # [T, K] fp32 out
    ids_ptr,  # [T, K] int64 out
    num_experts,
    stride_t,
    scale,
    K: tl.constexpr,
    BLOCK_K: tl.constexpr,
    NORMALIZE: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    t = tl.program_id(0).to(tl.int64)
    offs_e = tl.arange(0, BLOCK_E)
    emask = offs_e < num_experts
    logits = tl.load(logits_ptr + t * stride_t + offs_e, mask=emask, other=0.0)
    scores = tl.sigmoid(logits)
    bias = tl.load(bias_ptr + offs_e, mask=emask, other=0.0)
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


def topk_from_logits(
    logits: torch.Tensor,  # [T, E] fp32
    correction_bias: torch.Tensor,  # [E] fp32
    top_k: int,
    norm_topk_prob: bool,
    routed_scaling_factor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights [T, k] fp32, ids [T, k] int64)."""
    T, E = logits.shape
    assert logits.dtype == torch.float32 and logits.stride(-1) == 1
    weights = torch.empty((T, top_k), dtype=torch.float32, device=logits.device)
    ids = torch.empty((T, top_k), dtype=torch.int64, device=logits.device)
    if T == 0:
        return weights, ids
    _topk_kernel[(T,)](
        logits,
        correction_bias,
        weights,
        ids,
        E,
        logits.stride(0),
        routed_scaling_factor,
        K=top_k,
        BLOCK_K=triton.next_power_of_2(top_k),
        NORMALIZE=norm_topk_prob,
        BLOCK_E=triton.next_power_of_2(E),
        num_warps=1 if E <= 256 else 4,
    )
    return weights, ids
