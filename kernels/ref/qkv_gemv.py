"""The attention's Q, K, V projections with K and V stored into the cache (reference for
kernels/qkv_gemv.py)."""

from __future__ import annotations

import torch

from hybridserve.kernels.ref.linear import linear


def qkv_to_cache(
    x: torch.Tensor,  # [T, K]
    wq: torch.Tensor,  # [NQ, K]
    wk: torch.Tensor,  # [NKV, K]
    wv: torch.Tensor,  # [NKV, K]
    k_cache: torch.Tensor,  # [num_slots, kv_heads, head_dim]; rows `loc` written
    v_cache: torch.Tensor,  # [num_slots, kv_heads, head_dim]; rows `loc` written
    loc: torch.Tensor,  # [T] int
) -> torch.Tensor:
    """Returns q = `x @ wq.T` [T, NQ]; stores `x @ wk.T` and `x @ wv.T` at the caches' rows
    `loc`."""
    rows = (x.shape[0], *k_cache.shape[1:])
    k_cache[loc] = linear(x, wk).view(rows)
    v_cache[loc] = linear(x, wv).view(rows)
    return linear(x, wq)
