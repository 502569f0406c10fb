"""GQA attention without positional encoding (NoPE), over the paged KV cache."""

from __future__ import annotations

import torch
from torch import nn

from hybridserve.kernels import ref
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.config import ATTENTION, ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer_id: int) -> None:
        super().__init__()
        c = config
        self.cache_index = c.layers_of(ATTENTION).index(layer_id)
        self.num_heads, self.num_kv_heads, self.head_dim = (
            c.num_attention_heads,
            c.num_key_value_heads,
            c.head_dim,
        )
        self.scale = c.head_dim**-0.5
        bias = c.attention_bias
        self.q_proj = nn.Linear(c.hidden_size, self.num_heads * c.head_dim, bias=bias)
        self.k_proj = nn.Linear(c.hidden_size, self.num_kv_heads * c.head_dim, bias=bias)
        self.v_proj = nn.Linear(c.hidden_size, self.num_kv_heads * c.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.num_heads * c.head_dim, c.hidden_size, bias=bias)

    def forward(
        self, x: torch.Tensor, batch: ForwardBatch, caches: HybridCacheBuffers
    ) -> torch.Tensor:
        T = x.shape[0]
        q = self.q_proj(x).view(T, self.num_heads, self.head_dim)
        k_cache, v_cache = caches.kv[self.cache_index]  # [slots, kv_heads, head_dim] each
        k_cache[batch.out_cache_loc] = self.k_proj(x).view(T, self.num_kv_heads, self.head_dim)
        v_cache[batch.out_cache_loc] = self.v_proj(x).view(T, self.num_kv_heads, self.head_dim)
        o = ref.attention_varlen(
            q, k_cache, v_cache, batch.cu_q, batch.kv_indices, batch.kv_indptr, self.scale
        )
        return self.o_proj(o.reshape(T, self.num_heads * self.head_dim))
