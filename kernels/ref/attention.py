"""Causal GQA attention over a paged (token-slot) KV cache, varlen batch (reference)."""

from __future__ import annotations

import torch


def attention_varlen(
    q: torch.Tensor,  # [T, Hq, D]
    k_cache: torch.Tensor,  # [num_slots, Hkv, D]
    v_cache: torch.Tensor,  # [num_slots, Hkv, D]
    cu_q: list[int],  # B+1 offsets of each sequence's queries in T
    kv_indices: torch.Tensor,  # [sum kv_len] token slots of each sequence's whole context
    kv_indptr: list[int],  # B+1 offsets into kv_indices
    scale: float,
) -> torch.Tensor:
    """Queries are the last `q_len` positions of their sequence's context; softmax in fp32."""
    out = torch.empty_like(q)
    rep = q.shape[1] // k_cache.shape[1]
    for i in range(len(cu_q) - 1):
        qs, qe = cu_q[i], cu_q[i + 1]
        if qs == qe:
            continue
        slots = kv_indices[kv_indptr[i] : kv_indptr[i + 1]]
        k = k_cache[slots].repeat_interleave(rep, dim=1)  # [Lk, Hq, D]
        v = v_cache[slots].repeat_interleave(rep, dim=1)
        lq, lk = qe - qs, slots.numel()
        scores = torch.einsum("qhd,khd->hqk", q[qs:qe], k).float() * scale
        qpos = torch.arange(lk - lq, lk, device=q.device)[:, None]
        mask = torch.arange(lk, device=q.device)[None, :] > qpos  # [lq, lk]
        probs = scores.masked_fill(mask, float("-inf")).softmax(-1).to(q.dtype)
        out[qs:qe] = torch.einsum("hqk,khd->qhd", probs, v)
    return out
