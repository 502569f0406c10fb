"""Prefill (and mixed) GQA attention over a cached prefix through torch SDPA, which runs
FlashAttention on CUDA: one call a sequence, its queries the last positions of its context
(lower-right causal). Oracle: kernels/ref/attention.py `attention_varlen`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.attention.bias import causal_lower_right


def attention_varlen(
    q: torch.Tensor,  # [T, Hq, D]
    k_cache: torch.Tensor,  # [num_slots, Hkv, D]
    v_cache: torch.Tensor,  # [num_slots, Hkv, D]
    cu_q: list[int],  # B+1
    kv_indices: torch.Tensor,  # [sum kv_len]
    kv_indptr: list[int],  # B+1
    scale: float,
) -> torch.Tensor:
    out = torch.empty_like(q)
    for i in range(len(cu_q) - 1):
        qs, qe = cu_q[i], cu_q[i + 1]
        if qs == qe:
            continue
        slots = kv_indices[kv_indptr[i] : kv_indptr[i + 1]]
        lq, lk = qe - qs, slots.numel()
        k = k_cache[slots].transpose(0, 1)[None]  # [1, Hkv, Lk, D]
        v = v_cache[slots].transpose(0, 1)[None]
        mask = None if lq == lk else causal_lower_right(lq, lk)
        o = F.scaled_dot_product_attention(
            q[qs:qe].transpose(0, 1)[None], k, v, attn_mask=mask, is_causal=lq == lk,
            scale=scale, enable_gqa=True,
        )  # fmt: skip
        out[qs:qe] = o[0].transpose(0, 1)
    return out
