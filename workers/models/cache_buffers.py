"""The cache tensors a model reads and writes: attention KV slots and Mamba state slots.

The pools decide which rows they hand out; by convention they keep row 0 (KV: page 0) as a scratch
row for padding writes, so a buffer has one page / one state row more than its pool serves.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hybridserve.workers.models.config import ATTENTION, MAMBA, ModelConfig


@dataclass(frozen=True)
class CacheShapes:
    """Per-rank cache geometry (after tensor-parallel sharding of heads)."""

    num_attn_layers: int
    kv_heads: int
    head_dim: int
    num_mamba_layers: int
    conv_dim: int
    conv_width: int  # K-1 columns of history
    mamba_heads: int
    mamba_head_dim: int
    state_size: int

    @classmethod
    def from_config(
        cls,
        c: ModelConfig,
        kv_heads: int | None = None,
        conv_dim: int | None = None,
        mamba_heads: int | None = None,
    ) -> CacheShapes:
        return cls(
            num_attn_layers=len(c.layers_of(ATTENTION)),
            kv_heads=kv_heads or c.num_key_value_heads,
            head_dim=c.head_dim,
            num_mamba_layers=len(c.layers_of(MAMBA)),
            conv_dim=conv_dim or c.mamba_conv_dim,
            conv_width=c.conv_kernel - 1,
            mamba_heads=mamba_heads or c.mamba_num_heads,
            mamba_head_dim=c.mamba_head_dim,
            state_size=c.ssm_state_size,
        )

    def kv_bytes_per_slot(self, dtype: torch.dtype) -> int:
        return self.num_attn_layers * 2 * self.kv_heads * self.head_dim * _itemsize(dtype)

    def state_bytes_per_slot(self, dtype: torch.dtype, ssm_dtype: torch.dtype) -> int:
        conv = self.conv_dim * self.conv_width * _itemsize(dtype)
        ssm = self.mamba_heads * self.mamba_head_dim * self.state_size * _itemsize(ssm_dtype)
        return self.num_mamba_layers * (conv + ssm)


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


class HybridCacheBuffers:
    """KV: [attn_layers, 2, kv_rows, kv_heads, head_dim]; conv: [mamba_layers, state_rows, conv_dim,
    K-1]; ssm: [mamba_layers, state_rows, heads, head_dim, state] (fp32 by default)."""

    def __init__(
        self,
        shapes: CacheShapes,
        kv_rows: int,
        state_rows: int,
        dtype: torch.dtype,
        ssm_dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        s = shapes
        self.shapes = s
        self.kv = torch.zeros(
            s.num_attn_layers, 2, kv_rows, s.kv_heads, s.head_dim, dtype=dtype, device=device
        )
        self.conv = torch.zeros(
            s.num_mamba_layers, state_rows, s.conv_dim, s.conv_width, dtype=dtype, device=device
        )
        self.ssm = torch.zeros(
            s.num_mamba_layers,
            state_rows,
            s.mamba_heads,
            s.mamba_head_dim,
            s.state_size,
            dtype=ssm_dtype,
            device=device,
        )

    def copy_state(self, src: torch.Tensor | int, dst: torch.Tensor | int) -> None:
        """Copy Mamba state slot(s) `src` to `dst` in every Mamba layer (copy-on-write)."""
        self.conv[:, dst] = self.conv[:, src]
        self.ssm[:, dst] = self.ssm[:, src]

    def copy_kv(self, src: list[int], dst: list[int]) -> None:
        """Copy KV token slots `src` to `dst` in every attention layer."""
        self.kv[:, :, dst] = self.kv[:, :, src]
