"""GQA attention without positional encoding (NoPE), over the paged KV cache.

Tensor parallel: each rank holds num_heads/tp query heads and the KV heads they read; when tp >
num_key_value_heads, consecutive ranks hold a replica of the same KV head.
"""

from __future__ import annotations

import torch
from torch import nn

from hybridserve import kernels
from hybridserve.workers.distributed import ParallelContext, head_range
from hybridserve.workers.layers.linear import ColumnParallelLinear, RowParallelLinear
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.config import ATTENTION, ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch


def attention_heads(c: ModelConfig, p: ParallelContext) -> tuple[tuple[int, int], tuple[int, int]]:
    """This rank's ([q_start, q_end), [kv_start, kv_end)) heads."""
    q = head_range(c.num_attention_heads, p.tp_rank, p.tp_size, "num_attention_heads", False)
    kv = head_range(c.num_key_value_heads, p.tp_rank, p.tp_size, "num_key_value_heads", True)
    return q, kv


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer_id: int, parallel: ParallelContext) -> None:
        super().__init__()
        c, d = config, config.head_dim
        self.cache_index = c.layers_of(ATTENTION).index(layer_id)
        (q0, q1), (k0, k1) = attention_heads(c, parallel)
        self.num_heads, self.num_kv_heads, self.head_dim = q1 - q0, k1 - k0, d
        self.scale = d**-0.5
        bias, hidden = c.attention_bias, c.hidden_size
        q_rows, kv_rows = ((q0 * d, q1 * d),), ((k0 * d, k1 * d),)
        self.q_proj = ColumnParallelLinear(hidden, c.num_attention_heads * d, q_rows, bias)
        self.k_proj = ColumnParallelLinear(hidden, c.num_key_value_heads * d, kv_rows, bias)
        self.v_proj = ColumnParallelLinear(hidden, c.num_key_value_heads * d, kv_rows, bias)
        self.o_proj = RowParallelLinear(c.num_attention_heads * d, hidden, q_rows, bias, parallel)

    def forward(
        self, x: torch.Tensor, batch: ForwardBatch, caches: HybridCacheBuffers
    ) -> torch.Tensor:
        T = x.shape[0]
        k_cache, v_cache = caches.kv[self.cache_index]  # [slots, kv_heads, head_dim] each
        loc = batch.out_cache_loc
        if T == 1 and self.q_proj.bias is None and k_cache.dtype == x.dtype:  # one launch
            weights = (self.q_proj.weight, self.k_proj.weight, self.v_proj.weight)
            q = kernels.qkv_to_cache(x, *weights, k_cache, v_cache, loc)
        else:
            q = self.q_proj(x)
            k_cache[loc] = self.k_proj(x).view(T, self.num_kv_heads, self.head_dim)
            v_cache[loc] = self.v_proj(x).view(T, self.num_kv_heads, self.head_dim)
        q = q.view(T, self.num_heads, self.head_dim)
        nd, parts = batch.num_decode, []
        if nd:  # one query a sequence
            kv_indptr = batch.decode_kv_indptr()
            parts.append(
                kernels.paged_decode_attention(
                    q[:nd], k_cache, v_cache, batch.kv_indices, kv_indptr, self.scale
                )
            )
        if nd < batch.num_seqs:  # decode rows hold one token each: the rest start at row nd
            parts.append(
                kernels.attention_varlen(
                    q[nd:],
                    k_cache,
                    v_cache,
                    batch.prefill_cu_q,
                    batch.kv_indices,
                    batch.kv_indptr[nd:],
                    self.scale,
                )
            )
        o = parts[0] if len(parts) == 1 else torch.cat(parts)
        return self.o_proj(o.reshape(T, self.num_heads * self.head_dim))
