"""What one model forward consumes: a flat varlen batch plus where its caches live."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StateSnapshot:
    """Save sequence `seq`'s Mamba state after `offset` tokens of this chunk into `slot`."""

    seq: int
    offset: int
    slot: int


@dataclass
class ForwardBatch:
    """B sequences laid end to end (T tokens, no padding).

    Sequence i contributes tokens `input_ids[cu_q[i]:cu_q[i+1]]`, the positions
    `prefix_lens[i] ..` of its context. Its attention context (cached prefix + these tokens) lives
    in KV slots `kv_indices[kv_indptr[i]:kv_indptr[i+1]]`, whose tail is `out_cache_loc` of these
    tokens (`kv_indptr_device`, set for decode batches, holds the same offsets on the device for
    the paged decode kernel). Its Mamba state lives in `state_slots[i]`: read as the initial
    state when `prefix_lens[i] > 0` (the engine copied a cached snapshot there), and overwritten
    with the state after the chunk.
    """

    input_ids: torch.Tensor  # [T] int64
    cu_q: list[int]  # B+1
    prefix_lens: list[int]  # B
    out_cache_loc: torch.Tensor  # [T] int64 KV slots of the new tokens
    kv_indices: torch.Tensor  # [sum(prefix_lens) + T] int64
    kv_indptr: list[int]  # B+1
    state_slots: torch.Tensor  # [B] int64
    snapshots: list[StateSnapshot]
    logits_indices: torch.Tensor | None = None  # [n] rows of T to compute logits for; None = all
    kv_indptr_device: torch.Tensor | None = None  # [B+1] int32 copy of kv_indptr; decode only

    @property
    def num_seqs(self) -> int:
        return len(self.prefix_lens)

    @property
    def q_lens(self) -> list[int]:
        return [b - a for a, b in zip(self.cu_q, self.cu_q[1:])]

    @property
    def is_decode(self) -> bool:
        """Every sequence adds exactly one token to an existing context, saving no snapshot."""
        return (
            all(n == 1 for n in self.q_lens)
            and all(p > 0 for p in self.prefix_lens)
            and not self.snapshots
        )
